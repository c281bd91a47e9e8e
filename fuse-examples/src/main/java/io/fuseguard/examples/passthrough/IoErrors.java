package io.fuseguard.examples.passthrough;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.ClosedByInterruptException;

/**
 * Turns an {@link IOException} into the errno the host filesystem reported, for code that cannot throw a
 * checked exception (lambdas under a lock). Handlers themselves may simply let an {@code IOException} out:
 * fuseguard converts it the same way ({@link Errno#of(IOException)}).
 */
public final class IoErrors {
    private IoErrors() {
    }

    /** The errno answer for an I/O failure. */
    public static ErrnoException toErrno(IOException e) {
        return new ErrnoException(errnoOf(e), e.getMessage());
    }

    /** The errno behind an I/O failure: EINTR for an interruption, EIO when it cannot be told. */
    public static Errno errnoOf(IOException e) {
        if (e instanceof ClosedByInterruptException || e instanceof InterruptedIOException) {
            return Errno.EINTR;
        }
        Errno errno = Errno.of(e);
        return errno == null ? Errno.EIO : errno;
    }
}
