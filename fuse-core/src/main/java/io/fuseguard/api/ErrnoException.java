package io.fuseguard.api;

import java.util.Objects;

/**
 * Thrown by a filesystem handler to answer the kernel with an errno, e.g.
 * {@code throw new ErrnoException(Errno.ENOENT)}.
 *
 * <p>This is the normal way to fail an operation, so it carries no stack trace (cheap to throw on hot paths
 * like a lookup of a missing file).
 */
public final class ErrnoException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final Errno errno;

    /** An error answer with the errno's standard description as message. */
    public ErrnoException(Errno errno) {
        this(errno, null);
    }

    /** An error answer with an explanatory message (only logged, never sent to the kernel). */
    public ErrnoException(Errno errno, String message) {
        super(message == null ? Objects.requireNonNull(errno, "errno").name() : errno.name() + ": " + message,
                null, false, false);
        this.errno = errno;
    }

    /** The errno answered to the kernel. */
    public Errno errno() {
        return errno;
    }

    /** The positive errno number. */
    public int code() {
        return errno.code();
    }
}
