package io.fuseguard.internal.bridge;

import io.fuseguard.api.BackingFile;
import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.FallocateMode;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileLock;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.RenameMode;
import io.fuseguard.api.SeekWhence;
import io.fuseguard.api.XattrMode;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.ops.DirListing;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.ops.LockRecord;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.ops.OpenResult;
import io.fuseguard.internal.ops.StatfsResult;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

import static io.fuseguard.internal.sys.Syscalls.EINVAL;
import static io.fuseguard.internal.sys.Syscalls.ENOENT;
import static io.fuseguard.internal.sys.Syscalls.ENOSYS;
import static io.fuseguard.internal.sys.Syscalls.ERANGE;

/**
 * Serves a memory-safe {@link FuseFileSystem}: no pointer reaches it. Read and write data come as
 * {@link ByteBuffer}s over the request thread's own buffers (bounds-checked, never freed, and not reused before
 * the handler returned); everything else as Java values. Exceptions convert to errnos here.
 */
public final class JavaFsOps implements FsOps {
    private static final io.fuseguard.internal.log.Log LOG = io.fuseguard.internal.log.Log.of(JavaFsOps.class);
    private final FuseFileSystem fs;
    private final Failures failures;
    private final boolean hasFlush;
    private final boolean hasLocks;
    private final boolean hasFlock;
    private final boolean backsFiles;
    /**
     * Whether the filesystem overrides these xattr methods. One it does not is answered ENOSYS without a call, so
     * the kernel stops asking: before every write and chown it asks for {@code security.capability} otherwise.
     * The default methods' ENOTSUP stays what an override gets from {@code super}: an ENOSYS from there would
     * switch the kernel off the override's other names too.
     */
    private final boolean hasSetxattr;
    private final boolean hasGetxattr;
    private final boolean hasRemovexattr;

    /** A bridge for {@code fs}. */
    public JavaFsOps(FuseFileSystem fs, EventReporter events) {
        this.fs = fs;
        this.failures = new Failures(events);
        this.hasFlush = overrides(fs.getClass(), "flush", String.class, long.class);
        this.hasLocks = overrides(fs.getClass(), "setlk", String.class, long.class, long.class, FileLock.class,
                boolean.class);
        this.hasFlock = overrides(fs.getClass(), "flock", String.class, long.class, long.class,
                FileLock.Type.class, boolean.class);
        this.backsFiles = overrides(fs.getClass(), "backingFile", String.class, long.class, OpenFlags.class);
        this.hasSetxattr = overrides(fs.getClass(), "setxattr", String.class, String.class, byte[].class,
                XattrMode.class);
        this.hasGetxattr = overrides(fs.getClass(), "getxattr", String.class, String.class);
        this.hasRemovexattr = overrides(fs.getClass(), "removexattr", String.class, String.class);
        refuseOldSignatures(fs.getClass());
    }

    /**
     * A filesystem written against fuseguard's first API still compiles when its methods lack {@code @Override}:
     * they become overloads nobody calls, and the new methods' defaults answer instead (an {@code open} that
     * checked permissions would be skipped). Refused loudly, with the signature to change to.
     */
    static void refuseOldSignatures(Class<?> type) {
        Object[][] old = {
            {"open", new Class<?>[] {String.class, int.class}, "open(String, OpenFlags)"},
            {"create", new Class<?>[] {String.class, int.class, int.class}, "create(String, int, OpenFlags)"},
            {"release", new Class<?>[] {String.class, long.class, int.class}, "release(String, long, OpenFlags)"},
            {"mknod", new Class<?>[] {String.class, int.class, long.class}, "mknod(String, FileType, int, long)"},
            {"chown", new Class<?>[] {String.class, long.class, long.class},
                "chown(String, OptionalLong, OptionalLong)"},
            {"utimens", new Class<?>[] {String.class, Instant.class, Instant.class},
                "utimens(String, Optional<Instant>, Optional<Instant>)"},
            {"setxattr", new Class<?>[] {String.class, String.class, byte[].class, int.class},
                "setxattr(String, String, byte[], XattrMode)"},
        };
        List<String> found = new ArrayList<>();
        for (Object[] o : old) {
            try {
                type.getMethod((String) o[0], (Class<?>[]) o[1]);
                found.add(o[0] + " (change it to " + o[2] + ")");
            } catch (NoSuchMethodException e) {
                // not there: good
            }
        }
        if (!found.isEmpty()) {
            throw new IllegalArgumentException(type.getName() + " has methods with the signatures of fuseguard's "
                    + "old API, which would never be called: " + String.join("; ", found));
        }
    }

    static boolean overrides(Class<?> type, String name, Class<?>... params) {
        try {
            return type.getMethod(name, params).getDeclaringClass() != FuseFileSystem.class;
        } catch (NoSuchMethodException e) {
            return false;
        }
    }

    @Override
    public boolean reportsInodes() {
        return true;
    }

    @Override
    public boolean implementsFlush() {
        return hasFlush;
    }

    @Override
    public List<String> behaviourNotes(FlushPolicy policy) {
        List<String> notes = new ArrayList<>();
        if (hasFlush && policy == FlushPolicy.NO_FLUSH) {
            notes.add("its flush() is never called under FlushPolicy.NO_FLUSH (use DEFERRED, the default, to have "
                    + "it called when each file is released)");
        }
        return notes;
    }

    /** The filesystem served. */
    public FuseFileSystem fileSystem() {
        return fs;
    }

    @Override
    public void init(OpContext c, int protoMajor, int protoMinor, int maxWrite, int maxReadahead) {
        try {
            fs.init();
        } catch (Throwable t) {
            failures.map(c, t);
        }
    }

    @Override
    public void destroy(OpContext c) {
        try {
            fs.destroy();
        } catch (Throwable t) {
            failures.map(c, t);
        }
    }

    @Override
    public int getattr(OpContext c, String path, long fh, boolean hasFh, Attr out) {
        if (path == null) {
            return -ENOENT;
        }
        try {
            FileAttributes a = fs.getattr(path);
            if (a == null) {
                throw new IllegalStateException("getattr returned null");
            }
            Conversions.fill(out, a);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int readlink(OpContext c, String path, ByteBuffer out) {
        try {
            String target = fs.readlink(path);
            if (target == null) {
                throw new IllegalStateException("readlink returned null");
            }
            byte[] b = target.getBytes(StandardCharsets.UTF_8);
            int n = Math.min(b.length, out.remaining());
            out.put(0, b, 0, n);
            return n;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int mknod(OpContext c, String path, int mode, int rdev) {
        try {
            fs.mknod(path, FileType.ofMode(mode), mode & 07777, Integer.toUnsignedLong(rdev));
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int mkdir(OpContext c, String path, int mode) {
        try {
            fs.mkdir(path, mode & 07777);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int unlink(OpContext c, String path) {
        try {
            fs.unlink(path);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int rmdir(OpContext c, String path) {
        try {
            fs.rmdir(path);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int symlink(OpContext c, String target, String path) {
        try {
            fs.symlink(target, path);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int rename(OpContext c, String from, String to, int flags) {
        RenameMode mode = RenameMode.ofFlags(flags);
        if (mode == null) {
            return -Errno.EINVAL.code(); // RENAME_WHITEOUT: overlayfs' own
        }
        try {
            fs.rename(from, to, mode);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int link(OpContext c, String from, String to) {
        try {
            fs.link(from, to);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int chmod(OpContext c, String path, int mode) {
        try {
            fs.chmod(path, mode & 07777);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int chown(OpContext c, String path, int uid, int gid) {
        try {
            fs.chown(path, uid == -1 ? OptionalLong.empty() : OptionalLong.of(Integer.toUnsignedLong(uid)),
                    gid == -1 ? OptionalLong.empty() : OptionalLong.of(Integer.toUnsignedLong(gid)));
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int touchCtime(OpContext c, String path) {
        // chown(-1, -1) changes nothing but ctime; a filesystem that cannot chown simply keeps its ctime.
        int rc = chown(c, path, -1, -1);
        return rc == -ENOSYS ? 0 : rc;
    }

    @Override
    public int truncate(OpContext c, String path, long size, long fh, boolean hasFh) {
        try {
            fs.truncate(path, size);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int utimens(OpContext c, String path, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec) {
        try {
            fs.utimens(path, instant(atimeSec, atimeNsec), instant(mtimeSec, mtimeNsec));
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    private static Optional<Instant> instant(long sec, long nsec) {
        if (nsec == Fuse.UTIME_OMIT) {
            return Optional.empty();
        }
        if (nsec == Fuse.UTIME_NOW) {
            return Optional.of(Instant.now());
        }
        return Optional.of(Instant.ofEpochSecond(sec, nsec));
    }

    @Override
    public int open(OpContext c, String path, int flags, OpenResult out) {
        try {
            out.fh = fs.open(path, OpenFlags.of(flags));
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int reopen(OpContext c, String path, int flags, OpenResult out) {
        try {
            out.fh = fs.reopen(path, OpenFlags.of(flags));
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int create(OpContext c, String path, int mode, int flags, OpenResult out) {
        try {
            out.fh = fs.create(path, mode & 07777, OpenFlags.of(flags));
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public boolean backsFiles() {
        return backsFiles;
    }

    @Override
    public int backingFile(OpContext c, String path, long fh, int flags) {
        try {
            BackingFile b = fs.backingFile(path, fh, OpenFlags.of(flags));
            if (b == null) {
                return NO_BACKING;
            }
            return b.descriptor() >= 0 ? b.descriptor() : UNKNOWN_DESCRIPTOR;
        } catch (Throwable t) {
            failures.map(c, t); // logged as any handler's failure; the open itself succeeded and falls back
            return NO_BACKING;
        }
    }

    @Override
    public int read(OpContext c, String path, long fh, ByteBuffer dst, long offset) {
        try {
            int n = fs.read(path, fh, dst, offset);
            if (n < -1) {
                throw new IllegalStateException("read returned " + n);
            }
            // The bytes the handler put are the truth: a larger count would hand the caller whatever the buffer
            // held before (another request's bytes, another file's content).
            int put = dst.position();
            if (n != put && !(n == -1 && put == 0)) {
                countMismatch(path, n, put);
            }
            return put;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    private volatile boolean countMismatchLogged;

    private void countMismatch(String path, int returned, int put) {
        if (!countMismatchLogged) {
            countMismatchLogged = true; // once per mount: a benign race may log it twice
            LOG.warn("read of {} returned {} but put {} bytes into its buffer; answered the {} bytes it put "
                    + "(dst.position() counts, so no byte the handler did not write reaches a caller). Logged once.",
                    path, returned, put, put);
        }
    }

    @Override
    public int write(OpContext c, String path, long fh, ByteBuffer src, long offset) {
        try {
            int n = fs.write(path, fh, src, offset);
            if (n < 0) {
                throw new IllegalStateException("write returned " + n);
            }
            return n;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int statfs(OpContext c, String path, StatfsResult out) {
        try {
            FsStats st = fs.statfs(path);
            if (st == null) {
                throw new IllegalStateException("statfs returned null");
            }
            out.bsize = st.blockSize();
            out.frsize = st.blockSize();
            out.blocks = st.totalBlocks();
            out.bfree = st.freeBlocks();
            out.bavail = st.availBlocks();
            out.files = st.totalFiles();
            out.ffree = st.freeFiles();
            out.namelen = st.maxNameLength();
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int flush(OpContext c, String path, long fh) {
        try {
            fs.flush(path, fh);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int release(OpContext c, String path, long fh, int flags) {
        try {
            fs.release(path, fh, OpenFlags.of(flags));
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int fsync(OpContext c, String path, long fh, boolean dataOnly) {
        try {
            fs.fsync(path, fh, dataOnly);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int fallocate(OpContext c, String path, long fh, int mode, long offset, long length) {
        try {
            fs.fallocate(path, fh, FallocateMode.of(mode), offset, length);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int opendir(OpContext c, String path, int flags, OpenResult out) {
        out.fh = 0;
        return 0;
    }

    @Override
    public int readdir(OpContext c, String path, long fh, DirListing out) {
        List<Object[]> entries = new ArrayList<>();
        DirectorySink sink = new DirectorySink() {
            @Override
            public void add(String name) {
                add(name, null);
            }

            @Override
            public synchronized void add(String name, FileAttributes attributes) {
                if (name != null && !name.isEmpty()) {
                    entries.add(new Object[] {name, attributes});
                }
            }
        };
        try {
            fs.readdir(path, sink);
        } catch (Throwable t) {
            return failures.map(c, t);
        }
        List<Object[]> copy;
        synchronized (sink) {
            copy = new ArrayList<>(entries);
        }
        boolean dot = false;
        boolean dotdot = false;
        for (Object[] e : copy) {
            dot |= ".".equals(e[0]);
            dotdot |= "..".equals(e[0]);
        }
        if (!dot) {
            out.add(".", 0, 0040000);
        }
        if (!dotdot) {
            out.add("..", 0, 0040000);
        }
        for (Object[] e : copy) {
            FileAttributes a = (FileAttributes) e[1];
            out.add((String) e[0], a == null ? 0 : a.inode(), a == null ? 0 : a.type().bits(), a);
        }
        return 0;
    }

    @Override
    public boolean listedAttributes(Object listed, Attr out) {
        if (!(listed instanceof FileAttributes a)) {
            return false;
        }
        try {
            Conversions.fill(out, a);
            return true;
        } catch (IllegalArgumentException e) {
            return false; // an owner beyond 32 bits: the entry's LOOKUP answers EIO and logs it
        }
    }

    @Override
    public int releasedir(OpContext c, String path, long fh) {
        return 0;
    }

    @Override
    public int fsyncdir(OpContext c, String path, long fh, boolean dataOnly) {
        try {
            fs.fsyncdir(path, dataOnly); // the directory handle's fh is this bridge's own (0): not passed on
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int setxattr(OpContext c, String path, String name, ByteBuffer value, int flags) {
        if (!hasSetxattr) {
            return -ENOSYS;
        }
        try {
            if (flags != 0 && flags != 1 && flags != 2) {
                return -Errno.EINVAL.code(); // XATTR_CREATE and XATTR_REPLACE together, or unknown bits
            }
            byte[] v = new byte[value.remaining()];
            value.duplicate().get(v);
            fs.setxattr(path, name, v, XattrMode.of(flags));
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int getxattr(OpContext c, String path, String name, ByteBuffer out) {
        if (!hasGetxattr) {
            return -ENOSYS;
        }
        try {
            byte[] v = fs.getxattr(path, name);
            if (v == null) {
                throw new IllegalStateException("getxattr returned null");
            }
            return put(v, out);
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int listxattr(OpContext c, String path, ByteBuffer out) {
        try {
            List<String> names = fs.listxattr(path);
            if (names == null) {
                throw new IllegalStateException("listxattr returned null");
            }
            StringBuilder sb = new StringBuilder();
            for (String n : names) {
                sb.append(n).append('\0');
            }
            return put(sb.toString().getBytes(StandardCharsets.UTF_8), out);
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    private static int put(byte[] v, ByteBuffer out) {
        if (out == null) {
            return v.length;
        }
        if (v.length > out.remaining()) {
            return -ERANGE;
        }
        out.put(0, v, 0, v.length);
        return v.length;
    }

    @Override
    public int removexattr(OpContext c, String path, String name) {
        if (!hasRemovexattr) {
            return -ENOSYS;
        }
        try {
            fs.removexattr(path, name);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int access(OpContext c, String path, int mask) {
        return -ENOSYS;
    }

    // ---- locks, seeks, copies, statx, tmpfile ----------------------------------------------------------------

    @Override
    public boolean implementsLocks() {
        return hasLocks;
    }

    @Override
    public boolean implementsFlock() {
        return hasFlock;
    }

    private static FileLock.Type lockType(int type) {
        return switch (type) {
            case Fuse.F_RDLCK -> FileLock.Type.READ;
            case Fuse.F_WRLCK -> FileLock.Type.WRITE;
            case Fuse.F_UNLCK -> FileLock.Type.UNLOCK;
            default -> null;
        };
    }

    private static FileLock toApi(LockRecord l) {
        FileLock.Type t = lockType(l.type);
        if (t == null || l.start < 0 || l.end < l.start) {
            return null;
        }
        return new FileLock(t, l.start, l.end, l.pid);
    }

    @Override
    public int getlk(OpContext c, String path, long fh, long owner, LockRecord lock) {
        FileLock asked = toApi(lock);
        if (asked == null) {
            return -EINVAL;
        }
        try {
            FileLock found = fs.getlk(path, fh, owner, asked);
            if (found == null || found.type() == FileLock.Type.UNLOCK) {
                lock.set(Fuse.F_UNLCK, asked.start(), asked.end(), 0);
            } else {
                lock.set(found.type() == FileLock.Type.READ ? Fuse.F_RDLCK : Fuse.F_WRLCK, found.start(),
                        found.end(), (int) found.pid());
            }
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int setlk(OpContext c, String path, long fh, long owner, LockRecord lock, boolean wait) {
        FileLock asked = toApi(lock);
        if (asked == null) {
            return -EINVAL;
        }
        try {
            fs.setlk(path, fh, owner, asked, wait);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int flock(OpContext c, String path, long fh, long owner, int type, boolean wait) {
        FileLock.Type t = lockType(type);
        if (t == null) {
            return -EINVAL;
        }
        try {
            fs.flock(path, fh, owner, t, wait);
            return 0;
        } catch (Throwable x) {
            return failures.map(c, x);
        }
    }

    @Override
    public long lseek(OpContext c, String path, long fh, long offset, int whence) {
        SeekWhence w = SeekWhence.of(whence);
        if (w == null) {
            return -EINVAL;
        }
        try {
            long at = fs.lseek(path, fh, offset, w);
            if (at < 0) {
                throw new IllegalStateException("lseek returned " + at);
            }
            return at;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public long copyFileRange(OpContext c, String pathIn, long fhIn, long offsetIn, String pathOut, long fhOut,
                              long offsetOut, long length, int flags) {
        try {
            long n = fs.copyFileRange(pathIn, fhIn, offsetIn, pathOut, fhOut, offsetOut, length, flags);
            if (n < 0 || n > length) {
                throw new IllegalStateException("copyFileRange returned " + n + " for a length of " + length);
            }
            return n;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int statx(OpContext c, String path, long fh, boolean hasFh, int flags, int mask, Attr out) {
        if (path == null) {
            return -ENOENT;
        }
        try {
            FileAttributes a = fs.statx(path);
            if (a == null) {
                throw new IllegalStateException("statx returned null");
            }
            Conversions.fill(out, a);
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }

    @Override
    public int tmpfile(OpContext c, String path, int mode, int flags, OpenResult out) {
        try {
            out.fh = fs.tmpfile(path, mode & 07777, OpenFlags.of(flags));
            return 0;
        } catch (Throwable t) {
            return failures.map(c, t);
        }
    }
}
