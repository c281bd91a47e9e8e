package io.fuseguard.jnr;

import io.fuseguard.internal.ops.LockRecord;
import io.fuseguard.internal.ops.OpenResult;
import io.fuseguard.internal.ops.StatfsResult;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.Flock;
import ru.serce.jnrfuse.struct.FuseContext;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

import java.nio.ByteBuffer;

/**
 * The native structs a jnr-fuse handler gets, owned by one thread and reused for each of its requests (libfuse
 * keeps them on the calling thread's stack). The memory is mapped once and never freed, so a late handler that
 * still holds a struct or pointer cannot make the process crash. Field offsets are those of glibc's structs on
 * 64-bit Linux, which is also jnr-fuse's layout.
 */
final class LegacyScratch {
    static final Runtime RT = Runtime.getSystemRuntime();
    private static final int STAT = 0;
    private static final int FILE_INFO = 160;
    private static final int STATVFS = 208;
    private static final int TIMES = 320;
    private static final int CONTEXT = 352;
    private static final int CONN = 400;
    private static final int FILL = 528;
    private static final int FLOCK = 600;
    private static final int REVENTS = 640;
    private static final int SIZE = 4096;
    /** The {@code flush} bit of fuse_file_info's bit field (after direct_io and keep_cache). */
    private static final int FI_FLUSH = 4;

    private final long base = Syscalls.mapAnonymous(SIZE);
    private final ByteBuffer mem = Syscalls.view(base, SIZE);
    final FileStat stat = FileStat.of(Pointer.wrap(RT, base + STAT));
    final FuseFileInfo fileInfo = FuseFileInfo.of(Pointer.wrap(RT, base + FILE_INFO));
    final Statvfs statvfs = Statvfs.of(Pointer.wrap(RT, base + STATVFS));
    final FuseContext context = FuseContext.of(Pointer.wrap(RT, base + CONTEXT));
    private final Timespec[] times = {Timespec.of(Pointer.wrap(RT, base + TIMES)),
        Timespec.of(Pointer.wrap(RT, base + TIMES + 16))};
    private final Pointer connInfo = Pointer.wrap(RT, base + CONN);
    final Flock flock = Flock.of(Pointer.wrap(RT, base + FLOCK));
    private final Pointer revents = Pointer.wrap(RT, base + REVENTS, 8);
    private long pointerAddress;
    private Pointer pointer;
    private long copyAddress;
    private int copyCapacity;
    private Pointer copyPointer;

    void clearStat() {
        for (int i = 0; i < 144; i += 8) {
            mem.putLong(STAT + i, 0);
        }
    }

    /** Reads {@code struct stat} into attributes. */
    void readStat(Attr a) {
        a.ino = mem.getLong(STAT + 8);
        a.nlink = (int) mem.getLong(STAT + 16);
        a.mode = mem.getInt(STAT + 24);
        a.uid = mem.getInt(STAT + 28);
        a.gid = mem.getInt(STAT + 32);
        a.rdev = (int) mem.getLong(STAT + 40);
        a.size = mem.getLong(STAT + 48);
        a.blksize = (int) mem.getLong(STAT + 56);
        a.blocks = mem.getLong(STAT + 64);
        a.atimeSec = mem.getLong(STAT + 72);
        a.atimeNsec = (int) mem.getLong(STAT + 80);
        a.mtimeSec = mem.getLong(STAT + 88);
        a.mtimeNsec = (int) mem.getLong(STAT + 96);
        a.ctimeSec = mem.getLong(STAT + 104);
        a.ctimeNsec = (int) mem.getLong(STAT + 112);
    }

    /** {@code struct fuse_file_info} with a handle and flags, everything else zero. */
    FuseFileInfo fileInfo(long fh, int flags) {
        for (int i = 0; i < 40; i += 8) {
            mem.putLong(FILE_INFO + i, 0);
        }
        mem.putInt(FILE_INFO, flags);
        mem.putLong(FILE_INFO + 24, fh);
        return fileInfo;
    }

    /**
     * {@code struct fuse_file_info} as libfuse 2.9 fills it for a READ, WRITE or FLUSH: the handle, the file's
     * flags, the lock owner, and the {@code writepage} and {@code flush} bits.
     */
    FuseFileInfo fileInfo(long fh, int flags, long lockOwner, boolean writepage, boolean flush) {
        fileInfo(fh, flags);
        mem.putInt(FILE_INFO + 16, writepage ? 1 : 0);
        mem.putInt(FILE_INFO + 20, flush ? FI_FLUSH : 0);
        mem.putLong(FILE_INFO + 32, lockOwner);
        return fileInfo;
    }

    /** {@code struct fuse_file_info} with a handle and the lock owner (lock and flock handlers). */
    FuseFileInfo fileInfo(long fh, long lockOwner) {
        fileInfo(fh, 0);
        mem.putLong(FILE_INFO + 32, lockOwner);
        return fileInfo;
    }

    /**
     * {@code struct flock} (64-bit glibc: l_type, l_whence as shorts, l_start, l_len, l_pid) for a lock from
     * {@code start} to {@code end} inclusive ({@code Long.MAX_VALUE}: to the end of the file, l_len 0).
     */
    Flock flock(int type, long start, long end, int pid) {
        for (int i = 0; i < 32; i += 8) {
            mem.putLong(FLOCK + i, 0);
        }
        mem.putShort(FLOCK, (short) type);
        mem.putLong(FLOCK + 8, start);
        mem.putLong(FLOCK + 16, end == Long.MAX_VALUE ? 0 : end - start + 1);
        mem.putInt(FLOCK + 24, pid);
        return flock;
    }

    /** Reads a {@code struct flock} a getlk handler filled into {@code out}. */
    void readFlock(LockRecord out) {
        long start = mem.getLong(FLOCK + 8);
        long len = mem.getLong(FLOCK + 16);
        out.set(mem.getShort(FLOCK), start, len == 0 ? Long.MAX_VALUE : start + len - 1, mem.getInt(FLOCK + 24));
    }

    /** The {@code unsigned *reventsp} of a poll handler, cleared. */
    Pointer revents() {
        mem.putLong(REVENTS, 0);
        return revents;
    }

    /** The handle and the direct_io, keep_cache and nonseekable bits an open handler set. */
    void readOpen(OpenResult out) {
        out.fh = mem.getLong(FILE_INFO + 24);
        int bits = mem.getInt(FILE_INFO + 20);
        int f = 0;
        if ((bits & 1) != 0) {
            f |= Fuse.FOPEN_DIRECT_IO;
        }
        if ((bits & 2) != 0) {
            f |= Fuse.FOPEN_KEEP_CACHE;
        }
        if ((bits & 8) != 0) {
            f |= Fuse.FOPEN_NONSEEKABLE;
        }
        out.openFlags = f;
    }

    void clearStatvfs() {
        for (int i = 0; i < 112; i += 8) {
            mem.putLong(STATVFS + i, 0);
        }
    }

    void readStatvfs(StatfsResult out) {
        out.bsize = mem.getLong(STATVFS);
        out.frsize = mem.getLong(STATVFS + 8);
        out.blocks = mem.getLong(STATVFS + 16);
        out.bfree = mem.getLong(STATVFS + 24);
        out.bavail = mem.getLong(STATVFS + 32);
        out.files = mem.getLong(STATVFS + 40);
        out.ffree = mem.getLong(STATVFS + 48);
        out.namelen = mem.getLong(STATVFS + 80);
    }

    Timespec[] times(long aSec, long aNsec, long mSec, long mNsec) {
        mem.putLong(TIMES, aSec);
        mem.putLong(TIMES + 8, aNsec);
        mem.putLong(TIMES + 16, mSec);
        mem.putLong(TIMES + 24, mNsec);
        return times;
    }

    /** {@code struct fuse_context} filled with the current request's caller. */
    FuseContext context(int uid, int gid, int pid, int umask, long privateData) {
        mem.putLong(CONTEXT, 0);
        mem.putInt(CONTEXT + 8, uid);
        mem.putInt(CONTEXT + 12, gid);
        mem.putInt(CONTEXT + 16, pid);
        mem.putInt(CONTEXT + 20, 0);
        mem.putLong(CONTEXT + 24, privateData);
        mem.putInt(CONTEXT + 32, umask);
        return context;
    }

    ByteBuffer connInfo() {
        return mem.duplicate().position(CONN).limit(CONN + 128).slice().order(java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    Pointer connInfoPointer() {
        return connInfo;
    }

    long fillBufAddress() {
        return base + FILL;
    }

    /** A jnr pointer to native memory, reusing the last one when the address is the same (a worker's buffer). */
    Pointer pointer(long address, long size) {
        if (address != pointerAddress || pointer == null || pointer.size() < size) {
            pointer = Pointer.wrap(RT, address, size);
            pointerAddress = address;
        }
        return pointer;
    }

    /** The data of {@code b} in native memory: its own when direct, else a copy in this thread's buffer. */
    Pointer nativeOf(ByteBuffer b) {
        if (b.isDirect()) {
            return pointer(Syscalls.address(b) + b.position(), b.remaining());
        }
        int n = b.remaining();
        if (n > copyCapacity) {
            // The old buffer is kept mapped (a late handler may still hold it); only its pages are dropped.
            if (copyAddress != 0) {
                Syscalls.discard(copyAddress, copyCapacity);
            }
            copyCapacity = Math.max(n, 65536);
            copyAddress = Syscalls.mapAnonymous(copyCapacity);
            copyPointer = Pointer.wrap(RT, copyAddress, copyCapacity);
        }
        Syscalls.view(copyAddress, copyCapacity).put(0, b.duplicate(), b.position(), n);
        return copyPointer;
    }
}
