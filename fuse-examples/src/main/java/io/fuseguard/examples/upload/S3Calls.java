package io.fuseguard.examples.upload;

import software.amazon.awssdk.core.exception.AbortedException;
import software.amazon.awssdk.services.s3.model.NoSuchBucketException;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.S3Exception;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.NoSuchFileException;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs the {@link S3Backend}'s SDK requests on threads of their own while the caller waits, and turns the SDK's
 * exceptions into the {@link IOException}s the {@link Backend} contract has. A blocking socket read ignores
 * interrupts: running it elsewhere lets an interrupted caller (an fsync past its deadline, the filesystem
 * closing) return at once; the request's thread is interrupted too and ends at the latest with the socket
 * timeout.
 *
 * <p>The wait is bounded too: a call not answered within its timeout (the SDK's own API call timeout, which
 * should have fired first, plus {@link #GRACE}) is abandoned: its thread is interrupted, the caller gets an
 * {@link IOException} it may retry (not an {@link InterruptedIOException}, which means "stop"). Without the
 * bound a store that accepts a connection and then stops reading holds the caller for good: a blocked socket
 * write has no timeout of its own.
 */
final class S3Calls implements AutoCloseable {
    /** Time past a call's own timeout before the caller stops waiting for the SDK to give up. */
    static final Duration GRACE = Duration.ofSeconds(1);

    private final ExecutorService threads;

    S3Calls() {
        AtomicInteger n = new AtomicInteger();
        this.threads = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "s3-backend-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Runs {@code request} and waits for its result, at most {@code timeout} plus {@link #GRACE}.
     *
     * @param what    names the request in exception messages
     * @param timeout the request's own (SDK) API call timeout
     * @throws NoSuchFileException     for a missing key (HTTP 404) or bucket
     * @throws InterruptedIOException  when the caller was interrupted (the request is cancelled)
     * @throws IOException             for any other failure, with the HTTP status and S3 error code, and when
     *                                 the request was abandoned past its timeout (it is cancelled)
     */
    <T> T call(String what, Duration timeout, Callable<T> request) throws IOException {
        Future<T> f;
        try {
            f = threads.submit(request);
        } catch (RejectedExecutionException e) {
            throw new IOException(what + ": backend closed");
        }
        try {
            return f.get(timeout.plus(GRACE).toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            // the SDK did not give up in time (a socket write blocked on a store that stopped reading):
            // interrupt the request's thread and let the caller retry later
            f.cancel(true);
            throw new IOException(what + ": no answer within " + timeout.toMillis() + " ms; call abandoned");
        } catch (InterruptedException e) {
            f.cancel(true);
            Thread.currentThread().interrupt();
            throw new InterruptedIOException(what + " interrupted");
        } catch (ExecutionException e) {
            throw ioExceptionOf(what, e.getCause());
        }
    }

    /** Runs {@code cleanup} without waiting for it (dropped once closed): an interrupted caller must not wait. */
    void background(Runnable cleanup) {
        try {
            threads.execute(cleanup);
        } catch (RejectedExecutionException e) {
            // closed: what the cleanup was for is left to the store (e.g. a lifecycle rule)
        }
    }

    /** Stops taking requests; background clean-ups queued get up to 2 s, then every thread is interrupted. */
    @Override
    public void close() {
        threads.shutdown();
        try {
            threads.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        threads.shutdownNow();
    }

    /** The SDK's exceptions as the {@link Backend} contract has them. */
    static IOException ioExceptionOf(String what, Throwable t) {
        if (t instanceof NoSuchBucketException) {
            NoSuchFileException e = new NoSuchFileException(what, null, "no such bucket");
            e.initCause(t);
            return e;
        }
        if (t instanceof NoSuchKeyException || (t instanceof S3Exception s && s.statusCode() == 404)) {
            NoSuchFileException e = new NoSuchFileException(what);
            e.initCause(t);
            return e;
        }
        if (t instanceof AbortedException) {
            InterruptedIOException e = new InterruptedIOException(what + " aborted");
            e.initCause(t);
            return e;
        }
        if (t instanceof S3Exception s) {
            String code = s.awsErrorDetails() != null ? s.awsErrorDetails().errorCode() : null;
            return new IOException(what + ": HTTP " + s.statusCode() + (code != null ? " " + code : ""), t);
        }
        if (t instanceof IOException io) {
            return io;
        }
        return new IOException(what + ": " + t.getMessage(), t);
    }
}
