package io.fuseguard.bridge;

import io.fuseguard.api.ErrnoException;
import io.fuseguard.guard.EventReporter;
import io.fuseguard.guard.GuardEvent;
import io.fuseguard.log.Log;
import io.fuseguard.ops.OpContext;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.NotLinkException;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static io.fuseguard.sys.Syscalls.EACCES;
import static io.fuseguard.sys.Syscalls.EEXIST;
import static io.fuseguard.sys.Syscalls.EINTR;
import static io.fuseguard.sys.Syscalls.EINVAL;
import static io.fuseguard.sys.Syscalls.EIO;
import static io.fuseguard.sys.Syscalls.ELOOP;
import static io.fuseguard.sys.Syscalls.ENOENT;
import static io.fuseguard.sys.Syscalls.ENOTDIR;
import static io.fuseguard.sys.Syscalls.ENOTEMPTY;

/**
 * Converts what a handler threw into the errno the kernel gets, at the boundary: {@link ErrnoException} as it
 * says; an interruption the framework caused as EINTR; the JDK's file-system exceptions as their errno; anything
 * else as EIO, logged once per operation and exception type and reported as {@code HANDLER_FAILED}.
 */
final class Failures {
    private static final Log LOG = Log.of(Failures.class);

    private final EventReporter events;
    private final Set<String> logged = ConcurrentHashMap.newKeySet();

    Failures(EventReporter events) {
        this.events = events;
    }

    /** The {@code -errno} for a throwable of a handler running in context {@code c}. */
    int map(OpContext c, Throwable t) {
        if (t instanceof ErrnoException e) {
            return -e.code();
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

    /** The errno of a JDK file-system exception; EIO when it has none. */
    static int ioErrno(IOException e) {
        if (e instanceof NoSuchFileException) {
            return ENOENT;
        }
        if (e instanceof FileAlreadyExistsException) {
            return EEXIST;
        }
        if (e instanceof DirectoryNotEmptyException) {
            return ENOTEMPTY;
        }
        if (e instanceof AccessDeniedException) {
            return EACCES;
        }
        if (e instanceof NotDirectoryException) {
            return ENOTDIR;
        }
        if (e instanceof NotLinkException) {
            return EINVAL;
        }
        if (e instanceof FileSystemLoopException) {
            return ELOOP;
        }
        return EIO;
    }
}
