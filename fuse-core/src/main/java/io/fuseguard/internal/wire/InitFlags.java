package io.fuseguard.internal.wire;

import java.util.ArrayList;
import java.util.List;

/**
 * The INIT capability bits of the FUSE protocol, all 64 of them (bits 32-63 travel in {@code flags2}), with the
 * names fuseguard reports and the protocol minor that introduced each. The kernel offers a set in its INIT; the
 * daemon grants the subset it will use; each is used only when both sides have it.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class InitFlags {
    private InitFlags() {
    }

    public static final long ASYNC_READ = 1L;
    public static final long POSIX_LOCKS = 1L << 1;
    public static final long ATOMIC_O_TRUNC = 1L << 3;
    public static final long EXPORT_SUPPORT = 1L << 4;
    public static final long BIG_WRITES = 1L << 5;
    public static final long DONT_MASK = 1L << 6;
    public static final long SPLICE_WRITE = 1L << 7;
    public static final long SPLICE_MOVE = 1L << 8;
    public static final long SPLICE_READ = 1L << 9;
    public static final long FLOCK_LOCKS = 1L << 10;
    public static final long HAS_IOCTL_DIR = 1L << 11;
    public static final long AUTO_INVAL_DATA = 1L << 12;
    public static final long DO_READDIRPLUS = 1L << 13;
    public static final long READDIRPLUS_AUTO = 1L << 14;
    public static final long ASYNC_DIO = 1L << 15;
    public static final long WRITEBACK_CACHE = 1L << 16;
    public static final long NO_OPEN_SUPPORT = 1L << 17;
    public static final long PARALLEL_DIROPS = 1L << 18;
    public static final long HANDLE_KILLPRIV = 1L << 19;
    public static final long POSIX_ACL = 1L << 20;
    public static final long ABORT_ERROR = 1L << 21;
    public static final long MAX_PAGES = 1L << 22;
    public static final long CACHE_SYMLINKS = 1L << 23;
    public static final long NO_OPENDIR_SUPPORT = 1L << 24;
    public static final long EXPLICIT_INVAL_DATA = 1L << 25;
    public static final long MAP_ALIGNMENT = 1L << 26;
    public static final long SUBMOUNTS = 1L << 27;
    public static final long HANDLE_KILLPRIV_V2 = 1L << 28;
    public static final long SETXATTR_EXT = 1L << 29;
    /** init_in and init_out carry {@code flags2} (bits 32-63). */
    public static final long INIT_EXT = 1L << 30;
    public static final long SECURITY_CTX = 1L << 32;
    public static final long HAS_INODE_DAX = 1L << 33;
    public static final long CREATE_SUPP_GROUP = 1L << 34;
    public static final long HAS_EXPIRE_ONLY = 1L << 35;
    public static final long DIRECT_IO_ALLOW_MMAP = 1L << 36;
    public static final long PASSTHROUGH = 1L << 37;
    public static final long NO_EXPORT_SUPPORT = 1L << 38;
    public static final long HAS_RESEND = 1L << 39;
    public static final long ALLOW_IDMAP = 1L << 40;
    public static final long OVER_IO_URING = 1L << 41;
    public static final long REQUEST_TIMEOUT = 1L << 42;

    private static final String[] NAMES = new String[64];

    static {
        String[][] n = {
            {"0", "async_read"}, {"1", "posix_locks"}, {"2", "file_ops"}, {"3", "atomic_o_trunc"},
            {"4", "export_support"}, {"5", "big_writes"}, {"6", "dont_mask"}, {"7", "splice_write"},
            {"8", "splice_move"}, {"9", "splice_read"}, {"10", "flock_locks"}, {"11", "ioctl_dir"},
            {"12", "auto_inval_data"}, {"13", "readdirplus"}, {"14", "readdirplus_auto"}, {"15", "async_dio"},
            {"16", "writeback_cache"}, {"17", "no_open_support"}, {"18", "parallel_dirops"},
            {"19", "handle_killpriv"}, {"20", "posix_acl"}, {"21", "abort_error"}, {"22", "max_pages"},
            {"23", "cache_symlinks"}, {"24", "no_opendir_support"}, {"25", "explicit_inval_data"},
            {"26", "map_alignment"}, {"27", "submounts"}, {"28", "handle_killpriv_v2"}, {"29", "setxattr_ext"},
            {"30", "init_ext"}, {"32", "security_ctx"}, {"33", "inode_dax"}, {"34", "create_supp_group"},
            {"35", "expire_only"}, {"36", "direct_io_allow_mmap"}, {"37", "passthrough"},
            {"38", "no_export_support"}, {"39", "resend"}, {"40", "allow_idmap"}, {"41", "over_io_uring"},
            {"42", "request_timeout"},
        };
        for (String[] e : n) {
            NAMES[Integer.parseInt(e[0])] = e[1];
        }
    }

    /** The names of the bits set in {@code flags} (bit numbers for bits fuseguard does not know). */
    public static List<String> names(long flags) {
        List<String> out = new ArrayList<>();
        for (int bit = 0; bit < 64; bit++) {
            if ((flags & (1L << bit)) != 0) {
                out.add(NAMES[bit] != null ? NAMES[bit] : "bit" + bit);
            }
        }
        return out;
    }
}
