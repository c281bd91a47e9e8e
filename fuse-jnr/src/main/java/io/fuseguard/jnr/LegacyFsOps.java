package io.fuseguard.jnr;

import io.fuseguard.config.FlushPolicy;
import io.fuseguard.internal.bridge.Failures;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.DirListing;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.ops.LockRecord;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.ops.OpenResult;
import io.fuseguard.internal.ops.StatfsResult;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;
import jnr.ffi.Pointer;
import ru.serce.jnrfuse.FuseFS;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.NotImplemented;

import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static io.fuseguard.internal.sys.Syscalls.ENOENT;
import static io.fuseguard.internal.sys.Syscalls.ENOSYS;
import static io.fuseguard.internal.sys.Syscalls.ENOTTY;
import static io.fuseguard.internal.sys.Syscalls.ERANGE;

/**
 * Serves an existing jnr-fuse filesystem unchanged, the way libfuse 2's high-level layer calls it: the same
 * operations with the same arguments (raw modes, {@code (uid_t)-1} for an unchanged owner, {@code fgetattr} and
 * {@code ftruncate} when a handle is known, utimens only when both times change and with the kernel's clock for
 * "now", the file's flags and lock owner in {@code fuse_file_info}, ERANGE for a result that is not an errno), the
 * same answers for operations it does not implement, {@code init} and {@code destroy}, and {@code getContext()}
 * that tells the caller of the request being handled. Structs and buffers are native memory owned by the request thread (never freed, not
 * reused before the handler returned), so a handler answered at its deadline cannot corrupt anything.
 */
final class LegacyFsOps implements FsOps {
    private static final Log LOG = Log.of(LegacyFsOps.class);
    /** fuse_write_in.write_flags: a write of the page cache (libfuse's {@code fi->writepage}). */
    private static final int WRITE_CACHE = 1;
    /** O_CREAT, O_EXCL, O_NOCTTY and O_TRUNC: open(2) clears them from the open file's flags. */
    private static final int OPEN_ONLY_FLAGS = 0100 | 0200 | 0400 | 01000;

    private final Set<String> oddResults = ConcurrentHashMap.newKeySet();
    private final FuseFS fs;
    private final Set<String> implemented;
    private final Failures failures;
    private final LegacyContext context;
    private volatile long privateData;

    /** A bridge for the jnr-fuse filesystem {@code fs}. */
    LegacyFsOps(FuseFS fs, EventReporter events) {
        this.fs = fs;
        this.implemented = implementedMethods(fs.getClass());
        this.failures = new Failures(events);
        this.context = LegacyContext.install(fs, this);
    }

    /** Names of the FuseFS methods {@code type} implements (those not marked {@link NotImplemented}). */
    static Set<String> implementedMethods(Class<?> type) {
        Set<String> names = new HashSet<>();
        for (Method m : type.getMethods()) {
            if (m.getDeclaringClass() != Object.class && !m.isAnnotationPresent(NotImplemented.class)) {
                names.add(m.getName());
            }
        }
        return names;
    }

    private boolean has(String method) {
        return implemented.contains(method);
    }

    long privateData() {
        return privateData;
    }

    @Override
    public boolean implementsFlush() {
        return has("flush");
    }

    @Override
    public List<String> behaviourNotes(FlushPolicy policy) {
        List<String> notes = new ArrayList<>();
        if (has("flush")) {
            switch (policy) {
                case DEFERRED -> notes.add("flush() runs when the kernel releases each file, just after close() "
                        + "returned, instead of inside close(); a flush failure no longer fails close() but goes "
                        + "to the listeners and to the next fsync of that handle; fsync runs flush() first when "
                        + "data was written since the last one");
                case NO_FLUSH -> notes.add("flush() is never called (FlushPolicy.NO_FLUSH)");
                default -> notes.add("flush() is answered after at most the FLUSH deadline; it goes on in the "
                        + "background if slower");
            }
        }
        if (has("lock")) {
            notes.add("lock(): a process's POSIX locks are released (F_UNLCK over the whole file, as libfuse's flush "
                    + "does) when the open file they were taken through is released, not at every close(): the "
                    + "kernel would send that unlock in FLUSH, which it never sends here");
        }
        for (String m : List.of("bmap", "write_buf", "read_buf")) {
            if (has(m)) {
                notes.add(m + "() is not called: the kernel gets ENOSYS and uses its default"
                        + (m.endsWith("_buf") ? " (read/write are called instead)" : ""));
            }
        }
        if (context == null) {
            notes.add("getContext() is not redirected (the filesystem does not extend AbstractFuseFS); use "
                    + "io.fuseguard.api.RequestContext.current() in handlers");
        }
        return notes;
    }

    // ---- scratch ---------------------------------------------------------------------------------------------

    private LegacyScratch scratch(OpContext c) {
        Object s = c.legacyScratch;
        if (s instanceof LegacyScratch ls) {
            return ls;
        }
        LegacyScratch ls = new LegacyScratch();
        c.legacyScratch = ls;
        return ls;
    }

    private int fail(OpContext c, Throwable t) {
        return failures.map(c, t);
    }

    /**
     * libfuse 2.9's answer for the result of an operation that succeeds with 0: a positive value, or one at or below
     * -1000, is not an errno ("fuse: bad error value") and is answered ERANGE, logged once per operation.
     */
    private int status(OpContext c, int rc) {
        if (rc <= 0 && rc > -1000) {
            return rc;
        }
        String op = c.operation == null ? "?" : c.operation.name();
        if (oddResults.size() < 256 && oddResults.add(op)) {
            LOG.warn("{} {} returned {}, neither 0 nor -errno: answered ERANGE, as libfuse 2 does (logged once per "
                    + "operation)", op, c.path, rc);
        }
        return -ERANGE;
    }

    /** A read or write handler that claims more bytes than asked: the kernel would answer EIO; so does this. */
    private int tooMany(OpContext c, int rc, int size) {
        String op = c.operation == null ? "?" : c.operation.name();
        if (oddResults.size() < 256 && oddResults.add(op + " count")) {
            LOG.warn("{} {} returned {} for a request of {} bytes: answered EIO, as the kernel does under plain "
                    + "libfuse (logged once per operation)", op, c.path, rc, size);
        }
        return -Syscalls.EIO;
    }

    // ---- lifecycle -------------------------------------------------------------------------------------------

    @Override
    public void init(OpContext c, int protoMajor, int protoMinor, int maxWrite, int maxReadahead) {
        if (!has("init")) {
            return;
        }
        LegacyScratch s = scratch(c);
        // struct fuse_conn_info of libfuse 2.9: proto_major, proto_minor, async_read, max_write, max_readahead,
        // capable, want, max_background, congestion_threshold, reserved[23]
        ByteBuffer conn = s.connInfo();
        for (int i = 0; i < 128; i += 4) {
            conn.putInt(i, 0);
        }
        conn.putInt(0, protoMajor);
        conn.putInt(4, protoMinor);
        conn.putInt(8, 1);
        conn.putInt(12, maxWrite);
        conn.putInt(16, maxReadahead);
        try {
            Pointer p = fs.init(s.connInfoPointer());
            privateData = p == null ? 0 : p.address();
        } catch (Throwable t) {
            fail(c, t);
        }
    }

    @Override
    public void destroy(OpContext c) {
        if (!has("destroy")) {
            return;
        }
        try {
            fs.destroy(privateData == 0 ? null : Pointer.wrap(LegacyScratch.RT, privateData));
        } catch (Throwable t) {
            fail(c, t);
        }
    }

    // ---- operations ------------------------------------------------------------------------------------------

    @Override
    public int getattr(OpContext c, String path, long fh, boolean hasFh, Attr out) {
        LegacyScratch s = scratch(c);
        s.clearStat();
        int rc;
        try {
            if (hasFh && has("fgetattr")) {
                rc = status(c, fs.fgetattr(path, s.stat, s.fileInfo(fh, 0)));
            } else if (path == null) {
                return -ENOENT;
            } else if (has("getattr")) {
                rc = status(c, fs.getattr(path, s.stat));
            } else {
                return -ENOSYS;
            }
        } catch (Throwable t) {
            return fail(c, t);
        }
        if (rc >= 0) {
            s.readStat(out);
        }
        return rc;
    }

    @Override
    public int readlink(OpContext c, String path, ByteBuffer out) {
        if (!has("readlink")) {
            return -ENOSYS;
        }
        LegacyScratch s = scratch(c);
        int size = out.remaining();
        long addr = Syscalls.address(out) + out.position();
        Pointer buf = s.pointer(addr, size);
        for (int i = 0; i < size; i++) {
            out.put(i, (byte) 0);
        }
        int rc;
        try {
            rc = fs.readlink(path, buf, size);
        } catch (Throwable t) {
            return fail(c, t);
        }
        if (rc < 0) {
            return rc;
        }
        int n = 0;
        while (n < size - 1 && out.get(n) != 0) {
            n++;
        }
        return n;
    }

    @Override
    public int mknod(OpContext c, String path, int mode, int rdev) {
        if (!has("mknod")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.mknod(path, Integer.toUnsignedLong(mode), Integer.toUnsignedLong(rdev)));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int mkdir(OpContext c, String path, int mode) {
        if (!has("mkdir")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.mkdir(path, Integer.toUnsignedLong(mode)));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int unlink(OpContext c, String path) {
        if (!has("unlink")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.unlink(path));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int rmdir(OpContext c, String path) {
        if (!has("rmdir")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.rmdir(path));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int symlink(OpContext c, String target, String path) {
        if (!has("symlink")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.symlink(target, path));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int rename(OpContext c, String from, String to, int flags) {
        if (!has("rename")) {
            return -ENOSYS;
        }
        if (flags != 0) {
            return -Syscalls.EINVAL; // jnr-fuse's rename has no flags: renameat2's answer for "unsupported"
        }
        try {
            return status(c, fs.rename(from, to));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int link(OpContext c, String from, String to) {
        if (!has("link")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.link(from, to));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int chmod(OpContext c, String path, int mode) {
        if (!has("chmod")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.chmod(path, Integer.toUnsignedLong(mode)));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int chown(OpContext c, String path, int uid, int gid) {
        if (!has("chown")) {
            return -ENOSYS;
        }
        try {
            // libfuse passes (uid_t) -1 for "unchanged", which jnr-fuse hands over as 4294967295
            return status(c, fs.chown(path, Integer.toUnsignedLong(uid), Integer.toUnsignedLong(gid)));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int touchCtime(OpContext c, String path) {
        return 0; // libfuse 2 never passed a ctime-only change on
    }

    @Override
    public int truncate(OpContext c, String path, long size, long fh, boolean hasFh) {
        try {
            if (hasFh && has("ftruncate")) {
                return status(c, fs.ftruncate(path, size, scratch(c).fileInfo(fh, 0)));
            }
            if (!has("truncate")) {
                return -ENOSYS;
            }
            return status(c, fs.truncate(path, size));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int utimens(OpContext c, String path, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec) {
        if (!has("utimens")) {
            return -ENOSYS;
        }
        if (atimeNsec == Fuse.UTIME_OMIT || mtimeNsec == Fuse.UTIME_OMIT) {
            // libfuse 2.9 calls utimens only when both times change (jnr-fuse sets no flag_utime_omit_ok), and
            // never with UTIME_OMIT, which a filesystem that stores the value would take for a time.
            return 0;
        }
        try {
            // UTIME_NOW: the kernel's own reading of its clock, which libfuse 2.9 passes in its place
            return status(c, fs.utimens(path, scratch(c).times(atimeSec,
                    atimeNsec == Fuse.UTIME_NOW ? c.kernelAtimeNsec : atimeNsec, mtimeSec,
                    mtimeNsec == Fuse.UTIME_NOW ? c.kernelMtimeNsec : mtimeNsec)));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int open(OpContext c, String path, int flags, OpenResult out) {
        if (!has("open")) {
            return 0;
        }
        LegacyScratch s = scratch(c);
        try {
            int rc = status(c, fs.open(path, s.fileInfo(0, flags)));
            s.readOpen(out);
            return rc;
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int create(OpContext c, String path, int mode, int flags, OpenResult out) {
        if (!has("create")) {
            return -ENOSYS;
        }
        LegacyScratch s = scratch(c);
        try {
            int rc = status(c, fs.create(path, Integer.toUnsignedLong(mode), s.fileInfo(0, flags)));
            s.readOpen(out);
            return rc;
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int read(OpContext c, String path, long fh, ByteBuffer dst, long offset) {
        if (!has("read")) {
            return -ENOSYS;
        }
        LegacyScratch s = scratch(c);
        int size = dst.remaining();
        long address = Syscalls.address(dst) + dst.position();
        // The handler's count cannot be checked against what it wrote: what it did not write reads as zeros,
        // never as an earlier request's bytes.
        Syscalls.zero(address, size);
        Pointer buf = s.pointer(address, size);
        try {
            int rc = fs.read(path, buf, size, offset, s.fileInfo(fh, c.fileFlags, c.lockOwner, false, false));
            return rc > size ? tooMany(c, rc, size) : rc < 0 ? status(c, rc) : rc;
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int write(OpContext c, String path, long fh, ByteBuffer src, long offset) {
        if (!has("write")) {
            return -ENOSYS;
        }
        LegacyScratch s = scratch(c);
        int size = src.remaining();
        try {
            int rc = fs.write(path, s.nativeOf(src), size, offset, s.fileInfo(fh, c.fileFlags, c.lockOwner,
                    (c.writeFlags & WRITE_CACHE) != 0, false));
            return rc > size ? tooMany(c, rc, size) : rc < 0 ? status(c, rc) : rc;
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int statfs(OpContext c, String path, StatfsResult out) {
        if (!has("statfs")) {
            return 0; // the defaults: nothing known
        }
        LegacyScratch s = scratch(c);
        try {
            s.clearStatvfs();
            int rc = status(c, fs.statfs(path, s.statvfs));
            if (rc >= 0) {
                s.readStatvfs(out);
            }
            return rc;
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int flush(OpContext c, String path, long fh) {
        if (!has("flush")) {
            return -ENOSYS;
        }
        try {
            // libfuse 2.9's flush: the flush bit and the closing owner (0 for a flush deferred to the release,
            // which knows no owner)
            return status(c, fs.flush(path, scratch(c).fileInfo(fh, 0, c.lockOwner, false, true)));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int release(OpContext c, String path, long fh, int flags) {
        if (!has("release")) {
            return 0;
        }
        try {
            // The kernel's RELEASE carries the file's f_flags, from which open(2) removed these.
            return fs.release(path, scratch(c).fileInfo(fh, flags & ~OPEN_ONLY_FLAGS));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int fsync(OpContext c, String path, long fh, boolean dataOnly) {
        if (!has("fsync")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.fsync(path, dataOnly ? 1 : 0, scratch(c).fileInfo(fh, 0)));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int fallocate(OpContext c, String path, long fh, int mode, long offset, long length) {
        if (!has("fallocate")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.fallocate(path, mode, offset, length, scratch(c).fileInfo(fh, 0)));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int opendir(OpContext c, String path, int flags, OpenResult out) {
        if (!has("opendir")) {
            return 0;
        }
        LegacyScratch s = scratch(c);
        try {
            int rc = status(c, fs.opendir(path, s.fileInfo(0, flags)));
            s.readOpen(out);
            return rc;
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int readdir(OpContext c, String path, long fh, DirListing out) {
        if (!has("readdir")) {
            return -ENOSYS;
        }
        LegacyScratch s = scratch(c);
        Filler filler = new Filler(out);
        try {
            return fs.readdir(path, s.pointer(s.fillBufAddress(), 8), filler, 0, s.fileInfo(fh, 0));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    /** Collects what a jnr-fuse readdir hands to its filler; never reports "buffer full". */
    private static final class Filler implements FuseFillDir {
        private final DirListing out;

        Filler(DirListing out) {
            this.out = out;
        }

        @Override
        public int apply(Pointer buf, ByteBuffer name, Pointer stbuf, long off) {
            if (name == null) {
                return 0;
            }
            ByteBuffer b = name.duplicate();
            int start = b.position();
            int end = start;
            while (end < b.limit() && b.get(end) != 0) {
                end++;
            }
            byte[] bytes = new byte[end - start];
            b.get(start, bytes);
            long ino = 0;
            int type = 0;
            if (stbuf != null) {
                ino = stbuf.getLong(8); // struct stat: st_ino at 8, st_mode at 24 (x86_64 and aarch64 glibc)
                type = stbuf.getInt(24) & 0170000;
            }
            if (bytes.length > 0) {
                out.add(new String(bytes, StandardCharsets.UTF_8), ino, type);
            }
            return 0;
        }
    }

    @Override
    public int releasedir(OpContext c, String path, long fh) {
        if (!has("releasedir")) {
            return 0;
        }
        try {
            return status(c, fs.releasedir(path, scratch(c).fileInfo(fh, 0)));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int fsyncdir(OpContext c, String path, long fh, boolean dataOnly) {
        if (!has("fsyncdir")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.fsyncdir(path, scratch(c).fileInfo(fh, 0)));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int setxattr(OpContext c, String path, String name, ByteBuffer value, int flags) {
        if (!has("setxattr")) {
            return -ENOSYS;
        }
        LegacyScratch s = scratch(c);
        try {
            return status(c, fs.setxattr(path, name, s.nativeOf(value), value.remaining(), flags));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int getxattr(OpContext c, String path, String name, ByteBuffer out) {
        if (!has("getxattr")) {
            return -ENOSYS;
        }
        LegacyScratch s = scratch(c);
        try {
            int size = out == null ? 0 : out.remaining();
            Pointer buf = out == null ? null : s.pointer(Syscalls.address(out) + out.position(), size);
            if (out != null) {
                Syscalls.zero(Syscalls.address(out) + out.position(), size);
            }
            int rc = fs.getxattr(path, name, buf, size);
            return out != null && rc > size ? -ERANGE : rc;
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int listxattr(OpContext c, String path, ByteBuffer out) {
        if (!has("listxattr")) {
            return -ENOSYS;
        }
        LegacyScratch s = scratch(c);
        try {
            int size = out == null ? 0 : out.remaining();
            Pointer buf = out == null ? null : s.pointer(Syscalls.address(out) + out.position(), size);
            if (out != null) {
                Syscalls.zero(Syscalls.address(out) + out.position(), size);
            }
            int rc = fs.listxattr(path, buf, size);
            return out != null && rc > size ? -ERANGE : rc;
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int removexattr(OpContext c, String path, String name) {
        if (!has("removexattr")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.removexattr(path, name));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int access(OpContext c, String path, int mask) {
        if (!has("access")) {
            return -ENOSYS;
        }
        try {
            return status(c, fs.access(path, mask));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    // ---- locks, ioctl, poll: libfuse 2's lock(), flock(), ioctl() and poll() -----------------------------------

    private static final int F_GETLK = 5;
    private static final int F_SETLK = 6;
    private static final int F_SETLKW = 7;
    private static final int LOCK_SH = 1;
    private static final int LOCK_EX = 2;
    private static final int LOCK_NB = 4;
    private static final int LOCK_UN = 8;

    @Override
    public boolean implementsLocks() {
        return has("lock");
    }

    @Override
    public boolean implementsFlock() {
        return has("flock");
    }

    @Override
    public int getlk(OpContext c, String path, long fh, long owner, LockRecord lock) {
        LegacyScratch s = scratch(c);
        try {
            int rc = fs.lock(path, s.fileInfo(fh, owner), F_GETLK, s.flock(lock.type, lock.start, lock.end,
                    lock.pid));
            if (rc >= 0) {
                s.readFlock(lock);
            }
            return rc;
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int setlk(OpContext c, String path, long fh, long owner, LockRecord lock, boolean wait) {
        LegacyScratch s = scratch(c);
        try {
            return fs.lock(path, s.fileInfo(fh, owner), wait ? F_SETLKW : F_SETLK,
                    s.flock(lock.type, lock.start, lock.end, lock.pid));
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    @Override
    public int flock(OpContext c, String path, long fh, long owner, int type, boolean wait) {
        int op = switch (type) {
            case 0 -> LOCK_SH; // F_RDLCK
            case 1 -> LOCK_EX; // F_WRLCK
            default -> LOCK_UN;
        };
        try {
            return fs.flock(path, scratch(c).fileInfo(fh, owner), wait || op == LOCK_UN ? op : op | LOCK_NB);
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    /**
     * libfuse 2's restricted ioctl: the argument's bytes in {@code data} (native memory: the reply buffer when
     * the ioctl returns bytes), the caller's argument as a pointer-sized number (never to be dereferenced: it is
     * an address in the caller's process), and ENOTTY for a directory, as libfuse 2 answers unless a filesystem
     * asked for directory ioctls.
     */
    @Override
    public int ioctl(OpContext c, String path, long fh, boolean directory, int cmd, long arg, int flags,
                     ByteBuffer data, int outSize) {
        if (!has("ioctl")) {
            return -ENOSYS;
        }
        if (directory) {
            return -ENOTTY;
        }
        LegacyScratch s = scratch(c);
        try {
            Pointer d = data.remaining() == 0 ? null : s.nativeOf(data);
            return fs.ioctl(path, cmd, arg == 0 ? null : Pointer.wrap(LegacyScratch.RT, arg),
                    s.fileInfo(fh, 0), Integer.toUnsignedLong(flags), d);
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    private volatile java.util.function.LongConsumer pollWaker = kh -> { };
    /** Poll handles handed out, by the kernel's handle; recycled when the filesystem destroys one. */
    private final java.util.Map<Long, Long> pollHandles = new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.concurrent.ConcurrentLinkedQueue<Long> freePollHandles =
            new java.util.concurrent.ConcurrentLinkedQueue<>();

    @Override
    public void pollWaker(java.util.function.LongConsumer wake) {
        this.pollWaker = wake;
    }

    /**
     * {@code poll()}: with {@code kh != 0} the filesystem gets a {@code struct fuse_pollhandle} that it may keep
     * and pass to {@code fuse_notify_poll} when the file becomes ready ({@link LegacyContext} routes that call to
     * the mount's notifier). The struct's memory is never freed: one destroyed is reused for another file, so a
     * handle used after its destruction can only wake a poller needlessly (the kernel polls again), never
     * crash the daemon.
     */
    @Override
    public int poll(OpContext c, String path, long fh, long kh, int events) {
        if (!has("poll")) {
            return -ENOSYS;
        }
        LegacyScratch s = scratch(c);
        try {
            Pointer revents = s.revents();
            int rc = fs.poll(path, s.fileInfo(fh, 0), kh == 0 ? null : pollHandle(kh), revents);
            return rc < 0 ? rc : revents.getInt(0);
        } catch (Throwable t) {
            return fail(c, t);
        }
    }

    private ru.serce.jnrfuse.struct.FusePollhandle pollHandle(long kh) {
        long address = pollHandles.computeIfAbsent(kh, k -> {
            Long free = freePollHandles.poll();
            return free != null ? free : Syscalls.allocate(24); // kh, ch, f (libfuse 2)
        });
        Pointer p = Pointer.wrap(LegacyScratch.RT, address, 24);
        p.putLong(0, kh);
        p.putLong(8, 0);
        p.putLong(16, 0);
        return ru.serce.jnrfuse.struct.FusePollhandle.of(p);
    }

    /** The filesystem's {@code fuse_notify_poll(ph)}: the kernel is told that the file became ready. */
    int notifyPoll(ru.serce.jnrfuse.struct.FusePollhandle ph) {
        if (ph == null) {
            return 0;
        }
        pollWaker.accept(ph.kh.get());
        return 0;
    }

    /** The filesystem's {@code fuse_pollhandle_destroy(ph)}: its memory is kept for the next handle. */
    void destroyPollHandle(ru.serce.jnrfuse.struct.FusePollhandle ph) {
        if (ph == null) {
            return;
        }
        Long address = pollHandles.remove(ph.kh.get());
        if (address != null) {
            freePollHandles.add(address);
        }
    }
}
