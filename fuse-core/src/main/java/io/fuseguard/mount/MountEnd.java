package io.fuseguard.mount;

/**
 * How a mount's FUSE connection ended: what a service manager should make of it. A daemon asked to stop (its own
 * {@code close()}, SIGTERM) ended it itself; otherwise it was ended from outside, either unmounted ({@code umount},
 * {@code fusermount -u}: the mount is gone, as its operator wanted) or aborted ({@code fuseguard abort}, fusectl's
 * {@code abort}, the node guard: the mount point is left dead, {@code ENOTCONN}, and should be mounted again).
 */
public enum MountEnd {
    /** Ended by this process: {@code close()}, a shutdown hook, SIGTERM. */
    CLOSED,
    /** Unmounted from outside: the mount point was no longer in the mount table when the connection ended. */
    UNMOUNTED,
    /** Aborted from outside: the connection ended while its mount point was still mounted. */
    ABORTED;

    /** Whether the connection was ended from outside the process. */
    public boolean fromOutside() {
        return this != CLOSED;
    }
}
