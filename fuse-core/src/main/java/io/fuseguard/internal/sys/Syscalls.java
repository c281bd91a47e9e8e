package io.fuseguard.internal.sys;

import com.kenai.jffi.CallContext;
import com.kenai.jffi.CallContextCache;
import com.kenai.jffi.CallingConvention;
import com.kenai.jffi.Invoker;
import com.kenai.jffi.LastError;
import com.kenai.jffi.Library;
import com.kenai.jffi.MemoryIO;
import com.kenai.jffi.Type;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The handful of libc calls the request loop and the mount lifecycle make, bound directly through jffi (no
 * generated jnr-ffi proxy: no class generation at start-up, one JNI call per system call). Every call that can
 * fail returns {@code -errno} instead of throwing, because the request loop handles errno values on its hot
 * path (EINTR, ENOENT of an interrupted request, ENODEV of an ended connection).
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class Syscalls {
    /** Linux errno values the framework handles by number. */
    public static final int EPERM = 1;
    public static final int EBADF = 9;
    public static final int ELOOP = 40;
    public static final int ENOENT = 2;
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EIO = 5;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EBUSY = 16;
    public static final int EEXIST = 17;
    public static final int ENODEV = 19;
    public static final int ENOTDIR = 20;
    public static final int EISDIR = 21;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EROFS = 30;
    public static final int ERANGE = 34;
    public static final int EDEADLK = 35;
    public static final int ENAMETOOLONG = 36;
    public static final int ENOSYS = 38;
    public static final int ENOTEMPTY = 39;
    public static final int ENODATA = 61;
    public static final int EPROTO = 71;
    public static final int EILSEQ = 84;
    public static final int EOVERFLOW = 75;
    public static final int EOPNOTSUPP = 95;
    public static final int ECONNABORTED = 103;
    public static final int ENOTCONN = 107;
    public static final int ETIMEDOUT = 110;

    /** {@code MNT_DETACH}: lazy unmount. */
    public static final int MNT_DETACH = 2;

    private static final Invoker INVOKER = Invoker.getInstance();
    private static final LastError LAST_ERROR = LastError.getInstance();
    private static final MemoryIO MEMORY = MemoryIO.getInstance();
    private static final Library LIBC = Library.getDefault();

    private static final CallContext L0 = context(0);
    private static final CallContext L2 = context(2);
    private static final CallContext L3 = context(3);
    private static final CallContext L6 = context(6);

    private static final long READ = symbol("read");
    private static final long WRITE = symbol("write");
    private static final long CLOSE = symbol("close");
    private static final long GETPID = symbol("getpid");
    private static final long SYSCALL = symbol("syscall");
    private static final long UMOUNT2 = symbol("umount2");
    private static final long MMAP = symbol("mmap");
    private static final long MADVISE = symbol("madvise");
    private static final long DLOPEN = symbol("dlopen");
    private static final long DLVSYM = symbol("dlvsym");
    private static final long GETUID = symbol("getuid");
    private static final long DUP = symbol("dup");
    private static final long DUP2 = symbol("dup2");
    private static final long OPEN = symbol("open");
    private static final long FCNTL = symbol("fcntl");
    private static final long GETGID = symbol("getgid");

    /** x86_64 and aarch64 system call numbers of gettid and tgkill (glibc before 2.30 has no wrappers). */
    private static final boolean AARCH64 = System.getProperty("os.arch", "").contains("aarch64");
    private static final long SYS_GETTID = AARCH64 ? 178 : 186;
    private static final long SYS_TGKILL = AARCH64 ? 131 : 234;

    private Syscalls() {
    }

    private static CallContext context(int params) {
        Type[] types = new Type[params];
        java.util.Arrays.fill(types, Type.SLONG);
        return CallContextCache.getInstance().getCallContext(Type.SLONG, types, CallingConvention.DEFAULT, true);
    }

    private static long symbol(String name) {
        long a = LIBC.getSymbolAddress(name);
        if (a == 0) {
            throw new UnsatisfiedLinkError("libc has no symbol " + name);
        }
        return a;
    }

    private static long result(long r) {
        return r < 0 ? -LAST_ERROR.get() : r;
    }

    /**
     * For functions returning a C {@code int}: the register's upper half is not part of the value, so -1 must be
     * read from the lower 32 bits (as a 64-bit value it would look like 4294967295).
     */
    private static int resultInt(long raw) {
        int r = (int) raw;
        return r < 0 ? -LAST_ERROR.get() : r;
    }

    /** read(2): bytes read, or -errno. */
    public static long read(int fd, long address, long length) {
        return result(INVOKER.invokeN3(L3, READ, fd, address, length));
    }

    /** write(2): bytes written, or -errno. */
    public static long write(int fd, long address, long length) {
        return result(INVOKER.invokeN3(L3, WRITE, fd, address, length));
    }

    /** close(2): 0 or -errno. */
    public static int close(int fd) {
        return resultInt(INVOKER.invokeN3(L3, CLOSE, fd, 0, 0));
    }

    /** dup(2): a new descriptor for the same open file, or -errno. */
    public static int dup(int fd) {
        return resultInt(INVOKER.invokeN3(L3, DUP, fd, 0, 0));
    }

    /** fcntl(F_DUPFD_CLOEXEC): a new close-on-exec descriptor for the same open file, or -errno. */
    public static int dupCloseOnExec(int fd) {
        return resultInt(INVOKER.invokeN3(L3, FCNTL, fd, 1030, 3));
    }

    /** dup2(2): atomically makes {@code to} refer to what {@code from} refers to; 0 or -errno. */
    public static int dup2(int from, int to) {
        int r = resultInt(INVOKER.invokeN3(L3, DUP2, from, to, 0));
        return r < 0 ? r : 0;
    }

    /** open(2) with O_RDWR|O_CLOEXEC; the descriptor or -errno. */
    public static int openReadWrite(String path) {
        long s = cString(path);
        try {
            return resultInt(INVOKER.invokeN3(L3, OPEN, s, 02 | 02000000, 0));
        } finally {
            MEMORY.freeMemory(s);
        }
    }

    /** The process id in the caller's pid namespace. */
    public static int getpid() {
        return (int) INVOKER.invokeN0(L0, GETPID);
    }

    /** The real user id of the process. */
    public static int getuid() {
        return (int) INVOKER.invokeN0(L0, GETUID);
    }

    /** The real group id of the process. */
    public static int getgid() {
        return (int) INVOKER.invokeN0(L0, GETGID);
    }

    /** The kernel id of the calling thread in its pid namespace (what FUSE puts in a request's pid field). */
    public static int gettid() {
        return (int) INVOKER.invokeN6(L6, SYSCALL, SYS_GETTID, 0, 0, 0, 0, 0);
    }

    /**
     * Whether {@code tid} is a thread of this process: {@code tgkill(getpid(), tid, 0)} succeeds only for a
     * thread of the given thread group. Works in any pid namespace without /proc.
     */
    public static boolean isOwnThread(int tid) {
        if (tid <= 0) {
            return false;
        }
        return (int) INVOKER.invokeN6(L6, SYSCALL, SYS_TGKILL, PID, tid, 0, 0, 0) == 0;
    }

    /** This process's id (the JVM never forks, so it is read once). */
    private static final int PID = getpid();

    /** umount2(2): 0 or -errno. */
    public static int umount2(String target, int flags) {
        long s = cString(target);
        try {
            return resultInt(INVOKER.invokeN3(L3, UMOUNT2, s, flags, 0));
        } finally {
            MEMORY.freeMemory(s);
        }
    }

    /**
     * Anonymous private memory that is never unmapped by the framework: pages are only backed once touched, and
     * a buffer handed to user code stays a valid address for the life of the process.
     */
    public static long mapAnonymous(long length) {
        long r = INVOKER.invokeN6(L6, MMAP, 0, length, 3 /* PROT_READ|WRITE */, 0x22 /* PRIVATE|ANONYMOUS */, -1, 0);
        if (r == -1L) {
            throw new OutOfMemoryError("mmap of " + length + " bytes failed: errno " + LAST_ERROR.get());
        }
        return r;
    }

    /** Gives the pages of a mapping back to the kernel; reading them afterwards yields zeros. */
    public static void discard(long address, long length) {
        INVOKER.invokeN3(L3, MADVISE, address, length, 4 /* MADV_DONTNEED */);
    }

    /** A little-endian direct view of native memory. */
    public static ByteBuffer view(long address, int length) {
        return MEMORY.newDirectByteBuffer(address, length).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The address of a direct buffer's first byte. */
    public static long address(ByteBuffer direct) {
        return MEMORY.getDirectBufferAddress(direct);
    }

    /** A NUL-terminated UTF-8 copy of {@code s} in malloc'ed memory; free it with {@link #free}. */
    public static long cString(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        long p = MEMORY.allocateMemory(b.length + 1L, true);
        MEMORY.putByteArray(p, b, 0, b.length);
        return p;
    }

    /** malloc(3) of zeroed memory. */
    public static long allocate(long size) {
        return MEMORY.allocateMemory(size, true);
    }

    /** free(3). */
    public static void free(long address) {
        if (address != 0) {
            MEMORY.freeMemory(address);
        }
    }

    /** Stores a pointer. */
    public static void putAddress(long at, long value) {
        MEMORY.putAddress(at, value);
    }

    /** Stores an int. */
    public static void putInt(long at, int value) {
        MEMORY.putInt(at, value);
    }

    /** Fills native memory with zeros. */
    public static void zero(long address, long length) {
        MEMORY.setMemory(address, length, (byte) 0);
    }

    /** Copies bytes between native memory regions. */
    public static void copy(long from, long to, long length) {
        MEMORY.copyMemory(from, to, length);
    }

    /** dlopen(3) with RTLD_NOW; 0 when the library cannot be loaded. */
    public static long dlopen(String library) {
        long s = cString(library);
        try {
            return INVOKER.invokeN2(L2, DLOPEN, s, 2 /* RTLD_NOW */);
        } finally {
            MEMORY.freeMemory(s);
        }
    }

    /** dlvsym(3): the address of a symbol of a given version, or 0. */
    public static long dlvsym(long handle, String symbol, String version) {
        long s = cString(symbol);
        long v = cString(version);
        try {
            return INVOKER.invokeN3(L3, DLVSYM, handle, s, v);
        } finally {
            MEMORY.freeMemory(s);
            MEMORY.freeMemory(v);
        }
    }

    /** Calls a native function of up to six integer or pointer arguments that returns an integer or pointer. */
    public static long call(long function, long... args) {
        long[] a = java.util.Arrays.copyOf(args, 6);
        return INVOKER.invokeN6(L6, function, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
}
