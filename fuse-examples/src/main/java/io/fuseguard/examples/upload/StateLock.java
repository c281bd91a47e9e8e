package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.RequestContext;

import java.io.IOException;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one lock of a {@link CachedUploadFs}: it guards the upload bookkeeping, the open-file table and the
 * namespace changes that must agree with both. A condition tells waiters that an upload finished.
 *
 * <p>{@link #hold()} returns the same {@link Held} every time, so {@code try (var h = lock.hold()) {...}} costs
 * no allocation on the hot paths (write's before/after change), unlike a lambda capturing its arguments.
 */
final class StateLock {
    /** Ends a {@link #hold()}; closing it releases the lock. */
    interface Held extends AutoCloseable {
        @Override
        void close();
    }

    /** A piece of work that may fail with an I/O error, run under the lock. */
    @FunctionalInterface
    interface IoAction {
        void run() throws IOException;
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Held held = lock::unlock;

    /** Takes the lock; close the result to release it. */
    Held hold() {
        lock.lock();
        return held;
    }

    /** Runs {@code action} under the lock (for the colder paths, where a lambda reads better). */
    void run(IoAction action) throws IOException {
        try (Held h = hold()) {
            action.run();
        }
    }

    /** Wakes every waiter: an upload or delete finished, or the filesystem closed. Caller holds the lock. */
    void signalAll() {
        changed.signalAll();
    }

    /** Waits up to {@code nanos} for {@link #signalAll}; returns the time left. Caller holds the lock. */
    long awaitNanos(long nanos) throws InterruptedException {
        return changed.awaitNanos(nanos);
    }

    /**
     * Waits for {@link #signalAll}, bounded by the current request's deadline (1 s off a request thread, the
     * caller loops). Caller holds the lock.
     *
     * @throws ErrnoException EIO when the request's deadline has passed
     */
    void awaitWithinDeadline() throws InterruptedException {
        Optional<RequestContext> ctx = RequestContext.current();
        long nanos = ctx.map(c -> c.remaining().toNanos()).orElse(TimeUnit.SECONDS.toNanos(1));
        if (nanos <= 0) {
            throw new ErrnoException(Errno.EIO, "deadline passed");
        }
        changed.awaitNanos(nanos);
    }
}
