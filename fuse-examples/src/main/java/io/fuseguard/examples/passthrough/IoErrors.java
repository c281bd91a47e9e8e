package io.fuseguard.examples.passthrough;

import io.fuseguard.api.ErrnoException;
import jnr.constants.platform.Errno;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystemLoopException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.NotLinkException;
import java.util.HashMap;
import java.util.Map;

/**
 * Maps the JDK's {@link IOException}s back to the errno the host filesystem reported, so a client sees what
 * it would have seen on the host (EISDIR, ENOTEMPTY, EXDEV, ...) instead of a generic EIO.
 *
 * <p>The JDK turns a few errnos into dedicated exception types and all others into a
 * {@link FileSystemException} whose reason is {@code strerror(errno)}; the reason is matched against the
 * errno descriptions of jnr-constants (generated from the same C library).
 */
public final class IoErrors {
    private static final Map<String, Errno> BY_DESCRIPTION = new HashMap<>();

    static {
        for (Errno e : Errno.values()) {
            if (e.defined() && e.description() != null) {
                BY_DESCRIPTION.putIfAbsent(e.description(), e);
            }
        }
        // glibc wording the generated table may spell differently
        BY_DESCRIPTION.put("Operation not supported", Errno.ENOTSUP);
        BY_DESCRIPTION.put("No data available", Errno.ENODATA);
    }

    private IoErrors() {
    }

    /** The errno answer for an I/O failure. */
    public static ErrnoException toErrno(IOException e) {
        return new ErrnoException(errnoOf(e), e.getMessage());
    }

    /** The errno behind an I/O failure, EIO when it cannot be told. */
    public static Errno errnoOf(IOException e) {
        if (e instanceof NoSuchFileException) {
            return Errno.ENOENT;
        }
        if (e instanceof FileAlreadyExistsException) {
            return Errno.EEXIST;
        }
        if (e instanceof DirectoryNotEmptyException) {
            return Errno.ENOTEMPTY;
        }
        if (e instanceof AccessDeniedException) {
            return Errno.EACCES;
        }
        if (e instanceof NotDirectoryException) {
            return Errno.ENOTDIR;
        }
        if (e instanceof NotLinkException) {
            return Errno.EINVAL;
        }
        if (e instanceof FileSystemLoopException) {
            return Errno.ELOOP;
        }
        if (e instanceof ClosedByInterruptException || e instanceof InterruptedIOException) {
            return Errno.EINTR;
        }
        if (e instanceof FileSystemException fse && fse.getReason() != null) {
            Errno errno = lookup(fse.getReason());
            if (errno != null) {
                return errno;
            }
        }
        // e.g. "Too many levels of symbolic links (NOFOLLOW_LINKS specified)" from an O_NOFOLLOW open
        String msg = e.getMessage();
        if (msg != null) {
            Errno errno = lookup(msg);
            if (errno != null) {
                return errno;
            }
        }
        return Errno.EIO;
    }

    private static Errno lookup(String text) {
        Errno exact = BY_DESCRIPTION.get(text);
        if (exact != null) {
            return exact;
        }
        for (Map.Entry<String, Errno> en : BY_DESCRIPTION.entrySet()) {
            if (en.getKey().length() > 8 && text.startsWith(en.getKey())) {
                return en.getValue();
            }
        }
        return null;
    }
}
