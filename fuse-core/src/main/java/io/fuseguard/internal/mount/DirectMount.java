package io.fuseguard.internal.mount;

import io.fuseguard.api.Errno;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.mount.MountException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Mounts with the kernel's own interfaces, for a process that may mount (root, or {@code CAP_SYS_ADMIN} in the
 * mount's user namespace): it opens {@code /dev/fuse} itself and hands the descriptor to the kernel as
 * {@code fd=N}. Two ways, one result in the mount table: the new mount API, whose filesystem context log gives
 * the kernel's own words for a refused option, and mount(2), which has only an errno.
 */
final class DirectMount {
    /** Returned instead of a descriptor when this process may not mount (EPERM): fusermount may. */
    static final int NOT_PERMITTED = -Syscalls.EPERM;
    /** Returned by {@link #newApi} when the kernel or a seccomp filter does not offer the new mount API. */
    static final int NO_NEW_API = -Syscalls.ENOSYS;

    private DirectMount() {
    }

    /** Opens {@code /dev/fuse} close-on-exec, or fails with the reason. */
    static int openDevice() {
        int fd = Syscalls.openReadWrite("/dev/fuse");
        if (fd < 0) {
            throw new MountException(MountException.Reason.DEVICE_UNUSABLE, "/dev/fuse cannot be opened: "
                    + describe(-fd));
        }
        return fd;
    }

    /**
     * fsopen, fsconfig, fsmount, move_mount: the descriptor of the new connection, {@link #NO_NEW_API} when
     * fsopen itself is unavailable (nothing was done), {@link #NOT_PERMITTED} when this process may not mount.
     *
     * @throws MountException when the kernel refused the mount, with its log's words
     */
    static int newApi(Path mountPoint, MountRequest request, int rootMode) {
        int fs = Syscalls.fsopen(request.blockDevice() ? "fuseblk" : "fuse");
        if (fs == -Syscalls.EPERM) {
            return NOT_PERMITTED; // or a seccomp filter that answers EPERM for what it does not know: mount(2) decides
        }
        if (fs < 0) {
            return NO_NEW_API;
        }
        int dev = -1;
        int mnt = -1;
        boolean done = false;
        try {
            dev = openDevice();
            config(fs, mountPoint, "source", request.source());
            if (request.subtype() != null) {
                config(fs, mountPoint, "subtype", request.subtype());
            }
            List<String> parameters = new ArrayList<>(request.parameters());
            parameters.addAll(request.connectionParameters(dev, rootMode, Syscalls.getuid(), Syscalls.getgid()));
            for (String p : parameters) {
                int eq = p.indexOf('=');
                config(fs, mountPoint, eq < 0 ? p : p.substring(0, eq), eq < 0 ? null : p.substring(eq + 1));
            }
            for (String flag : request.superblockFlags()) {
                config(fs, mountPoint, flag, null);
            }
            int r = Syscalls.fsconfigCreate(fs);
            if (r < 0) {
                throw refused(fs, mountPoint, "creating the filesystem", r);
            }
            mnt = Syscalls.fsmount(fs, request.mountAttributes());
            if (mnt < 0) {
                throw refused(fs, mountPoint, "fsmount", mnt);
            }
            r = Syscalls.moveMount(mnt, mountPoint.toString());
            if (r < 0) {
                throw refused(fs, mountPoint, "attaching it (move_mount)", r);
            }
            done = true;
            return dev;
        } finally {
            if (mnt >= 0) {
                Syscalls.close(mnt); // attached: the mount stays; not attached: the detached mount goes away
            }
            Syscalls.close(fs);
            if (!done && dev >= 0) {
                Syscalls.close(dev);
            }
        }
    }

    private static void config(int fs, Path mountPoint, String key, String value) {
        int r = Syscalls.fsconfigSet(fs, key, value);
        if (r < 0) {
            throw refused(fs, mountPoint, "option '" + (value == null ? key : key + "=" + value) + "'", r);
        }
    }

    private static MountException refused(int fs, Path mountPoint, String what, int errno) {
        List<String> log = Syscalls.fsContextLog(fs);
        List<String> words = new ArrayList<>();
        for (String l : log) {
            words.add(l.length() > 2 && l.charAt(1) == ' ' ? l.substring(2) : l);
        }
        String why = words.isEmpty() ? describe(-errno) : String.join("; ", words) + " (" + describe(-errno) + ")";
        boolean option = what.startsWith("option") || errno == -Syscalls.EINVAL;
        return new MountException(option ? MountException.Reason.OPTION_REJECTED : MountException.Reason.MOUNT_FAILED,
                "the kernel refused to mount " + mountPoint + " (" + what + "): " + why);
    }

    /**
     * mount(2): the descriptor of the new connection, or {@link #NOT_PERMITTED} when this process may not mount.
     *
     * @throws MountException when the kernel refused the mount
     */
    static int mountSyscall(Path mountPoint, MountRequest request, int rootMode) {
        int dev = openDevice();
        String data = request.data(dev, rootMode, Syscalls.getuid(), Syscalls.getgid());
        if (data.length() > 4095) {
            Syscalls.close(dev);
            // the kernel would cut it at a page without a word, possibly inside user_id or group_id
            throw new MountException(MountException.Reason.OPTION_REJECTED, "mount options of " + mountPoint
                    + " are too long (" + data.length() + " characters; the kernel reads at most 4095)");
        }
        int r = Syscalls.mount(request.source(), mountPoint.toString(), request.type(), request.flags(), data);
        if (r == 0) {
            return dev;
        }
        Syscalls.close(dev);
        if (r == NOT_PERMITTED) {
            return NOT_PERMITTED;
        }
        throw new MountException(r == -Syscalls.EINVAL ? MountException.Reason.OPTION_REJECTED
                : MountException.Reason.MOUNT_FAILED, "the kernel refused to mount " + mountPoint + " (mount(2): "
                + describe(-r) + (r == -Syscalls.EINVAL ? "; an option or its value is not accepted: "
                + String.join(",", request.parameters()) : "") + ")");
    }

    static String describe(int errno) {
        Errno e = Errno.of(errno);
        return e == null ? "errno " + errno : e.name() + ", " + e.description();
    }
}
