package io.fuseguard.internal.bridge;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.GuardEvent;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.OpContext;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static io.fuseguard.internal.sys.Syscalls.EINTR;
import static io.fuseguard.internal.sys.Syscalls.EIO;

/**
 * Converts what a handler threw into the errno the kernel gets, at the boundary: {@link ErrnoException} as it
 * says; an interruption the framework caused as EINTR; the JDK's file-system exceptions as their errno; anything
 * else as EIO, logged once per operation and exception type and reported as {@code HANDLER_FAILED}; an
 * {@link OutOfMemoryError} also ends the mount (a spent heap takes fuseguard's own threads next). Public for the
 * jnr-fuse adapter (module fuse-jnr), whose bridge converts at the same boundary.
 */
public final class Failures {
    private static final Log LOG = Log.of(Failures.class);

    private final EventReporter events;
    private final Set<String> logged = ConcurrentHashMap.newKeySet();

    /** Failures reported to {@code events} (null: logged only). */
    public Failures(EventReporter events) {
        this.events = events;
    }

    /** The {@code -errno} for a throwable of a handler running in context {@code c}. */
    public int map(OpContext c, Throwable t) {
        if (t instanceof ErrnoException e) {
            return -e.code();
        }
        if (t instanceof OutOfMemoryError && events != null) {
            // The heap is spent: fuseguard's own threads are next. The mount ends now, visibly, rather than
            // answering EIO until the watchdog dies (see FatalErrors).
            events.fatal(t, "a handler of " + (c == null || c.operation == null ? "?" : c.operation));
            return -EIO;
        }
        if (isInterruption(t)) {
            if (t instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return -EINTR;
        }
        Throwable io = t instanceof UncheckedIOException u ? u.getCause() : t;
        if (io instanceof IOException e) {
            int errno = ioErrno(e);
            if (errno != EIO) {
                return -errno;
            }
        }
        String op = c == null || c.operation == null ? "?" : c.operation.name();
        String path = c == null || c.path == null ? "" : c.path;
        if (logged.size() < 1024 && logged.add(op + " " + t.getClass().getName())) {
            LOG.error("{} {} failed with an unexpected exception; answered EIO (logged once per operation and "
                    + "exception type)", op, path, t);
        }
        if (events != null) {
            events.report(GuardEvent.Type.HANDLER_FAILED, c == null ? null : c.operation, path,
                    c == null ? 0 : c.pid, System.nanoTime(), EIO, null, t.toString());
        }
        return -EIO;
    }

    static boolean isInterruption(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof InterruptedException || c instanceof ClosedByInterruptException
                    || (c instanceof InterruptedIOException && !(c instanceof java.net.SocketTimeoutException))) {
                return true;
            }
        }
        return false;
    }

    /** The errno of a JDK I/O exception; EIO when it has none. */
    static int ioErrno(IOException e) {
        Errno errno = Errno.of(e);
        return errno == null ? EIO : errno.code();
    }
}
