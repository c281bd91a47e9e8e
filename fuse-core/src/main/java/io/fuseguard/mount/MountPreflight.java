package io.fuseguard.mount;

import io.fuseguard.kernel.MountTable;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * Checks what libfuse would otherwise reject with a line on stderr, so each bad input becomes a
 * {@link MountException} that says what is wrong and what to do.
 */
final class MountPreflight {
    /** Options libfuse 2 (mount + high-level library) accepts, by key. */
    private static final Set<String> KNOWN_OPTIONS = Set.of(
            "allow_other", "allow_root", "default_permissions", "fsname", "subtype", "big_writes", "max_write",
            "max_read", "max_readahead", "ro", "rw", "nonempty", "auto_unmount", "blkdev", "blksize", "uid", "gid",
            "umask", "entry_timeout", "negative_timeout", "attr_timeout", "ac_attr_timeout", "auto_cache",
            "noauto_cache", "kernel_cache", "direct_io", "use_ino", "readdir_ino", "hard_remove", "modules",
            "remember", "nopath", "debug", "async_read", "sync_read", "atomic_o_trunc", "no_remote_lock",
            "no_remote_flock", "no_remote_posix_lock", "splice_write", "no_splice_write", "splice_move",
            "no_splice_move", "splice_read", "no_splice_read", "dev", "nodev", "suid", "nosuid", "exec", "noexec",
            "atime", "noatime", "sync", "async", "dirsync", "context", "fscontext", "defcontext", "rootcontext",
            "large_read", "auto_inval_data", "no_auto_inval_data", "congestion_threshold",
            "max_background");

    private MountPreflight() {
    }

    static void check(Path mountPoint, List<String> options) {
        // The mount table first: stat() of a mount point whose daemon is wedged would hang.
        try {
            if (MountTable.load().findByMountPoint(mountPoint).isPresent()) {
                throw new MountException(MountException.Reason.ALREADY_MOUNTED,
                        "mount point " + mountPoint + " is already a mount point: unmount it first (a wedged FUSE "
                                + "mount: see 'fuseguard connections' and 'fuseguard abort')");
            }
        } catch (IOException e) {
            throw new MountException(MountException.Reason.MOUNT_FAILED, "cannot read /proc/self/mountinfo", e);
        }
        if (!Files.exists(mountPoint, LinkOption.NOFOLLOW_LINKS)) {
            throw new MountException(MountException.Reason.MOUNT_POINT_MISSING,
                    "mount point " + mountPoint + " does not exist: create it first (mkdir -p " + mountPoint + ")");
        }
        if (!Files.isDirectory(mountPoint)) {
            throw new MountException(MountException.Reason.NOT_A_DIRECTORY,
                    "mount point " + mountPoint + " is not a directory");
        }
        // As root, libfuse 2 mounts over files without a word; they would be hidden while mounted.
        if (!options.contains("nonempty") && !isEmpty(mountPoint)) {
            throw new MountException(MountException.Reason.NOT_EMPTY, "mount point " + mountPoint
                    + " is not empty (its files would be hidden while mounted; mount option 'nonempty' allows it)");
        }
        checkDevice();
        for (String o : options) {
            String key = o.contains("=") ? o.substring(0, o.indexOf('=')) : o;
            if ("intr".equals(key) || "intr_signal".equals(key)) {
                throw new MountException(MountException.Reason.OPTION_REJECTED, "mount option '" + o
                        + "' is not supported: it makes libfuse send signals to JVM threads; fuseguard answers "
                        + "kernel interrupts itself");
            }
            if (!KNOWN_OPTIONS.contains(key)) {
                throw new MountException(MountException.Reason.OPTION_REJECTED,
                        "mount option '" + o + "' is not a libfuse 2 option");
            }
        }
    }

    private static boolean isEmpty(Path dir) {
        try (java.util.stream.Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            throw new MountException(MountException.Reason.MOUNT_POINT_MISSING,
                    "mount point " + dir + " cannot be listed: " + e.getMessage(), e);
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
