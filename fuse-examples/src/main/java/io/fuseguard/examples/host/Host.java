package io.fuseguard.examples.host;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import jnr.ffi.LastError;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;

/**
 * The host's system calls as the examples use them: constants of the Linux ABI (x86-64 and arm64 share them,
 * except O_DIRECTORY and O_NOFOLLOW, which are chosen by architecture), and failures turned into the errno the
 * call set, so the FUSE caller sees exactly what the host said. The constants carry the names of the C headers
 * ({@code fcntl.h}, {@code sys/stat.h}, {@code linux/openat2.h}, {@code sys/xattr.h}).
 */
public final class Host {
    /** libc, loaded once. */
    public static final HostLibC LIBC = HostLibC.load();
    /** The jnr-ffi runtime (errno, native memory). */
    public static final jnr.ffi.Runtime RUNTIME = jnr.ffi.Runtime.getSystemRuntime();

    /** arm64 numbers O_DIRECTORY and O_NOFOLLOW differently from x86-64 (and most other architectures). */
    private static final boolean ARM64 = "aarch64".equals(System.getProperty("os.arch"));

    public static final int AT_FDCWD = -100;
    public static final int AT_SYMLINK_NOFOLLOW = 0x100;
    public static final int AT_REMOVEDIR = 0x200;
    public static final int AT_EMPTY_PATH = 0x1000;
    public static final int AT_STATX_SYNC_AS_STAT = 0;

    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 01;
    public static final int O_RDWR = 02;
    public static final int O_ACCMODE = 03;
    public static final int O_CREAT = 0100;
    public static final int O_EXCL = 0200;
    public static final int O_NOCTTY = 0400;
    public static final int O_TRUNC = 01000;
    public static final int O_APPEND = 02000;
    public static final int O_NONBLOCK = 04000;
    public static final int O_DSYNC = 010000;
    public static final int O_SYNC = 04010000;
    public static final int O_DIRECTORY = ARM64 ? 040000 : 0200000;
    public static final int O_NOFOLLOW = ARM64 ? 0100000 : 0400000;
    public static final int O_CLOEXEC = 02000000;
    public static final int O_PATH = 010000000;

    public static final int S_IFMT = 0170000;
    public static final int S_IFDIR = 0040000;
    public static final int S_IFREG = 0100000;
    public static final int S_IFLNK = 0120000;
    public static final int S_ISGID = 02000;

    public static final long UTIME_NOW = (1L << 30) - 1;
    public static final long UTIME_OMIT = (1L << 30) - 2;

    /** openat2(2) has the same number on every architecture (new system calls are numbered uniformly). */
    public static final long SYS_OPENAT2 = 437;
    public static final long RESOLVE_NO_MAGICLINKS = 0x02;
    public static final long RESOLVE_NO_SYMLINKS = 0x04;
    public static final long RESOLVE_BENEATH = 0x08;

    /** {@code O_TMPFILE}: {@code __O_TMPFILE} with {@code O_DIRECTORY}. */
    public static final int O_TMPFILE = 020000000 | O_DIRECTORY;
    public static final int AT_SYMLINK_FOLLOW = 0x400;

    public static final int F_RDLCK = 0;
    public static final int F_WRLCK = 1;
    public static final int F_UNLCK = 2;
    /** Open file description locks (Linux 3.15): owned by a descriptor's open file, not by the process. */
    public static final int F_OFD_GETLK = 36;
    public static final int F_OFD_SETLK = 37;
    public static final int LOCK_SH = 1;
    public static final int LOCK_EX = 2;
    public static final int LOCK_NB = 4;
    public static final int LOCK_UN = 8;

    public static final int XATTR_CREATE = 1;
    public static final int XATTR_REPLACE = 2;

    private Host() {
    }

    /** The errno of the last failed call on this thread. */
    public static int errno() {
        return LastError.getLastError(RUNTIME);
    }

    /** The name of a {@code struct dirent64} that {@code readdir(3)} returned, as the bytes it is made of. */
    public static byte[] direntName(Pointer dirent) {
        int nameAt = 19; // d_ino, d_off (8 bytes each), d_reclen (2), d_type (1)
        byte[] raw = new byte[dirent.indexOf(nameAt, (byte) 0, 256)];
        dirent.get(nameAt, raw, 0, raw.length);
        return raw;
    }

    /**
     * {@code length} bytes at {@code offset} as UTF-8, or null when they are not valid UTF-8: fuseguard's names are
     * Strings, and a lossy decoding would show two host names as one.
     */
    public static String utf8OrNull(byte[] bytes, int offset, int length) {
        try {
            return java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                    .decode(java.nio.ByteBuffer.wrap(bytes, offset, length)).toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            return null;
        }
    }

    /** The failure of the last call, as the exception fuseguard answers with that errno. */
    public static ErrnoException failure(String what) {
        int code = errno();
        Errno e = Errno.of(code);
        return new ErrnoException(e == null ? Errno.EIO : e, what + ": errno " + code);
    }

    /** {@code rc} if the call succeeded, else its errno thrown. */
    public static int check(int rc, String what) {
        if (rc < 0) {
            throw failure(what);
        }
        return rc;
    }

    /** As {@link #check(int, String)} for calls returning a size. */
    public static long check(long rc, String what) {
        if (rc < 0) {
            throw failure(what);
        }
        return rc;
    }

    /** Closes a descriptor this class opened; a failed close of a descriptor only read from loses nothing. */
    public static void close(int fd) {
        if (fd >= 0) {
            LIBC.close(fd);
        }
    }

    /** A native buffer of {@code size} bytes, freed by the garbage collector. */
    public static Pointer buffer(int size) {
        return Memory.allocateDirect(RUNTIME, size);
    }

    /** The path that reaches exactly the inode of an open descriptor (a symlink's own, for an O_PATH one). */
    public static String procPath(int fd) {
        return "/proc/self/fd/" + fd;
    }
}
