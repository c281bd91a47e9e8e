package io.fuseguard.internal.session;

import io.fuseguard.mount.MountException;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The {@code -o} options of a mount, split the way libfuse 2 splits them: options of the kernel mount (what
 * libfuse's {@code fuse_mount} took; {@code io.fuseguard.internal.mount} mounts with them) and options of the
 * filesystem library, which fuseguard implements itself (cache timeouts,
 * inode numbers, hiding of unlinked open files, ...). Unknown options and unparsable values are refused with a
 * message that names them.
 *
 * @param kernel          options for the kernel mount, in order
 * @param entryTimeout    seconds the kernel caches a name ({@code entry_timeout}, default 1)
 * @param attrTimeout     seconds the kernel caches attributes ({@code attr_timeout}, default 1)
 * @param negativeTimeout seconds the kernel caches a missing name ({@code negative_timeout}, default 0)
 * @param useIno          report the filesystem's inode numbers ({@code use_ino})
 * @param readdirIno      report known inode numbers in directory listings ({@code readdir_ino})
 * @param hardRemove      remove open files at once instead of hiding them ({@code hard_remove})
 * @param umask           permission bits to clear in every mode ({@code umask}), or -1
 * @param uid             owner reported for every file ({@code uid}), or -1
 * @param gid             group reported for every file ({@code gid}), or -1
 * @param directIo        open every file with direct I/O ({@code direct_io})
 * @param kernelCache     keep the page cache across opens ({@code kernel_cache})
 * @param maxWrite        largest write request ({@code max_write})
 * @param maxReadahead    largest readahead, or -1 for the kernel's ({@code max_readahead})
 * @param asyncRead       allow parallel reads of one file ({@code async_read}/{@code sync_read}, default on)
 * @param atomicOTrunc    pass O_TRUNC to open instead of a separate truncate ({@code atomic_o_trunc})
 * @param maxBackground   the kernel's limit on background requests, or -1 ({@code max_background})
 * @param congestionThreshold the kernel's congestion threshold, or -1 ({@code congestion_threshold})
 * @param readOnly        whether the mount is read-only ({@code ro})
 * @param defaultPermissions whether the kernel checks permissions ({@code default_permissions})
 * @param intr            honour every kernel interrupt ({@code intr}); by default, as libfuse, only a caller that is
 *                        being killed is let go
 * @param passthrough     let the filesystem's backing files serve reads and writes (FUSE passthrough), when it names
 *                        any; off with {@code no_passthrough}
 * @param writebackCache  the kernel caches writes and sends them later ({@code writeback_cache}, libfuse 3's name)
 * @param readdirPlus     listings carry the entries' attributes ({@code readdirplus}), so the kernel caches them
 *                        and needs no lookup per entry
 * @param cloneFd         each request thread reads from its own clone of the connection's device
 *                        ({@code clone_fd}, libfuse 3's name)
 * @param ioUring         serve requests over io_uring ({@code io_uring}, libfuse 3's name) when the kernel can
 */
public record MountOptions(List<String> kernel, double entryTimeout, double attrTimeout, double negativeTimeout,
                    boolean useIno, boolean readdirIno, boolean hardRemove, int umask, int uid, int gid,
                    boolean directIo, boolean kernelCache, int maxWrite, int maxReadahead, boolean asyncRead,
                    boolean atomicOTrunc, int maxBackground, int congestionThreshold, boolean readOnly,
                    boolean defaultPermissions, boolean intr, boolean passthrough, boolean writebackCache,
                    boolean readdirPlus, boolean cloneFd, boolean ioUring) {

    /** Options of the kernel mount that libfuse's fuse_mount passes on. */
    private static final Set<String> KERNEL = Set.of("allow_other", "allow_root", "default_permissions", "fsname",
            "subtype", "ro", "rw", "nonempty", "auto_unmount", "blkdev", "blksize", "max_read", "dev", "nodev",
            "suid", "nosuid", "exec", "noexec", "atime", "noatime", "sync", "async", "dirsync", "context",
            "fscontext", "defcontext", "rootcontext", "large_read", "diratime", "nodiratime", "relatime",
            "norelatime", "strictatime");
    /** Accepted for compatibility with libfuse 2 and without effect here. */
    private static final Set<String> IGNORED = Set.of("big_writes", "ac_attr_timeout", "noauto_cache",
            "auto_cache", "no_remote_lock", "no_remote_flock", "no_remote_posix_lock", "splice_write",
            "no_splice_write", "splice_move", "no_splice_move", "splice_read", "no_splice_read",
            "auto_inval_data", "no_auto_inval_data", "remember", "debug", "nopath");

    /** Parses the options; throws {@link MountException} with reason OPTION_REJECTED for a bad one. */
    public static MountOptions parse(List<String> options, int defaultMaxWrite) {
        List<String> kernel = new ArrayList<>();
        double entry = 1;
        double attr = 1;
        double negative = 0;
        boolean useIno = false;
        boolean readdirIno = false;
        boolean hardRemove = false;
        int umask = -1;
        int uid = -1;
        int gid = -1;
        boolean directIo = false;
        boolean kernelCache = false;
        int maxWrite = defaultMaxWrite;
        int maxReadahead = -1;
        boolean asyncRead = true;
        boolean atomicOTrunc = false;
        int maxBackground = -1;
        int congestion = -1;
        boolean ro = false;
        boolean defaultPermissions = false;
        boolean intr = false;
        boolean passthrough = true;
        boolean writebackCache = false;
        boolean readdirPlus = false;
        boolean cloneFd = false;
        boolean ioUring = false;
        for (String o : options) {
            int eq = o.indexOf('=');
            String key = eq < 0 ? o : o.substring(0, eq);
            String value = eq < 0 ? null : o.substring(eq + 1);
            switch (key) {
                case "intr" -> intr = flag(o, value);
                case "no_passthrough" -> passthrough = !flag(o, value);
                case "no_default_permissions" -> flag(o, value); // MountSettings left default_permissions out
                case "writeback_cache" -> writebackCache = flag(o, value);
                case "readdirplus" -> readdirPlus = flag(o, value);
                case "clone_fd" -> cloneFd = flag(o, value);
                case "io_uring" -> ioUring = flag(o, value);
                case "intr_signal" -> throw new MountException(MountException.Reason.OPTION_REJECTED,
                        "mount option '" + o + "' is not supported: libfuse sends that signal to its threads; "
                                + "fuseguard interrupts a handler's Java thread itself (see interruptStalledHandlers)");
                case "modules" -> throw new MountException(MountException.Reason.OPTION_REJECTED,
                        "mount option '" + o + "' is not supported: libfuse stacking modules are not available");
                case "entry_timeout" -> entry = seconds(o, value);
                case "attr_timeout" -> attr = seconds(o, value);
                case "negative_timeout" -> negative = seconds(o, value);
                case "use_ino" -> useIno = flag(o, value);
                case "readdir_ino" -> readdirIno = flag(o, value);
                case "hard_remove" -> hardRemove = flag(o, value);
                case "umask" -> umask = octal(o, value) & 0777;
                case "uid" -> uid = number(o, value, 0, Integer.MAX_VALUE);
                case "gid" -> gid = number(o, value, 0, Integer.MAX_VALUE);
                case "direct_io" -> directIo = flag(o, value);
                case "kernel_cache" -> kernelCache = flag(o, value);
                case "max_write" -> maxWrite = number(o, value, 4096, 1024 * 1024);
                case "max_readahead" -> maxReadahead = number(o, value, 0, Integer.MAX_VALUE);
                case "async_read" -> asyncRead = flag(o, value) || asyncRead;
                case "sync_read" -> asyncRead = !flag(o, value);
                case "atomic_o_trunc" -> atomicOTrunc = flag(o, value);
                case "max_background" -> maxBackground = number(o, value, 1, 65535);
                case "congestion_threshold" -> congestion = number(o, value, 1, 65535);
                default -> {
                    if (KERNEL.contains(key)) {
                        if (key.equals("max_read") || key.equals("blksize")) {
                            number(o, value, 0, Integer.MAX_VALUE);
                        }
                        if (key.equals("ro")) {
                            ro = true;
                        } else if (key.equals("rw")) {
                            ro = false;
                        } else if (key.equals("default_permissions")) {
                            defaultPermissions = true;
                        }
                        kernel.add(o);
                    } else if (!IGNORED.contains(key)) {
                        throw new MountException(MountException.Reason.OPTION_REJECTED,
                                "mount option '" + o + "' is not a libfuse 2 option");
                    }
                }
            }
        }
        if (cloneFd && ioUring) {
            // With io_uring requests come on ring entries, not from device reads, and an answer to one that came
            // from /dev/fuse must go back through the descriptor it was read from: the clones would add nothing
            // and break that.
            throw new MountException(MountException.Reason.OPTION_REJECTED, "mount options 'clone_fd' and "
                    + "'io_uring' cannot be combined: with io_uring requests do not come from device reads; drop one");
        }
        return new MountOptions(List.copyOf(kernel), entry, attr, negative, useIno, readdirIno, hardRemove, umask,
                uid, gid, directIo, kernelCache, maxWrite, maxReadahead, asyncRead, atomicOTrunc, maxBackground,
                congestion, ro, defaultPermissions, intr, passthrough, writebackCache, readdirPlus, cloneFd,
                ioUring);
    }

    private static boolean flag(String o, String value) {
        if (value != null) {
            throw new MountException(MountException.Reason.OPTION_REJECTED, "mount option '" + o
                    + "' takes no value");
        }
        return true;
    }

    private static double seconds(String o, String value) {
        try {
            double d = Double.parseDouble(require(o, value));
            if (d < 0 || Double.isNaN(d) || Double.isInfinite(d)) {
                throw new NumberFormatException();
            }
            return d;
        } catch (NumberFormatException e) {
            throw new MountException(MountException.Reason.OPTION_REJECTED, "mount option '" + o
                    + "' needs a number of seconds >= 0");
        }
    }

    private static int number(String o, String value, int min, int max) {
        try {
            long v = Long.parseLong(require(o, value));
            if (v < min || v > max) {
                throw new NumberFormatException();
            }
            return (int) v;
        } catch (NumberFormatException e) {
            throw new MountException(MountException.Reason.OPTION_REJECTED, "mount option '" + o
                    + "' needs a whole number between " + min + " and " + max);
        }
    }

    private static int octal(String o, String value) {
        try {
            return Integer.parseInt(require(o, value), 8);
        } catch (NumberFormatException e) {
            throw new MountException(MountException.Reason.OPTION_REJECTED, "mount option '" + o
                    + "' needs an octal mode such as 022");
        }
    }

    private static String require(String o, String value) {
        if (value == null || value.isEmpty()) {
            throw new MountException(MountException.Reason.OPTION_REJECTED, "mount option '" + o + "' needs a value");
        }
        return value;
    }
}
