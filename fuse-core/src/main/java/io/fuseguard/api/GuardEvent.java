package io.fuseguard.api;

import java.time.Duration;
import java.util.List;

/**
 * Something the guard did instead of letting a request hang or misbehave.
 *
 * @param type        what happened
 * @param operation   the operation
 * @param path        the path of the request
 * @param callerPid   the calling thread's id (0 when not visible in the daemon's pid namespace)
 * @param elapsed     time from the request's arrival to the event
 * @param errno       the errno answered to the kernel (0 when the event answered nothing, e.g. a late result)
 * @param handlerStack the stack of the handler thread at the moment of a timeout (empty otherwise)
 * @param detail      a human-readable detail (the exception of a failed handler, a late result's outcome)
 */
public record GuardEvent(Type type, Operation operation, String path, int callerPid, Duration elapsed, int errno,
                         List<StackTraceElement> handlerStack, String detail) {

    /** Kinds of guard events. */
    public enum Type {
        /** The handler missed its deadline; the kernel got the timeout errno and the handler was interrupted. */
        TIMEOUT,
        /** The kernel marked the request interrupted (the caller got a signal); answered EINTR. */
        INTERRUPTED,
        /** Every worker was busy and the queue full; answered at once with the overload errno. */
        OVERLOADED,
        /** A handler finished after its request had been answered; its result was discarded. */
        LATE_RESULT,
        /** A request from the daemon's own process was refused (or allowed with a warning). */
        SELF_ACCESS,
        /** A handler threw an unexpected exception; answered EIO. */
        HANDLER_FAILED,
        /** The mount was closing; in-flight or new requests were answered with ENOTCONN. */
        SHUTDOWN,
        /**
         * Close-time work of a file (its deferred flush, its release) is still running past the data deadline.
         * Nothing waits on it; it goes on.
         */
        CLOSE_WORK_LATE,
        /** Close-time work of a file failed (errno in the event); also reported at the next fsync of that handle. */
        CLOSE_WORK_FAILED,
        /** The mount ended before close-time work of a file finished (logged at WARN with what was left). */
        CLOSE_WORK_UNFINISHED,
        /**
         * Handlers stuck past their deadline hold as many threads as the configured cap; no more replacement
         * threads are started until some of them return.
         */
        STUCK_THREADS_CAP
    }

    /** Copies the stack. */
    public GuardEvent {
        handlerStack = List.copyOf(handlerStack);
    }
}
