package io.fuseguard.internal.mount;

import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.sys.Syscalls;

/**
 * A mounted FUSE connection's {@code /dev/fuse} descriptor (close-on-exec), how it was mounted, and, for
 * {@code auto_unmount}, the socket that keeps fusermount waiting: fusermount unmounts once its other end closes,
 * which the kernel does when this process dies however it dies.
 */
public final class MountedDevice {
    private static final Log LOG = Log.of(MountedDevice.class);

    private final int fd;
    private final String route;
    private final int helperSocket;
    private final int helperPid;
    private boolean released;

    MountedDevice(int fd, String route, int helperSocket, int helperPid) {
        this.fd = fd;
        this.route = route;
        this.helperSocket = helperSocket;
        this.helperPid = helperPid;
    }

    /** A /dev/fuse descriptor received from a supervisor that mounted (and keeps) the connection. */
    public static MountedDevice fromSupervisor(int fd) {
        return new MountedDevice(fd, "a supervisor", -1, -1);
    }

    /** The connection's {@code /dev/fuse} descriptor; the session owns and closes it. */
    public int fd() {
        return fd;
    }

    /** How the mount was made, for log lines: {@code new mount API}, {@code mount(2)} or the helper's path. */
    public String route() {
        return route;
    }

    /** Whether a fusermount stays behind to unmount when this process dies ({@code auto_unmount}). */
    public boolean autoUnmount() {
        return helperSocket >= 0;
    }

    /** The pid of the fusermount that waits to unmount, or -1. */
    public int helperPid() {
        return helperPid;
    }

    /**
     * Lets the waiting fusermount go, after the mount was unmounted: it finds the mount gone and exits; waits up
     * to two seconds to reap it. Idempotent; nothing to do without {@code auto_unmount}.
     */
    public synchronized void release() {
        if (released || helperSocket < 0) {
            released = true;
            return;
        }
        released = true;
        Syscalls.close(helperSocket);
        if (Fusermount.reap(helperPid, 2000) == null) {
            LOG.warn("fusermount (pid {}) was still running 2 s after the mount was released", helperPid);
        }
    }
}
