package io.fuseguard.mount;

import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.mount.Fusermount;
import io.fuseguard.internal.mount.KernelMount;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.kernel.DaemonLocator;
import io.fuseguard.kernel.FuseDeviceHolders;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Checks what the kernel or the fusermount helper would otherwise reject, so each bad input becomes a
 * {@link MountException} that says what is wrong and what to do. Resolves the mount point to its real path
 * (the kernel mounts on the symlink's target, and the mount table shows that path).
 */
final class MountPreflight {
    private static final Log LOG = Log.of(MountPreflight.class);

    private MountPreflight() {
    }

    /** Checks the mount point and returns its real path. */
    static Path check(Path mountPoint, boolean nonempty) {
        Path abs = mountPoint.toAbsolutePath().normalize();
        // The mount table first: stat() of a mount point whose daemon is wedged would hang.
        MountTable table;
        try {
            table = MountTable.load();
        } catch (IOException e) {
            throw new MountException(MountException.Reason.MOUNT_FAILED, "cannot read /proc/self/mountinfo", e);
        }
        if (table.findByMountPoint(abs).isPresent()) {
            if (!replaceDeadMount(table.findByMountPoint(abs).get())) {
                throw alreadyMounted(abs);
            }
            try {
                table = MountTable.load();
            } catch (IOException e) {
                throw new MountException(MountException.Reason.MOUNT_FAILED, "cannot read /proc/self/mountinfo", e);
            }
            if (table.findByMountPoint(abs).isPresent()) {
                throw alreadyMounted(abs); // another mount lay below the dead one
            }
        }
        if (!Files.exists(abs, LinkOption.NOFOLLOW_LINKS)) {
            throw new MountException(MountException.Reason.MOUNT_POINT_MISSING,
                    "mount point " + abs + " does not exist: create it first (mkdir -p " + abs + ")");
        }
        if (!Files.exists(abs)) {
            throw new MountException(MountException.Reason.MOUNT_POINT_MISSING,
                    "mount point " + abs + " is a symlink to a path that does not exist");
        }
        Path real;
        try {
            real = abs.toRealPath();
        } catch (IOException e) {
            throw new MountException(MountException.Reason.MOUNT_POINT_MISSING,
                    "mount point " + abs + " cannot be resolved: " + e.getMessage(), e);
        }
        if (!real.equals(abs) && table.findByMountPoint(real).isPresent()) {
            throw alreadyMounted(real);
        }
        if (!Files.isDirectory(real)) {
            throw new MountException(MountException.Reason.NOT_A_DIRECTORY,
                    "mount point " + abs + " is not a directory");
        }
        // As root, the kernel mounts over files without a word; they would be hidden while mounted.
        if (!nonempty && !isEmpty(real)) {
            throw new MountException(MountException.Reason.NOT_EMPTY, "mount point " + abs
                    + " is not empty (its files would be hidden while mounted; mount option 'nonempty' allows it)");
        }
        checkDevice();
        return real;
    }

    /**
     * A fuseguard mount whose daemon is dead (no process holds a /dev/fuse descriptor of its connection: the
     * kernel ended it, and every access answers ENOTCONN) is detached, with one log line, so that a daemon
     * restarted after a kill -9 (by systemd, a Pod) can mount again. Anything else stays: another filesystem, or a
     * daemon that is alive (or that a scan of /proc could not rule out). Returns whether it detached one.
     */
    static boolean replaceDeadMount(MountEntry e) {
        if (!e.isFuse() || DaemonLocator.parseFsName(e.source()).isEmpty()) {
            return false; // not fuseguard's: never touched
        }
        FuseDeviceHolders.Snapshot s = FuseDeviceHolders.scan(Path.of(
                "/proc"), Duration.ofSeconds(2));
        if (!s.complete() || !s.mayServe(e.connectionId()).isEmpty()) {
            return false; // alive, or not provably dead
        }
        int r = Syscalls.umount2(e.mountPoint().toString(),
                Syscalls.MNT_DETACH);
        if (r < 0) {
            Optional<String> failed = Fusermount.unmount(e.mountPoint(), true);
            if (failed.isPresent()) {
                return false;
            }
        }
        LOG.info("Detached a dead fuseguard mount at {} (connection {}, {}: no process serves it any more) to "
                + "mount there again", e.mountPoint(), e.connectionId(), e.source());
        return true;
    }

    private static MountException alreadyMounted(Path p) {
        return new MountException(MountException.Reason.ALREADY_MOUNTED,
                "mount point " + p + " is already a mount point, served by a live process or not fuseguard's: "
                        + "unmount it first ('fuseguard connections' shows who serves it; 'fuseguard abort "
                        + "--unmount' ends a wedged one)");
    }

    private static boolean isEmpty(Path dir) {
        try (java.util.stream.Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            throw new MountException(MountException.Reason.MOUNT_POINT_MISSING,
                    "mount point " + dir + " cannot be listed: " + e.getMessage(), e);
        }
    }

    /**
     * Refuses, before anything is done, a mount that will need the fusermount helper when none is installed (a
     * user without CAP_SYS_ADMIN, {@code auto_unmount}).
     */
    static void checkHelper(List<String> kernelOptions) {
        Optional<MountException> missing = KernelMount.missingHelper(kernelOptions);
        if (missing.isPresent()) {
            throw missing.get();
        }
    }

    static void checkDevice() {
        checkDevice(Path.of("/dev/fuse"));
    }

    static void checkDevice(Path dev) {
        if (!Files.exists(dev)) {
            throw new MountException(MountException.Reason.DEVICE_UNUSABLE, dev + " does not exist: load the "
                    + "fuse kernel module (modprobe fuse); in a container, pass --device /dev/fuse");
        }
        try (RandomAccessFile f = new RandomAccessFile(dev.toFile(), "rw")) {
            f.getFD(); // opening is the check
        } catch (IOException e) {
            throw new MountException(MountException.Reason.DEVICE_UNUSABLE, dev + " cannot be opened ("
                    + e.getMessage() + "): run as root or give the user access; in a container, pass "
                    + "--device /dev/fuse and CAP_SYS_ADMIN", e);
        }
    }
}
