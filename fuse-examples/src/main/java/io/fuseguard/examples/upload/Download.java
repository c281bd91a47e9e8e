package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.RequestContext;
import io.fuseguard.examples.host.Host;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One file being fetched from the backend into the cache's {@code tmp} directory, in the background, by
 * {@link UnionView}. Opens of the file share it: each gets a descriptor of the temp file at once, and a read
 * waits only until the bytes it asks for have arrived. When the whole file is there (and flushed to disk) it is
 * renamed into the cache; the descriptors then refer to the cache file, which is the same inode. A half-written
 * temp file is never taken for a cache file: a crash leaves it in {@code tmp}, which the next start empties.
 *
 * <p>Waits are bounded by the calling request's deadline and end on an interrupt (the mount interrupts a handler
 * whose request was answered for it); the download itself goes on for the next request.
 */
final class Download {
    /** The path in the filesystem (as it was when the download started). */
    final String path;
    /** The temp file the bytes go to. */
    final Path file;
    /** The backend's size when the download started. */
    final long size;
    /** The backend's modification time, given to the cache file. */
    final Instant modified;

    /**
     * Set under the filesystem's lock when the path was unlinked or replaced: do not install. The fetch stops as
     * soon as no handle is open on it (read by the fetcher without the lock).
     */
    volatile boolean cancelled;
    /** Handles opened on the temp file and not released yet. */
    final AtomicInteger openers = new AtomicInteger();
    /** The backend stream being read, closed by {@link #abort} (a socket read ignores interrupts). */
    private volatile InputStream stream;
    private volatile boolean aborted;

    private long arrived;
    private boolean finished;
    private IOException failure;
    /** Ended, but a cache file appeared first: the temp inode is an orphan, and writes to it would be lost. */
    private boolean stale;

    Download(String path, Path file, long size, Instant modified) {
        this.path = path;
        this.file = file;
        this.size = size;
        this.modified = modified;
    }

    /** A descriptor of the temp file, which becomes the cache file's; the caller closes it. */
    int open(boolean writable) {
        return Host.check(Host.LIBC.openat(Host.AT_FDCWD, file.toString(),
                (writable ? Host.O_RDWR : Host.O_RDONLY) | Host.O_NOFOLLOW | Host.O_CLOEXEC, 0), "open " + file);
    }

    /** Whether the fetcher should stop: aborted (the filesystem closes), or cancelled and no handle left. */
    boolean shouldStop() {
        return aborted || (cancelled && openers.get() == 0);
    }

    /** Registers the backend stream, closed at once when the download was aborted meanwhile. */
    void streaming(InputStream in) throws IOException {
        stream = in;
        if (aborted) {
            in.close();
        }
    }

    /** Stops the fetch: closes its stream (the fetcher's read fails at once). */
    void abort() {
        aborted = true;
        InputStream in = stream;
        if (in != null) {
            try {
                in.close();
            } catch (IOException | RuntimeException ignored) {
                // the fetcher ends with a failure either way
            }
        }
    }

    /** {@code n} more bytes are in the temp file. */
    synchronized void progress(long n) {
        arrived += n;
        notifyAll();
    }

    /** The download ended: installed (or dropped, for a cancelled one) when {@code error} is null. */
    synchronized void finish(IOException error) {
        finished = true;
        failure = error;
        notifyAll();
    }

    /**
     * The download ended whole but was not installed because the path got a cache file of its own meanwhile
     * (caller holds the filesystem's lock, as for the install): writes through its handles fail with ESTALE.
     */
    synchronized void finishStale() {
        stale = true;
        finish(null);
    }

    /** Whether it ended without being installed because the path got another cache file (see {@link #finishStale}). */
    synchronized boolean stale() {
        return stale;
    }

    /** Whether the download ended, well or not. */
    synchronized boolean finished() {
        return finished;
    }

    /** Whether it ended well. */
    synchronized boolean succeeded() {
        return finished && failure == null && !stale;
    }

    /**
     * Waits until the bytes before {@code end} have arrived (or all of them, for a read past the end).
     *
     * @throws ErrnoException EIO when the download failed before them or the request's deadline passed, EINTR
     *                        when the thread was interrupted
     */
    synchronized void awaitBytes(long end) {
        long need = Math.min(end, size);
        while (arrived < need && !finished) {
            waitWithinDeadline();
        }
        if (arrived < need && failure != null) {
            throw failed();
        }
    }

    /**
     * Waits until the download ended; for a change of the file, which must start from its whole content.
     *
     * @throws ErrnoException EIO when the download failed or the request's deadline passed, EINTR when
     *                        interrupted
     */
    synchronized void awaitDone() {
        while (!finished) {
            waitWithinDeadline();
        }
        if (failure != null) {
            throw failed();
        }

    }

    /**
     * Waits until the download ended or {@link System#nanoTime()} reaches {@code until}, whichever is first,
     * and within the request's deadline.
     *
     * @return whether it ended (well: a failure throws)
     * @throws ErrnoException EIO when the download failed, EINTR when interrupted
     */
    synchronized boolean awaitDoneUntil(long until) {
        while (!finished) {
            long left = until - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            Optional<RequestContext> ctx = RequestContext.current();
            long nanos = Math.min(left, ctx.map(c -> c.remaining().toNanos()).orElse(left));
            if (nanos <= 0) {
                return false;
            }
            try {
                TimeUnit.NANOSECONDS.timedWait(this, nanos);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ErrnoException(Errno.EINTR);
            }
        }
        if (failure != null) {
            throw failed();
        }
        return true;
    }

    private ErrnoException failed() {
        return new ErrnoException(Errno.EIO, "fetching " + path + " from the backend: " + failure.getMessage());
    }

    /** One wait, at most until the request's deadline (1 s off a request thread; the caller loops). */
    private void waitWithinDeadline() {
        Optional<RequestContext> ctx = RequestContext.current();
        long nanos = ctx.map(c -> c.remaining().toNanos()).orElse(TimeUnit.SECONDS.toNanos(1));
        if (nanos <= 0) {
            throw new ErrnoException(Errno.EIO, "deadline passed while fetching " + path);
        }
        try {
            TimeUnit.NANOSECONDS.timedWait(this, nanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ErrnoException(Errno.EINTR);
        }
    }
}
