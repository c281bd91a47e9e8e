package io.fuseguard.config;

/**
 * How the framework deals with FUSE FLUSH, the request every {@code close()} of a descriptor sends and that
 * the closing task (even an exiting, killed one) waits for without being able to give up.
 */
public enum FlushPolicy {
    /**
     * Default. FLUSH is answered ENOSYS, which makes the kernel set the connection's {@code no_flush} and never
     * send FLUSH again; the framework triggers that itself before {@code mount()} returns. No {@code close()}
     * and no exiting task ever waits on the daemon. {@code FuseFileSystem.flush} is never called; use
     * {@code release} (not waited on) for after-close work and {@code fsync} as the durability point.
     */
    NO_FLUSH,
    /**
     * FLUSH is passed to {@code FuseFileSystem.flush}, but answered after at most the FLUSH deadline (with
     * the configured timeout errno); the handler goes on in the background, and its final outcome is reported
     * at the next fsync/release of that file and to the {@link io.fuseguard.guard.StallListener}s.
     */
    BOUNDED
}
