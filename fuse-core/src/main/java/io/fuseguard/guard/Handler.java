package io.fuseguard.guard;

/** The Java work of one request: returns a non-negative result or throws (ErrnoException for an errno). */
@FunctionalInterface
public interface Handler {
    /** Runs the request. */
    int handle() throws Exception;
}
