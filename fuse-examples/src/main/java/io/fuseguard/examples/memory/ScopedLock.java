package io.fuseguard.examples.memory;

import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A read-write lock whose two modes are taken with try-with-resources, so a lock is never left held by an
 * exception: {@code try (ScopedLock.Held h = lock.read()) { ... }}.
 *
 * <p>Why handles and not a helper that takes a lambda: MemoryFs's hot paths (read, write, getattr, lookup,
 * readdir) take locks once per request, and a capturing lambda is an allocation per call unless the JIT's
 * escape analysis happens to remove it. The two handles are made once per lock and returned by every
 * acquisition, so taking and releasing a lock allocates nothing. A handle holds no state of its own (unlock
 * acts on the calling thread's hold), so one handle serves every thread.
 *
 * <p>It extends the JDK lock rather than wrapping one because every inode has a lock: a wrapper would be one
 * more object per inode, for nothing. Reentrant like the lock it extends, and each {@link Held#close()}
 * releases exactly one acquisition of its mode.
 */
final class ScopedLock extends ReentrantReadWriteLock {
    private final Held readHeld = readLock()::unlock;
    private final Held writeHeld = writeLock()::unlock;

    /** Takes the read (shared) lock; close the handle to release it. */
    Held read() {
        readLock().lock();
        return readHeld;
    }

    /** Takes the write (exclusive) lock; close the handle to release it. */
    Held write() {
        writeLock().lock();
        return writeHeld;
    }

    /** One held acquisition of a {@link ScopedLock}; closing it releases that acquisition. */
    @FunctionalInterface
    interface Held extends AutoCloseable {
        /** Releases the lock; never throws a checked exception, so try-with-resources needs no catch. */
        @Override
        void close();
    }
}
