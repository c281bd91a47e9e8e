package io.fuseguard.internal.mount;

import io.fuseguard.mount.MountException;

import java.util.ArrayList;
import java.util.List;

/**
 * The kernel mount options of a fuseguard mount, translated the way libfuse 2.9's {@code fuse_mount} translated
 * them, so the mount table shows the same as before fuseguard stopped loading libfuse: the mount's source is the
 * {@code fsname}, its type {@code fuse.<subtype>} ({@code fuseblk} with {@code blkdev}), the flags start at
 * {@code nosuid,nodev} and each flag option changes them in order, and {@code allow_other},
 * {@code default_permissions}, {@code max_read}, {@code blksize} and the SELinux contexts are filesystem parameters.
 * {@code nonempty} and {@code auto_unmount} are fusermount's (the mount point check is fuseguard's own).
 *
 * @param source      the mount's source as the mount table shows it (the {@code fsname})
 * @param subtype     the type's suffix ({@code fuse.<subtype>}), or null
 * @param blockDevice {@code blkdev}: type {@code fuseblk}, the source is a block device
 * @param flags       {@code MS_*} flags for mount(2)
 * @param parameters  filesystem parameters in order, {@code key} or {@code key=value}
 * @param autoUnmount {@code auto_unmount}: fusermount stays behind and unmounts when the daemon is gone
 * @param nonempty    {@code nonempty}: passed on to fusermount (fusermount 2 checks emptiness itself)
 * @param notes       options that do not reach the kernel, each with the reason (for a log line)
 */
public record MountRequest(String source, String subtype, boolean blockDevice, long flags, List<String> parameters,
                           boolean autoUnmount, boolean nonempty, List<String> notes) {

    /** {@code MS_*} flags of mount(2). */
    static final long MS_RDONLY = 1;
    static final long MS_NOSUID = 2;
    static final long MS_NODEV = 4;
    static final long MS_NOEXEC = 8;
    static final long MS_SYNCHRONOUS = 16;
    static final long MS_DIRSYNC = 128;
    static final long MS_NOATIME = 1024;
    static final long MS_NODIRATIME = 2048;
    static final long MS_RELATIME = 1 << 21;
    static final long MS_STRICTATIME = 1 << 24;

    /** Flag options: name, flag, set (true) or clear, and whether fusermount knows the name. */
    private record FlagOption(String name, long flag, boolean set, boolean fusermountKnows) {
    }

    private static final List<FlagOption> FLAG_OPTIONS = List.of(
            new FlagOption("rw", MS_RDONLY, false, true),
            new FlagOption("ro", MS_RDONLY, true, true),
            new FlagOption("suid", MS_NOSUID, false, true),
            new FlagOption("nosuid", MS_NOSUID, true, true),
            new FlagOption("dev", MS_NODEV, false, true),
            new FlagOption("nodev", MS_NODEV, true, true),
            new FlagOption("exec", MS_NOEXEC, false, true),
            new FlagOption("noexec", MS_NOEXEC, true, true),
            new FlagOption("async", MS_SYNCHRONOUS, false, true),
            new FlagOption("sync", MS_SYNCHRONOUS, true, true),
            new FlagOption("atime", MS_NOATIME, false, true),
            new FlagOption("noatime", MS_NOATIME, true, true),
            new FlagOption("dirsync", MS_DIRSYNC, true, true),
            // libfuse 2 never passed these on (they were dropped without a word); fusermount refuses them
            new FlagOption("diratime", MS_NODIRATIME, false, false),
            new FlagOption("nodiratime", MS_NODIRATIME, true, false),
            new FlagOption("relatime", MS_RELATIME, true, false),
            new FlagOption("norelatime", MS_RELATIME, false, false),
            new FlagOption("strictatime", MS_STRICTATIME, true, false));

    /** Copies. */
    public MountRequest {
        parameters = List.copyOf(parameters);
        notes = List.copyOf(notes);
    }

    /**
     * Translates the kernel mount options (as {@code MountOptions.kernel()} lists them); refuses what cannot be
     * done faithfully with {@link MountException.Reason#OPTION_REJECTED}.
     */
    public static MountRequest of(List<String> options) {
        String fsname = null;
        String subtype = null;
        boolean blkdev = false;
        boolean autoUnmount = false;
        boolean nonempty = false;
        long flags = MS_NOSUID | MS_NODEV;
        List<String> parameters = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        for (String o : options) {
            int eq = o.indexOf('=');
            String key = eq < 0 ? o : o.substring(0, eq);
            String value = eq < 0 ? null : o.substring(eq + 1);
            FlagOption flag = flag(o);
            if (flag != null) {
                flags = flag.set ? flags | flag.flag : flags & ~flag.flag;
                continue;
            }
            switch (key) {
                case "fsname" -> fsname = required(o, value);
                case "subtype" -> subtype = required(o, value);
                case "blkdev" -> blkdev = true;
                case "auto_unmount" -> autoUnmount = true;
                case "nonempty" -> nonempty = true;
                case "allow_other", "default_permissions" -> parameters.add(key);
                case "max_read", "blksize", "context", "fscontext", "defcontext", "rootcontext" -> {
                    required(o, value);
                    parameters.add(o);
                }
                case "large_read" -> notes.add("large_read has no effect since Linux 2.6 and is not passed on");
                // libfuse lets only root and the owner in, in its request loop; fuseguard has no such check, and
                // the kernel option underneath (allow_other) would let every user in.
                case "allow_root" -> throw new MountException(MountException.Reason.OPTION_REJECTED,
                        "mount option 'allow_root' is not supported: fuseguard does not restrict a mount to root "
                                + "and its owner; use allow_other (with default_permissions, the kernel checks each "
                                + "access against the modes the filesystem reports)");
                default -> throw new MountException(MountException.Reason.OPTION_REJECTED,
                        "mount option '" + o + "' is not a kernel mount option");
            }
        }
        if (fsname == null) {
            // libfuse's choice when no fsname was given
            fsname = subtype != null ? subtype : "/dev/fuse";
        }
        return new MountRequest(fsname, subtype, blkdev, flags, parameters, autoUnmount, nonempty, notes);
    }

    private static FlagOption flag(String option) {
        for (FlagOption f : FLAG_OPTIONS) {
            if (f.name.equals(option)) {
                return f;
            }
        }
        return null;
    }

    private static String required(String option, String value) {
        if (value == null || value.isEmpty()) {
            throw new MountException(MountException.Reason.OPTION_REJECTED, "mount option '" + option
                    + "' needs a value");
        }
        return value;
    }

    /** The filesystem type for mount(2): {@code fuse.<subtype>}, or {@code fuse}/{@code fuseblk}. */
    public String type() {
        String base = blockDevice ? "fuseblk" : "fuse";
        return subtype == null ? base : base + "." + subtype;
    }

    /**
     * The data argument of mount(2): the parameters, then the connection's descriptor, the root's file type and
     * the owner.
     */
    public String data(int deviceFd, int rootMode, int uid, int gid) {
        List<String> all = new ArrayList<>(parameters);
        all.addAll(connectionParameters(deviceFd, rootMode, uid, gid));
        return String.join(",", all);
    }

    /** The parameters every FUSE mount needs: {@code fd}, {@code rootmode} (octal), {@code user_id}, {@code group_id}. */
    List<String> connectionParameters(int deviceFd, int rootMode, int uid, int gid) {
        return List.of("fd=" + deviceFd, "rootmode=" + Integer.toOctalString(rootMode), "user_id=" + Integer
                .toUnsignedString(uid), "group_id=" + Integer.toUnsignedString(gid));
    }

    /** The superblock flags among {@link #flags}, as the new mount API's {@code fsconfig} flag names. */
    List<String> superblockFlags() {
        List<String> out = new ArrayList<>();
        if ((flags & MS_RDONLY) != 0) {
            out.add("ro");
        }
        if ((flags & MS_SYNCHRONOUS) != 0) {
            out.add("sync");
        }
        if ((flags & MS_DIRSYNC) != 0) {
            out.add("dirsync");
        }
        return out;
    }

    /** The mount attributes among {@link #flags}, as {@code MOUNT_ATTR_*} bits for {@code fsmount}. */
    long mountAttributes() {
        long attributes = 0;
        if ((flags & MS_RDONLY) != 0) {
            attributes |= 0x1; // MOUNT_ATTR_RDONLY
        }
        if ((flags & MS_NOSUID) != 0) {
            attributes |= 0x2; // MOUNT_ATTR_NOSUID
        }
        if ((flags & MS_NODEV) != 0) {
            attributes |= 0x4; // MOUNT_ATTR_NODEV
        }
        if ((flags & MS_NOEXEC) != 0) {
            attributes |= 0x8; // MOUNT_ATTR_NOEXEC
        }
        // the atime mode, as mount(2) decides it: relatime unless noatime, strictatime overrides both
        if ((flags & MS_STRICTATIME) != 0) {
            attributes |= 0x20; // MOUNT_ATTR_STRICTATIME
        } else if ((flags & MS_NOATIME) != 0) {
            attributes |= 0x10; // MOUNT_ATTR_NOATIME
        }
        if ((flags & MS_NODIRATIME) != 0) {
            attributes |= 0x80; // MOUNT_ATTR_NODIRATIME
        }
        return attributes;
    }

    /**
     * The {@code -o} argument of fusermount: what libfuse 2.9 passed ({@code rw} or {@code ro}, the flags that are
     * set, the parameters, fusermount's own options, {@code fsname} and {@code subtype} escaped), plus {@code suid}
     * or {@code dev} when they were asked for (libfuse dropped them, so fusermount's default {@code nosuid,nodev}
     * won silently; now fusermount decides and says so). Options fusermount does not know are left out and noted
     * in {@code dropped}.
     */
    public String fusermountOptions(List<String> dropped) {
        List<String> out = new ArrayList<>();
        out.add((flags & MS_RDONLY) != 0 ? "ro" : "rw");
        out.add((flags & MS_NOSUID) != 0 ? "nosuid" : "suid");
        out.add((flags & MS_NODEV) != 0 ? "nodev" : "dev");
        if ((flags & MS_NOEXEC) != 0) {
            out.add("noexec");
        }
        if ((flags & MS_SYNCHRONOUS) != 0) {
            out.add("sync");
        }
        if ((flags & MS_NOATIME) != 0) {
            out.add("noatime");
        }
        if ((flags & MS_DIRSYNC) != 0) {
            out.add("dirsync");
        }
        for (FlagOption f : FLAG_OPTIONS) {
            if (!f.fusermountKnows && f.set && (flags & f.flag) != 0) {
                dropped.add(f.name);
            }
        }
        out.addAll(parameters);
        if (nonempty) {
            out.add("nonempty");
        }
        if (autoUnmount) {
            out.add("auto_unmount");
        }
        if (blockDevice) {
            out.add("blkdev");
        }
        out.add("fsname=" + escape(source));
        if (subtype != null) {
            out.add("subtype=" + escape(subtype));
        }
        return String.join(",", out);
    }

    /** fusermount splits its options at commas and takes a backslash as an escape in fsname and subtype. */
    private static String escape(String value) {
        return value.replace("\\", "\\\\").replace(",", "\\,");
    }
}
