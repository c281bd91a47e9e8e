package io.fuseguard.api;

import java.time.Duration;
import java.util.Optional;

/**
 * Who asked for the request being handled, and until when the framework waits for the handler. Available to
 * a handler through {@link #current()} on the thread that runs it.
 *
 * @param operation   the operation
 * @param path        the path it is about (the first path for rename/link/symlink)
 * @param pid         the calling thread's id in the daemon's pid namespace (0 when the caller is not visible there)
 * @param uid         the caller's user id
 * @param gid         the caller's group id
 * @param deadlineNanos {@link System#nanoTime()} at which the request is answered with an error if still running
 */
public record RequestContext(Operation operation, String path, int pid, long uid, long gid, long deadlineNanos) {

    /** The request handled by the calling thread, if it is running a handler. */
    public static Optional<RequestContext> current() {
        io.fuseguard.internal.ops.OpContext c = io.fuseguard.internal.ops.OpContext.current();
        return c != null && c.active ? Optional.of(c.toRequestContext()) : Optional.empty();
    }

    /** Time left before the deadline (negative once it has passed). */
    public Duration remaining() {
        return Duration.ofNanos(deadlineNanos - System.nanoTime());
    }

}
