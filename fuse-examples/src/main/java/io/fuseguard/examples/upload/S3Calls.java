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
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs the {@link S3Backend}'s SDK requests on threads of their own while the caller waits, and turns the SDK's
 * exceptions into the {@link IOException}s the {@link Backend} contract has. A blocking socket read ignores
 * interrupts: running it elsewhere lets an interrupted caller (an fsync past its deadline, the filesystem
 * closing) return at once; the request's thread is interrupted too and ends at the latest with the socket
 * timeout.
 */
final class S3Calls implements AutoCloseable {
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
     * Runs {@code request} and waits for its result.
     *
     * @param what names the request in exception messages
     * @throws NoSuchFileException     for a missing key (HTTP 404) or bucket
     * @throws InterruptedIOException  when the caller was interrupted (the request is cancelled)
     * @throws IOException             for any other failure, with the HTTP status and S3 error code
     */
    <T> T call(String what, Callable<T> request) throws IOException {
        Future<T> f;
        try {
            f = threads.submit(request);
        } catch (RejectedExecutionException e) {
            throw new IOException(what + ": backend closed");
        }
        try {
            return f.get();
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
