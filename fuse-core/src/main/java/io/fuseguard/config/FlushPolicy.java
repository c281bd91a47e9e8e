package io.fuseguard.config;

/**
 * How the framework deals with FUSE FLUSH, the request every {@code close()} of a descriptor sends and that the
 * closing task (even an exiting, killed one) waits for without being able to give up. Under the two no-flush
 * policies the kernel never sends FLUSH for the mount's files (every open is answered with
 * {@code FOPEN_NOFLUSH}, and the connection's {@code no_flush} is set before {@code mount()} returns), so no
 * {@code close()} and no exiting task ever waits on the daemon.
 */
public enum FlushPolicy {
    /**
     * Default. The kernel never waits at close, and the filesystem's own close-time work still happens: the
     * framework calls the filesystem's {@code flush} itself, once per open file handle, when the kernel releases
     * the handle (right after the last {@code close()} of it, which has already returned), and then
     * {@code release}, in that order, on a close-time thread. {@code fsync} of a handle with unflushed writes
     * runs the flush first and reports its failure, so {@code fsync} is the durability point. Close-time work
     * left when the mount ends is drained (within {@code GuardSettings#drainTimeout()}) before
     * {@code destroy}; what does not finish is logged at WARN. For a filesystem without {@code flush} this is
     * the same as {@link #NO_FLUSH}.
     */
    DEFERRED,
    /**
     * The kernel never sends FLUSH and the filesystem's {@code flush} is never called (a WARN at mount says so
     * when it has one). Use {@code release} for after-close work and {@code fsync} as the durability point.
     */
    NO_FLUSH,
    /**
     * FLUSH is passed to the filesystem's {@code flush} at every {@code close()}, but answered after at most the
     * FLUSH deadline (with the timeout errno); the handler goes on in the background, and its failure is
     * reported at the next fsync of that handle and to the listeners. A closing task still waits up to the
     * deadline, and the daemon must not hold files on its own mount (requests from its own threads are refused
     * by default under this policy).
     */
    BOUNDED
}
