package io.fuseguard.config;

/**
 * What to do with a request that comes from a thread of the daemon itself (a daemon reading or holding files on
 * its own mount).
 *
 * <p>Holding a file on one's own mount is what wedges exit in the classic deadlock: the dying daemon's last
 * thread closes the file and waits for a FLUSH answer nobody is left to give. Under the no-flush policies the
 * kernel never sends FLUSH, so that road is closed and self-access is safe to allow. One narrow window stays: a
 * request from the daemon's own thread that is <em>being served</em> at the instant the daemon is killed waits
 * for an answer no thread is left to give. fuseguard's node guard ({@code fuseguard guard}) ends such a
 * connection.
 */
public enum SelfAccessPolicy {
    /**
     * Default: allow under {@link FlushPolicy#DEFERRED} and {@link FlushPolicy#NO_FLUSH} (logged once at INFO
     * with the reason it is safe), refuse under {@link FlushPolicy#BOUNDED}, where FLUSH is still sent.
     */
    AUTO,
    /** Answer EDEADLK at once and log once per path why and what to use instead. */
    REFUSE,
    /** Serve it, and log a warning once per path. */
    ALLOW_WITH_WARNING,
    /** Serve it, and log once at INFO. */
    ALLOW
}
