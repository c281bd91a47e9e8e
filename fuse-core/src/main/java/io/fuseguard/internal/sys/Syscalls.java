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
 * The handful of libc calls and system calls the request loop and the mount lifecycle make (no libfuse: the
 * mount is made with the kernel's interfaces or the fusermount helper), bound directly through jffi (no
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
    public static final int ENOTTY = 25;
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
    public static final int ESTALE = 116;

    /** {@code MNT_DETACH}: lazy unmount. */
    public static final int MNT_DETACH = 2;

    private static final Invoker INVOKER = Invoker.getInstance();
    private static final LastError LAST_ERROR = LastError.getInstance();
    private static final MemoryIO MEMORY = MemoryIO.getInstance();
    private static final Library LIBC = Library.getDefault();

    private static final CallContext L0 = context(0);
    private static final CallContext L1 = context(1);
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
    private static final long GETUID = symbol("getuid");
    private static final long DUP = symbol("dup");
    private static final long DUP2 = symbol("dup2");
    private static final long OPEN = symbol("open");
    private static final long FCNTL = symbol("fcntl");
    private static final long GETGID = symbol("getgid");
    private static final long MOUNT = symbol("mount");
    private static final long SOCKETPAIR = symbol("socketpair");
    private static final long SOCKET = symbol("socket");
    private static final long RECVMSG = symbol("recvmsg");
    private static final long SENDMSG = symbol("sendmsg");
    private static final long FTRUNCATE = symbol("ftruncate");
    private static final long IOCTL = symbol("ioctl");
    private static final long POLL = symbol("poll");
    private static final long WAITPID = symbol("waitpid");
    private static final long KILL = symbol("kill");
    private static final long PREAD = symbol("pread");
    private static final long LSEEK = symbol("lseek");
    private static final long SPAWN = symbol("posix_spawn");
    private static final long FA_INIT = symbol("posix_spawn_file_actions_init");
    private static final long FA_DESTROY = symbol("posix_spawn_file_actions_destroy");
    private static final long FA_DUP2 = symbol("posix_spawn_file_actions_adddup2");
    private static final long FA_OPEN = symbol("posix_spawn_file_actions_addopen");
    private static final long FA_CLOSE = symbol("posix_spawn_file_actions_addclose");
    /** glibc 2.34 and later; without it every inherited descriptor is closed one by one. */
    private static final long FA_CLOSEFROM = LIBC.getSymbolAddress("posix_spawn_file_actions_addclosefrom_np");
    private static final long ATTR_INIT = symbol("posix_spawnattr_init");
    private static final long ATTR_DESTROY = symbol("posix_spawnattr_destroy");
    private static final long ATTR_SETFLAGS = symbol("posix_spawnattr_setflags");
    private static final long ATTR_SETSIGMASK = symbol("posix_spawnattr_setsigmask");
    private static final long ATTR_SETSIGDEFAULT = symbol("posix_spawnattr_setsigdefault");
    private static final long SIGEMPTYSET = symbol("sigemptyset");
    private static final long SIGFILLSET = symbol("sigfillset");

    /** x86_64 and aarch64 system call numbers of gettid and tgkill (glibc before 2.30 has no wrappers). */
    private static final boolean AARCH64 = System.getProperty("os.arch", "").contains("aarch64");
    private static final long SYS_GETTID = AARCH64 ? 178 : 186;
    private static final long SYS_TGKILL = AARCH64 ? 131 : 234;
    private static final long SYS_MEMFD_CREATE = AARCH64 ? 279 : 319;
    /** The new mount API has the same numbers on every architecture (added after the tables were unified). */
    private static final long SYS_MOVE_MOUNT = 429;
    private static final long SYS_FSOPEN = 430;
    private static final long SYS_FSCONFIG = 431;
    private static final long SYS_FSMOUNT = 432;

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

    /** fcntl(F_DUPFD_CLOEXEC): a close-on-exec copy numbered at least {@code min}, or -errno. */
    public static int dupCloseOnExecAbove(int fd, int min) {
        return resultInt(INVOKER.invokeN3(L3, FCNTL, fd, 1030, min));
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

    /** Frees the pages of a shared file mapping (MADV_REMOVE): the file reads as zeros there afterwards. */
    public static void discardShared(long address, long length) {
        INVOKER.invokeN3(L3, MADVISE, address, length, 9 /* MADV_REMOVE */);
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

    /** Stores a long. */
    private static void putLong(long at, long value) {
        MEMORY.putLong(at, value);
    }

    /** Runs {@code body} with C copies of {@code strings} (null stays NULL), freeing them afterwards. */
    private static long withStrings(java.util.function.ToLongFunction<long[]> body, String... strings) {
        long[] c = new long[strings.length];
        try {
            for (int i = 0; i < strings.length; i++) {
                c[i] = strings[i] == null ? 0 : cString(strings[i]);
            }
            return body.applyAsLong(c);
        } finally {
            for (long p : c) {
                free(p);
            }
        }
    }

    /** mount(2): 0 or -errno. */
    public static int mount(String source, String target, String type, long flags, String data) {
        return (int) withStrings(c -> resultInt(INVOKER.invokeN6(L6, MOUNT, c[0], c[1], c[2], flags, c[3], 0)),
                source, target, type, data);
    }

    /** fsopen(2) with FSOPEN_CLOEXEC: a filesystem context descriptor, or -errno. */
    public static int fsopen(String fsType) {
        return (int) withStrings(c -> result(INVOKER.invokeN6(L6, SYSCALL, SYS_FSOPEN, c[0], 1, 0, 0, 0)),
                fsType);
    }

    /** fsconfig(2) of a string ({@code value} set) or a flag ({@code value} null); 0 or -errno. */
    public static int fsconfigSet(int fsfd, String key, String value) {
        long cmd = value == null ? 0 /* FSCONFIG_SET_FLAG */ : 1 /* FSCONFIG_SET_STRING */;
        return (int) withStrings(c -> result(INVOKER.invokeN6(L6, SYSCALL, SYS_FSCONFIG, fsfd, cmd, c[0], c[1], 0)),
                key, value);
    }

    /** fsconfig(2) FSCONFIG_CMD_CREATE: makes the superblock; 0 or -errno (the context's log says why). */
    public static int fsconfigCreate(int fsfd) {
        return (int) result(INVOKER.invokeN6(L6, SYSCALL, SYS_FSCONFIG, fsfd, 6, 0, 0, 0));
    }

    /**
     * The messages a filesystem context logged (the kernel's own words for a refused parameter), oldest first;
     * each starts with {@code e }, {@code w } or {@code i } (error, warning, information).
     */
    public static java.util.List<String> fsContextLog(int fsfd) {
        java.util.List<String> out = new java.util.ArrayList<>();
        long buf = allocate(1024);
        try {
            for (int i = 0; i < 64; i++) {
                long n = read(fsfd, buf, 1023);
                if (n <= 0) {
                    break; // -ENODATA: the log is empty
                }
                byte[] b = new byte[(int) n];
                MEMORY.getByteArray(buf, b, 0, b.length);
                out.add(new String(b, StandardCharsets.UTF_8).trim());
            }
        } finally {
            free(buf);
        }
        return out;
    }

    /** fsmount(2) with FSMOUNT_CLOEXEC and the given MOUNT_ATTR_* flags: a detached mount's descriptor, or -errno. */
    public static int fsmount(int fsfd, long attributes) {
        return (int) result(INVOKER.invokeN6(L6, SYSCALL, SYS_FSMOUNT, fsfd, 1, attributes, 0, 0));
    }

    /** move_mount(2) of a detached mount descriptor onto {@code target} (MOVE_MOUNT_F_EMPTY_PATH); 0 or -errno. */
    public static int moveMount(int mountFd, String target) {
        return (int) withStrings(c -> result(INVOKER.invokeN6(L6, SYSCALL, SYS_MOVE_MOUNT, mountFd, c[0],
                -100 /* AT_FDCWD */, c[1], 0x4 /* MOVE_MOUNT_F_EMPTY_PATH */)), "", target);
    }

    /** ioctl(2) with a pointer (or number) argument: its result ({@code >= 0}) or -errno. */
    public static int ioctl(int fd, long request, long arg) {
        return resultInt(INVOKER.invokeN3(L3, IOCTL, fd, request, arg));
    }

    /**
     * {@code FUSE_DEV_IOC_BACKING_OPEN}: registers {@code backingFd} (a regular file the daemon has open) with the
     * connection of {@code deviceFd}, using {@code scratch} (16 bytes of native memory the caller owns) for the
     * {@code struct fuse_backing_map}. The backing id ({@code > 0}), or -errno: EPERM without {@code CAP_SYS_ADMIN}
     * in the initial user namespace or when passthrough was not negotiated, ELOOP for a file on a stacked
     * filesystem deeper than the negotiated {@code max_stack_depth}, EINVAL/EBADF for what cannot back a file.
     */
    public static int backingOpen(int deviceFd, int backingFd, long scratch) {
        MEMORY.putInt(scratch, backingFd);
        MEMORY.putInt(scratch + 4, 0);
        MEMORY.putLong(scratch + 8, 0);
        return ioctl(deviceFd, io.fuseguard.internal.wire.Fuse.DEV_IOC_BACKING_OPEN, scratch);
    }

    /** {@code FUSE_DEV_IOC_BACKING_CLOSE} of a backing id ({@code scratch}: 4 bytes the caller owns); 0 or -errno. */
    public static int backingClose(int deviceFd, int backingId, long scratch) {
        MEMORY.putInt(scratch, backingId);
        return ioctl(deviceFd, io.fuseguard.internal.wire.Fuse.DEV_IOC_BACKING_CLOSE, scratch);
    }

    /**
     * A new descriptor of {@code /dev/fuse} attached to the connection of {@code deviceFd}
     * ({@code FUSE_DEV_IOC_CLONE}), close-on-exec: requests read from it are answered through it. The descriptor,
     * or -errno.
     */
    public static int cloneDevice(int deviceFd) {
        int fd = openReadWrite("/dev/fuse");
        if (fd < 0) {
            return fd;
        }
        long arg = allocate(4);
        try {
            MEMORY.putInt(arg, deviceFd);
            int r = ioctl(fd, io.fuseguard.internal.wire.Fuse.DEV_IOC_CLONE, arg);
            if (r < 0) {
                close(fd);
                return r;
            }
            return fd;
        } finally {
            free(arg);
        }
    }

    /** memfd_create(2) with MFD_CLOEXEC: an anonymous file, or -errno. */
    public static int memfd(String name) {
        return (int) withStrings(c -> result(INVOKER.invokeN6(L6, SYSCALL, SYS_MEMFD_CREATE, c[0], 1, 0, 0, 0)),
                name);
    }

    /** The whole content of a file from its start, up to {@code limit} bytes (pread(2), lseek(2)). */
    public static byte[] readAll(int fd, int limit) {
        long size = result(INVOKER.invokeN3(L3, LSEEK, fd, 0, 2 /* SEEK_END */));
        if (size <= 0) {
            return new byte[0];
        }
        int n = (int) Math.min(size, limit);
        long buf = allocate(n);
        try {
            long got = result(INVOKER.invokeN6(L6, PREAD, fd, buf, n, 0, 0, 0));
            byte[] b = new byte[(int) Math.max(0, got)];
            MEMORY.getByteArray(buf, b, 0, b.length);
            return b;
        } finally {
            free(buf);
        }
    }

    /** socketpair(2) of a Unix stream socket pair, both ends close-on-exec; 0 or -errno. */
    public static int socketPair(int[] ends) {
        long sv = allocate(8);
        try {
            int r = resultInt(INVOKER.invokeN6(L6, SOCKETPAIR, 1 /* AF_UNIX */, 1 | 02000000 /* STREAM|CLOEXEC */,
                    0, sv, 0, 0));
            if (r == 0) {
                ends[0] = MEMORY.getInt(sv);
                ends[1] = MEMORY.getInt(sv + 4);
            }
            return r;
        } finally {
            free(sv);
        }
    }

    /**
     * A shared mapping of a file (a memfd), read and write: what one process stores there, another that maps the
     * same file sees, and it outlives the process that wrote it. Never unmapped by the framework.
     */
    public static long mapShared(int fd, long length) {
        long r = INVOKER.invokeN6(L6, MMAP, 0, length, 3 /* PROT_READ|WRITE */, 0x01 /* MAP_SHARED */, fd, 0);
        if (r == -1L) {
            throw new IllegalStateException("mmap of " + length + " bytes of descriptor " + fd + " failed: errno "
                    + LAST_ERROR.get());
        }
        return r;
    }

    /** ftruncate(2): 0 or -errno. */
    public static int ftruncate(int fd, long length) {
        return resultInt(INVOKER.invokeN3(L3, FTRUNCATE, fd, length, 0));
    }

    /** A long load from native memory. */
    public static long getLong(long at) {
        return MEMORY.getLong(at);
    }

    /** An int load from native memory. */
    public static int getInt(long at) {
        return MEMORY.getInt(at);
    }

    /** A long store to native memory (public twin of the private helper). */
    public static void storeLong(long at, long value) {
        MEMORY.putLong(at, value);
    }

    /** Copies bytes from native memory into an array. */
    public static void getBytes(long from, byte[] to, int offset, int length) {
        MEMORY.getByteArray(from, to, offset, length);
    }

    /** Copies bytes from an array into native memory. */
    public static void putBytes(long to, byte[] from, int offset, int length) {
        MEMORY.putByteArray(to, from, offset, length);
    }

    /**
     * Sends {@code data} (at least one byte) over a Unix socket with descriptors attached (SCM_RIGHTS), the way
     * a supervisor hands /dev/fuse to a worker or to systemd's descriptor store: bytes sent, or -errno. Retries
     * on EINTR.
     */
    public static long sendDescriptors(int socket, byte[] data, int[] fds) {
        return sendMessage(socket, 0, 0, data, fds);
    }

    /**
     * Sends one datagram with descriptors attached to the Unix socket at {@code address} (a path, or an abstract
     * name when it starts with {@code @}), the way a service hands descriptors to systemd's store through
     * {@code $NOTIFY_SOCKET}: bytes sent, or -errno ({@code -EINVAL} for an address that is neither).
     */
    public static long sendDatagram(String address, byte[] data, int[] fds) {
        byte[] path = address.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        boolean abstractName = path.length > 0 && path[0] == '@';
        if (path.length == 0 || path.length >= 108 || (path[0] != '/' && !abstractName)) {
            return -EINVAL;
        }
        int fd = resultInt(INVOKER.invokeN3(L3, SOCKET, 1 /* AF_UNIX */, 2 | 02000000 /* DGRAM|CLOEXEC */, 0));
        if (fd < 0) {
            return fd;
        }
        // struct sockaddr_un: the family, then the path; an abstract name starts with NUL instead of '@' and is
        // not NUL-terminated (the address length says where it ends)
        int nameLength = 2 + path.length + (abstractName ? 0 : 1);
        long name = allocate(2 + 108);
        try {
            MEMORY.putShort(name, (short) 1);
            MEMORY.putByteArray(name + 2, path, 0, path.length);
            MEMORY.putByte(name + 2 + path.length, (byte) 0);
            if (abstractName) {
                MEMORY.putByte(name + 2, (byte) 0);
            }
            return sendMessage(fd, name, nameLength, data, fds);
        } finally {
            free(name);
            close(fd);
        }
    }

    private static long sendMessage(int socket, long name, int nameLength, byte[] data, int[] fds) {
        int controlLength = 16 + 4 * fds.length;
        int space = (controlLength + 7) & ~7;
        long msg = allocate(56 + 16 + data.length + space);
        long iov = msg + 56;
        long buf = iov + 16;
        long control = buf + data.length;
        try {
            MEMORY.putByteArray(buf, data, 0, data.length);
            putAddress(iov, buf);
            putLong(iov + 8, data.length);
            if (name != 0) {
                putAddress(msg, name);
                MEMORY.putInt(msg + 8, nameLength);
            }
            putAddress(msg + 16, iov);
            putLong(msg + 24, 1);
            if (fds.length > 0) {
                putAddress(msg + 32, control);
                putLong(msg + 40, space);
                putLong(control, controlLength); // cmsg_len
                MEMORY.putInt(control + 8, 1); // SOL_SOCKET
                MEMORY.putInt(control + 12, 1); // SCM_RIGHTS
                for (int i = 0; i < fds.length; i++) {
                    MEMORY.putInt(control + 16 + 4L * i, fds[i]);
                }
            }
            long n;
            do {
                n = result(INVOKER.invokeN3(L3, SENDMSG, socket, msg, 0x4000 /* MSG_NOSIGNAL */));
            } while (n == -EINTR);
            return n;
        } finally {
            free(msg);
        }
    }

    /**
     * Receives a message of up to {@code maxData} bytes with up to {@code maxFds} descriptors (SCM_RIGHTS,
     * close-on-exec): the bytes in {@code data[0]} and the descriptors in {@code fds[0]}; returns the byte count,
     * 0 at the end of the stream, or -errno. Retries on EINTR.
     */
    public static long receiveDescriptors(int socket, int maxData, int maxFds, byte[][] data, int[][] fds) {
        int space = (16 + 4 * maxFds + 7) & ~7;
        long msg = allocate(56 + 16 + maxData + space);
        long iov = msg + 56;
        long buf = iov + 16;
        long control = buf + maxData;
        try {
            putAddress(iov, buf);
            putLong(iov + 8, maxData);
            putAddress(msg + 16, iov);
            putLong(msg + 24, 1);
            putAddress(msg + 32, control);
            putLong(msg + 40, space);
            long n;
            do {
                n = result(INVOKER.invokeN3(L3, RECVMSG, socket, msg, 0x40000000 /* MSG_CMSG_CLOEXEC */));
            } while (n == -EINTR);
            if (n <= 0) {
                return n;
            }
            byte[] d = new byte[(int) n];
            MEMORY.getByteArray(buf, d, 0, d.length);
            data[0] = d;
            long controlLength = MEMORY.getLong(msg + 40);
            int count = 0;
            int[] got = new int[maxFds];
            if (controlLength >= 16 && MEMORY.getInt(control + 8) == 1 && MEMORY.getInt(control + 12) == 1) {
                long len = MEMORY.getLong(control);
                count = (int) Math.min(maxFds, (len - 16) / 4);
                for (int i = 0; i < count; i++) {
                    got[i] = MEMORY.getInt(control + 16 + 4L * i);
                }
            }
            fds[0] = java.util.Arrays.copyOf(got, count);
            return n;
        } finally {
            free(msg);
        }
    }

    /** What {@link #receiveDescriptor} returns when the other end closed the socket without sending one. */
    public static final int END_OF_STREAM = Integer.MIN_VALUE;

    /**
     * Receives one byte with a descriptor attached (SCM_RIGHTS) from a Unix socket, close-on-exec from the start
     * (MSG_CMSG_CLOEXEC): the descriptor, {@link #END_OF_STREAM}, or -errno ({@code -EPROTO} when the message
     * carried no descriptor). Retries on EINTR.
     */
    public static int receiveDescriptor(int socket) {
        // struct msghdr (56 bytes), one struct iovec (16), a control buffer with room for one cmsghdr + int
        long msg = allocate(56 + 16 + 1 + 64);
        long iov = msg + 56;
        long data = iov + 16;
        long control = data + 1;
        try {
            putAddress(iov, data);
            putLong(iov + 8, 1);
            putAddress(msg + 16, iov);
            putLong(msg + 24, 1);
            putAddress(msg + 32, control);
            putLong(msg + 40, 64);
            long n;
            do {
                n = result(INVOKER.invokeN3(L3, RECVMSG, socket, msg, 0x40000000 /* MSG_CMSG_CLOEXEC */));
            } while (n == -EINTR);
            if (n < 0) {
                return (int) n;
            }
            if (n == 0) {
                return END_OF_STREAM;
            }
            long controlLength = MEMORY.getLong(msg + 40);
            // cmsghdr: size_t len, int level, int type, then the data
            if (controlLength < 20 || MEMORY.getInt(control + 8) != 1 /* SOL_SOCKET */
                    || MEMORY.getInt(control + 12) != 1 /* SCM_RIGHTS */) {
                return -EPROTO;
            }
            return MEMORY.getInt(control + 16);
        } finally {
            free(msg);
        }
    }

    /** poll(2) of one descriptor: its revents, 0 on timeout, or -errno. */
    public static int poll(int fd, int events, int timeoutMillis) {
        long p = allocate(8);
        try {
            MEMORY.putInt(p, fd);
            MEMORY.putShort(p + 4, (short) events);
            int r = resultInt(INVOKER.invokeN3(L3, POLL, p, 1, timeoutMillis));
            return r <= 0 ? r : MEMORY.getShort(p + 6) & 0xffff;
        } finally {
            free(p);
        }
    }

    /**
     * waitpid(2) of one child: its raw wait status, {@code -EAGAIN} if {@code noHang} and it is still running,
     * or -errno (ECHILD: not a child, or reaped already).
     */
    public static int waitpid(int pid, boolean noHang) {
        long status = allocate(4);
        try {
            int r;
            do {
                r = resultInt(INVOKER.invokeN3(L3, WAITPID, pid, status, noHang ? 1 /* WNOHANG */ : 0));
            } while (r == -EINTR);
            if (r == 0) {
                return -EAGAIN;
            }
            return r < 0 ? r : MEMORY.getInt(status);
        } finally {
            free(status);
        }
    }

    /** kill(2): 0 or -errno. */
    public static int kill(int pid, int signal) {
        return resultInt(INVOKER.invokeN3(L3, KILL, pid, signal, 0));
    }

    /**
     * Starts a program with exactly the descriptors given and nothing else inherited (posix_spawn(3)): child
     * descriptor {@code i} is a copy of {@code childFds[i]}, or /dev/null where that is -1; every other
     * descriptor is closed in the child, also ones the JVM opened without close-on-exec. The child starts with
     * no signal blocked and every signal at its default action. The pid, or -errno.
     *
     * @param path    the program's absolute path
     * @param argv    its arguments, {@code argv[0]} included
     * @param env     its whole environment, {@code NAME=value} each
     * @param childFds for each child descriptor number from 0, the parent descriptor to copy, or -1
     */
    public static int spawn(String path, java.util.List<String> argv, java.util.List<String> env, int[] childFds) {
        int n = childFds.length;
        int[] sources = childFds.clone();
        java.util.List<Integer> moved = new java.util.ArrayList<>();
        java.util.List<Long> memory = new java.util.ArrayList<>();
        long actions = allocate(256); // posix_spawn_file_actions_t is 80 bytes in glibc
        long attr = allocate(512); // posix_spawnattr_t is 336 bytes in glibc
        long sigset = allocate(128);
        long pid = allocate(4);
        memory.addAll(java.util.List.of(actions, attr, sigset, pid));
        boolean actionsMade = false;
        boolean attrMade = false;
        try {
            // A source numbered below n could be overwritten by an earlier dup2 in the child: move it above.
            for (int i = 0; i < n; i++) {
                if (sources[i] >= 0 && sources[i] < n) {
                    int m = resultInt(INVOKER.invokeN3(L3, FCNTL, sources[i], 1030 /* F_DUPFD_CLOEXEC */, n));
                    if (m < 0) {
                        return m;
                    }
                    moved.add(m);
                    sources[i] = m;
                }
            }
            int r = (int) INVOKER.invokeN1(L1, FA_INIT, actions);
            if (r != 0) {
                return -r;
            }
            actionsMade = true;
            long devNull = cString("/dev/null");
            memory.add(devNull);
            for (int i = 0; i < n; i++) {
                r = sources[i] < 0
                        ? (int) INVOKER.invokeN6(L6, FA_OPEN, actions, i, devNull, 02 /* O_RDWR */, 0, 0)
                        : (int) INVOKER.invokeN3(L3, FA_DUP2, actions, sources[i], i);
                if (r != 0) {
                    return -r;
                }
            }
            if (FA_CLOSEFROM != 0) {
                r = (int) INVOKER.invokeN2(L2, FA_CLOSEFROM, actions, n);
                if (r != 0) {
                    return -r;
                }
            } else {
                for (int fd : openDescriptors()) {
                    if (fd >= n) {
                        INVOKER.invokeN2(L2, FA_CLOSE, actions, fd); // a descriptor closed meanwhile is skipped
                    }
                }
            }
            r = (int) INVOKER.invokeN1(L1, ATTR_INIT, attr);
            if (r != 0) {
                return -r;
            }
            attrMade = true;
            INVOKER.invokeN1(L1, SIGEMPTYSET, sigset);
            INVOKER.invokeN2(L2, ATTR_SETSIGMASK, attr, sigset);
            INVOKER.invokeN1(L1, SIGFILLSET, sigset);
            INVOKER.invokeN2(L2, ATTR_SETSIGDEFAULT, attr, sigset);
            INVOKER.invokeN2(L2, ATTR_SETFLAGS, attr, 0x04 | 0x08 /* SETSIGDEF | SETSIGMASK */);
            long p = cString(path);
            memory.add(p);
            long args = stringArray(argv, memory);
            long envp = stringArray(env, memory);
            r = (int) INVOKER.invokeN6(L6, SPAWN, pid, p, actions, attr, args, envp);
            return r != 0 ? -r : MEMORY.getInt(pid);
        } finally {
            if (actionsMade) {
                INVOKER.invokeN1(L1, FA_DESTROY, actions);
            }
            if (attrMade) {
                INVOKER.invokeN1(L1, ATTR_DESTROY, attr);
            }
            for (int m : moved) {
                close(m);
            }
            for (long m : memory) {
                free(m);
            }
        }
    }

    private static long stringArray(java.util.List<String> strings, java.util.List<Long> memory) {
        long array = allocate(8L * (strings.size() + 1));
        memory.add(array);
        for (int i = 0; i < strings.size(); i++) {
            long s = cString(strings.get(i));
            memory.add(s);
            putAddress(array + 8L * i, s);
        }
        return array;
    }

    private static java.util.List<Integer> openDescriptors() {
        java.util.List<Integer> out = new java.util.ArrayList<>();
        try (java.util.stream.Stream<java.nio.file.Path> s = java.nio.file.Files.list(java.nio.file.Path.of(
                "/proc/self/fd"))) {
            s.forEach(p -> out.add(Integer.parseInt(p.getFileName().toString())));
        } catch (java.io.IOException | RuntimeException e) {
            // without /proc nothing can be listed: only close-on-exec descriptors stay out of the child
        }
        return out;
    }
}
