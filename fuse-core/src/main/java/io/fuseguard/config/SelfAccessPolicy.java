package io.fuseguard.config;

/**
 * What to do with a request that comes from a thread of the daemon itself. Such a request is the
 * precondition of the exit-time deadlock: if the daemon dies while it is in flight (or while the daemon holds
 * a file on its own mount and FLUSH is still sent), nobody is left to answer it.
 */
public enum SelfAccessPolicy {
    /** Default: answer EDEADLK at once and log once per path why, and what to use instead. */
    REFUSE,
    /** Serve it, but log a warning once per path. For tests and tools that know what they do. */
    ALLOW_WITH_WARNING
}
