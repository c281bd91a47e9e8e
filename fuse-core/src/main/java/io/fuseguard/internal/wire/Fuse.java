package io.fuseguard.internal.wire;

/**
 * Numbers of the FUSE kernel protocol (include/uapi/linux/fuse.h) that fuseguard speaks: opcodes, flags, and
 * the byte layout of the structures it reads and writes. fuseguard talks to /dev/fuse itself (libfuse only
 * mounts), so these are the only place the wire format is spelled out.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class Fuse {
    private Fuse() {
    }

    /**
     * Protocol version fuseguard speaks: 7.45 (Linux 6.18). Every capability newer than what fuseguard needs is
     * gated by an INIT flag that it grants only when it handles it, and the kernel speaks older minors to us.
     */
    public static final int KERNEL_VERSION = 7;
    public static final int KERNEL_MINOR_VERSION = 45;

    // Opcodes.
    public static final int LOOKUP = 1;
    public static final int FORGET = 2;
    public static final int GETATTR = 3;
    public static final int SETATTR = 4;
    public static final int READLINK = 5;
    public static final int SYMLINK = 6;
    public static final int MKNOD = 8;
    public static final int MKDIR = 9;
    public static final int UNLINK = 10;
    public static final int RMDIR = 11;
    public static final int RENAME = 12;
    public static final int LINK = 13;
    public static final int OPEN = 14;
    public static final int READ = 15;
    public static final int WRITE = 16;
    public static final int STATFS = 17;
    public static final int RELEASE = 18;
    public static final int FSYNC = 20;
    public static final int SETXATTR = 21;
    public static final int GETXATTR = 22;
    public static final int LISTXATTR = 23;
    public static final int REMOVEXATTR = 24;
    public static final int FLUSH = 25;
    public static final int INIT = 26;
    public static final int OPENDIR = 27;
    public static final int READDIR = 28;
    public static final int RELEASEDIR = 29;
    public static final int FSYNCDIR = 30;
    public static final int GETLK = 31;
    public static final int SETLK = 32;
    public static final int SETLKW = 33;
    public static final int ACCESS = 34;
    public static final int CREATE = 35;
    public static final int INTERRUPT = 36;
    public static final int BMAP = 37;
    public static final int DESTROY = 38;
    public static final int IOCTL = 39;
    public static final int POLL = 40;
    public static final int NOTIFY_REPLY = 41;
    public static final int BATCH_FORGET = 42;
    public static final int FALLOCATE = 43;
    public static final int READDIRPLUS = 44;
    public static final int RENAME2 = 45;
    /** renameat2's flag that swaps source and target. */
    public static final int RENAME_EXCHANGE = 2;
    public static final int LSEEK = 46;
    public static final int COPY_FILE_RANGE = 47;
    public static final int TMPFILE = 51;
    public static final int STATX = 52;
    /** copy_file_range with a 64-bit answer (7.45, Linux 6.18): copies of 4 GiB and more in one request. */
    public static final int COPY_FILE_RANGE_64 = 53;
    /** One past the largest opcode fuseguard knows by name. */
    public static final int OPCODE_LIMIT = 64;

    private static final String[] NAMES = new String[OPCODE_LIMIT];

    static {
        String[] n = {null, "LOOKUP", "FORGET", "GETATTR", "SETATTR", "READLINK", "SYMLINK", null, "MKNOD",
            "MKDIR", "UNLINK", "RMDIR", "RENAME", "LINK", "OPEN", "READ", "WRITE", "STATFS", "RELEASE", null,
            "FSYNC", "SETXATTR", "GETXATTR", "LISTXATTR", "REMOVEXATTR", "FLUSH", "INIT", "OPENDIR", "READDIR",
            "RELEASEDIR", "FSYNCDIR", "GETLK", "SETLK", "SETLKW", "ACCESS", "CREATE", "INTERRUPT", "BMAP",
            "DESTROY", "IOCTL", "POLL", "NOTIFY_REPLY", "BATCH_FORGET", "FALLOCATE", "READDIRPLUS", "RENAME2",
            "LSEEK", "COPY_FILE_RANGE", "SETUPMAPPING", "REMOVEMAPPING", "SYNCFS", "TMPFILE", "STATX",
            "COPY_FILE_RANGE_64"};
        System.arraycopy(n, 0, NAMES, 0, n.length);
    }

    /** The opcode's name, for logs. */
    public static String name(int opcode) {
        String s = opcode >= 0 && opcode < OPCODE_LIMIT ? NAMES[opcode] : null;
        return s != null ? s : "OPCODE_" + opcode;
    }

    // INIT flags (fuse_init_in.flags / fuse_init_out.flags).
    public static final int INIT_ASYNC_READ = 1;
    public static final int INIT_POSIX_LOCKS = 1 << 1;
    public static final int INIT_ATOMIC_O_TRUNC = 1 << 3;
    public static final int INIT_BIG_WRITES = 1 << 5;
    public static final int INIT_DONT_MASK = 1 << 6;
    public static final int INIT_FLOCK_LOCKS = 1 << 10;
    public static final int INIT_AUTO_INVAL_DATA = 1 << 12;
    public static final int INIT_ASYNC_DIO = 1 << 15;
    public static final int INIT_PARALLEL_DIROPS = 1 << 18;
    public static final int INIT_MAX_PAGES = 1 << 22;
    /** fuse_init_in/out carry a second flags word (flags2). */
    public static final int INIT_EXT = 1 << 30;
    /** flags2 bit (FUSE_REQUEST_TIMEOUT, 1 << 42): init_out.request_timeout is honoured (7.43, Linux 6.15+). */
    public static final int INIT2_REQUEST_TIMEOUT = 1 << 10;

    // Notification codes (fuse_out_header.error of a message with unique 0).
    public static final int NOTIFY_POLL = 1;
    public static final int NOTIFY_INVAL_INODE = 2;
    public static final int NOTIFY_INVAL_ENTRY = 3;
    public static final int NOTIFY_STORE = 4;
    public static final int NOTIFY_RETRIEVE = 5;
    public static final int NOTIFY_DELETE = 6;
    public static final int NOTIFY_INC_EPOCH = 8;
    /** fuse_notify_inval_entry_out.flags: only expire the entry (7.38), it stays usable until looked up again. */
    public static final int EXPIRE_ONLY = 1;
    /** Size of fuse_notify_retrieve_in, which precedes the data of a NOTIFY_REPLY to a retrieve. */
    public static final int NOTIFY_RETRIEVE_IN = 40;

    // Locks (fuse_lk_in, fuse_file_lock).
    /** fuse_lk_in.lk_flags: the lock is a flock(2), not a POSIX record lock. */
    public static final int LK_FLOCK = 1;
    public static final int F_RDLCK = 0;
    public static final int F_WRLCK = 1;
    public static final int F_UNLCK = 2;
    /** The kernel's OFFSET_MAX: a lock's end when it reaches to the end of the file. */
    public static final long OFFSET_MAX = Long.MAX_VALUE;
    /** fuse_release_in.release_flags: the kernel asks to drop the handle's flock. */
    public static final int RELEASE_FLOCK_UNLOCK = 2;
    /** Size of struct fuse_file_lock (fuse_lk_out). */
    public static final int LK_OUT = 24;

    /** poll_in.flags: the filesystem should notify the kernel when the file becomes ready. */
    public static final int POLL_SCHEDULE_NOTIFY = 1;

    /** Size of struct fuse_statx_out. */
    public static final int STATX_OUT = 288;
    /** statx mask bits the answer may carry. */
    public static final int STATX_BASIC_STATS = 0x7ff;
    public static final int STATX_BTIME = 0x800;

    // Open reply flags (fuse_open_out.open_flags).
    public static final int FOPEN_DIRECT_IO = 1;
    public static final int FOPEN_KEEP_CACHE = 1 << 1;
    public static final int FOPEN_NONSEEKABLE = 1 << 2;
    /** Kernel 5.16+: no FLUSH is sent when a descriptor of this open file is closed. */
    public static final int FOPEN_NOFLUSH = 1 << 5;
    /**
     * Kernel 6.9+ (protocol 7.40): reads, writes and mmap of this open file go to the backing file named by
     * {@code fuse_open_out.backing_id}, never to the daemon. The kernel allows it only with {@link #FOPEN_NOFLUSH}
     * and {@link #FOPEN_DIRECT_IO} beside it (it refuses the open otherwise).
     */
    public static final int FOPEN_PASSTHROUGH = 1 << 7;

    // ioctls on /dev/fuse (_IOR/_IOW with magic 229).
    /** Attaches a new /dev/fuse descriptor to the connection of the one passed (a {@code uint32_t} descriptor). */
    public static final long DEV_IOC_CLONE = 0x8004E500L;
    /** Registers a backing file ({@code struct fuse_backing_map}: fd, flags, padding); returns its id. */
    public static final long DEV_IOC_BACKING_OPEN = 0x4010E501L;
    /** Unregisters a backing id ({@code uint32_t}). */
    public static final long DEV_IOC_BACKING_CLOSE = 0x4004E502L;
    /** Size of {@code struct fuse_backing_map}. */
    public static final int BACKING_MAP_SIZE = 16;

    // SETATTR valid bits.
    public static final int FATTR_MODE = 1;
    public static final int FATTR_UID = 1 << 1;
    public static final int FATTR_GID = 1 << 2;
    public static final int FATTR_SIZE = 1 << 3;
    public static final int FATTR_ATIME = 1 << 4;
    public static final int FATTR_MTIME = 1 << 5;
    public static final int FATTR_FH = 1 << 6;
    public static final int FATTR_ATIME_NOW = 1 << 7;
    public static final int FATTR_MTIME_NOW = 1 << 8;

    /** GETATTR with a file handle. */
    public static final int GETATTR_FH = 1;
    /** fsync of data only. */
    public static final int FSYNC_FDATASYNC = 1;

    /** d_ino the kernel reports when the filesystem does not tell. */
    public static final long UNKNOWN_INO = 0xffffffffL;

    // Layout.
    public static final int IN_HEADER = 40;
    public static final int OUT_HEADER = 16;
    public static final int ATTR_SIZE = 88;
    public static final int ENTRY_OUT = 40 + ATTR_SIZE;
    public static final int ATTR_OUT = 16 + ATTR_SIZE;
    public static final int OPEN_OUT = 16;
    public static final int WRITE_IN = 40;
    public static final int READ_IN = 40;
    public static final int INIT_OUT = 64;
    /** Offsets in {@code fuse_init_out}: flags2, max_stack_depth (7.40), request_timeout (7.43). */
    public static final int INIT_OUT_FLAGS2 = 32;
    public static final int INIT_OUT_MAX_STACK_DEPTH = 36;
    public static final int INIT_OUT_REQUEST_TIMEOUT = 40;
    public static final int STATFS_OUT = 80;
    /** Where a WRITE's data starts in the request. */
    public static final int WRITE_DATA = IN_HEADER + WRITE_IN;
    /** The kernel's minimum read buffer for /dev/fuse. */
    public static final int MIN_READ_BUFFER = 8192;

    // Header fields (offsets in the request).
    public static final int H_LEN = 0;
    public static final int H_OPCODE = 4;
    public static final int H_UNIQUE = 8;
    public static final int H_NODEID = 16;
    public static final int H_UID = 24;
    public static final int H_GID = 28;
    public static final int H_PID = 32;
    public static final int H_TOTAL_EXTLEN = 36;

    /** Time: utimens "now" and "leave unchanged" nanosecond markers, as utimensat(2) takes them. */
    public static final long UTIME_NOW = (1L << 30) - 1;
    public static final long UTIME_OMIT = (1L << 30) - 2;
}
