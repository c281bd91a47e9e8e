package io.fuseguard.bridge;

import io.fuseguard.api.Operation;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.guard.Handler;
import io.fuseguard.guard.RequestGuard;
import io.fuseguard.guard.RequestSource;
import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.FuseFS;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.NotImplemented;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Serves an existing jnr-fuse filesystem unchanged, under fuseguard's guards. Every pointer and struct its
 * handlers get is a private native copy that lives as long as the handler holds it; results are copied into
 * libfuse's memory only when the handler returned in time. Operations the filesystem does not implement get
 * the answer libfuse gives for a missing operation (ENOSYS; success for open, release, opendir, releasedir).
 *
 * <p>Limits: handlers run on worker threads, where jnr-fuse's {@code getContext()} has no request (use
 * {@link io.fuseguard.api.RequestContext#current()}); {@code lock}, {@code access}, {@code fallocate},
 * {@code ftruncate}, {@code fgetattr}, {@code ioctl}, {@code poll}, {@code flock} and the buffer variants of
 * read/write are not forwarded. Private native buffers are freed by the garbage collector (jnr-ffi's direct
 * memory), so under heavy load of a migrated filesystem native memory use can run ahead of the heap's.
 */
public final class LegacyFsBridge extends GuardedBridge {
    private final FuseFS fs;
    private final Set<String> implemented;

    /** A bridge for the jnr-fuse filesystem {@code fs}. */
    public LegacyFsBridge(FuseFS fs, RequestGuard guard, RequestSource source, FuseguardConfig config) {
        super(guard, source, config);
        this.fs = fs;
        this.implemented = implementedMethods(fs.getClass());
    }

    static Set<String> implementedMethods(Class<?> type) {
        Set<String> names = new HashSet<>();
        for (Method m : type.getMethods()) {
            if (m.getDeclaringClass() != Object.class && !m.isAnnotationPresent(NotImplemented.class)) {
                names.add(m.getName());
            }
        }
        return names;
    }

    private int run(Operation op, String path, String method, int whenMissing, Handler h) {
        if (!implemented.contains(method)) {
            return whenMissing;
        }
        return guard.run(op, path, false, h, null);
    }

    /** A private copy of libfuse's file info; copied back only after a successful, timely answer. */
    private static final class FileInfoCopy {
        final Pointer original;
        final Pointer copy;
        final FuseFileInfo info;

        FileInfoCopy(FuseFileInfo fi) {
            this.original = NativeCopy.memoryOf(fi);
            this.copy = NativeCopy.copyOf(original, NativeCopy.FILE_INFO_SIZE);
            this.info = copy == null ? null : FuseFileInfo.of(copy);
        }

        int done(int r) {
            if (r >= 0) {
                NativeCopy.copyBack(copy, original, NativeCopy.FILE_INFO_SIZE);
            }
            return r;
        }
    }

    @Override
    public int getattr(String path, FileStat stat) {
        Integer p = probeGetattr(path, stat);
        if (p != null) {
            return p;
        }
        Pointer priv = NativeCopy.allocate(NativeCopy.FILE_STAT_SIZE);
        int r = run(Operation.GETATTR, path, "getattr", -ENOSYS, () -> fs.getattr(path, FileStat.of(priv)));
        if (r == 0) {
            NativeCopy.copyBack(priv, NativeCopy.memoryOf(stat), NativeCopy.FILE_STAT_SIZE);
        }
        return r;
    }

    /** One entry a jnr-fuse readdir handed to its filler, copied to the heap. */
    private record Entry(String name, byte[] stat, long offset) {
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filter, @off_t long offset, FuseFileInfo fi) {
        FileInfoCopy f = new FileInfoCopy(fi);
        List<Entry> entries = new ArrayList<>();
        Object lock = new Object();
        boolean[] sealed = new boolean[1];
        Pointer privBuf = NativeCopy.allocate(8);
        FuseFillDir collector = (b, name, stbuf, off) -> {
            byte[] n = new byte[name.remaining()];
            name.duplicate().get(n);
            int len = 0;
            while (len < n.length && n[len] != 0) {
                len++;
            }
            byte[] st = null;
            if (stbuf != null && stbuf.address() != 0) {
                st = new byte[NativeCopy.FILE_STAT_SIZE];
                stbuf.get(0, st, 0, st.length);
            }
            synchronized (lock) {
                if (!sealed[0]) {
                    entries.add(new Entry(new String(n, 0, len, java.nio.charset.StandardCharsets.UTF_8), st, off));
                }
            }
            return 0;
        };
        int r = run(Operation.READDIR, path, "readdir", -ENOSYS,
                () -> fs.readdir(path, privBuf, collector, offset, f.info));
        List<Entry> result;
        synchronized (lock) {
            sealed[0] = true;
            result = List.copyOf(entries);
        }
        if (r != 0) {
            return r;
        }
        Pointer st = null;
        for (Entry e : result) {
            if ("/".equals(path) && probe.names("/" + e.name())) {
                continue;
            }
            FileStat stat = null;
            if (e.stat() != null) {
                if (st == null) {
                    st = NativeCopy.allocate(NativeCopy.FILE_STAT_SIZE);
                }
                st.put(0, e.stat(), 0, e.stat().length);
                stat = FileStat.of(st);
            }
            if (filter.apply(buf, e.name(), stat, e.offset()) != 0) {
                break;
            }
        }
        return 0;
    }

    @Override
    public int open(String path, FuseFileInfo fi) {
        Integer p = probeOther(path);
        if (p != null) {
            return p;
        }
        FileInfoCopy f = new FileInfoCopy(fi);
        return f.done(run(Operation.OPEN, path, "open", 0, () -> fs.open(path, f.info)));
    }

    @Override
    public int opendir(String path, FuseFileInfo fi) {
        FileInfoCopy f = new FileInfoCopy(fi);
        return f.done(run(Operation.OPENDIR, path, "opendir", 0, () -> fs.opendir(path, f.info)));
    }

    @Override
    public int releasedir(String path, FuseFileInfo fi) {
        FileInfoCopy f = new FileInfoCopy(fi);
        return run(Operation.RELEASEDIR, path, "releasedir", 0, () -> fs.releasedir(path, f.info));
    }

    @Override
    public int create(String path, long mode, FuseFileInfo fi) {
        FileInfoCopy f = new FileInfoCopy(fi);
        return f.done(run(Operation.CREATE, path, "create", -ENOSYS, () -> fs.create(path, mode, f.info)));
    }

    @Override
    public int mknod(String path, long mode, long rdev) {
        return run(Operation.MKNOD, path, "mknod", -ENOSYS, () -> fs.mknod(path, mode, rdev));
    }

    @Override
    public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        FileInfoCopy f = new FileInfoCopy(fi);
        Pointer priv = NativeCopy.allocate(size);
        int r = run(Operation.READ, path, "read", -ENOSYS, () -> fs.read(path, priv, size, offset, f.info));
        if (r > 0) {
            // libfuse replies with r bytes of its size-byte buffer: never let it read past the end
            r = (int) Math.min(r, size);
            NativeCopy.copyBack(priv, buf, r);
        }
        return r;
    }

    @Override
    public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        FileInfoCopy f = new FileInfoCopy(fi);
        Pointer priv = NativeCopy.copyOf(buf, size);
        return run(Operation.WRITE, path, "write", -ENOSYS, () -> fs.write(path, priv, size, offset, f.info));
    }

    @Override
    public int truncate(String path, long size) {
        return run(Operation.TRUNCATE, path, "truncate", -ENOSYS, () -> fs.truncate(path, size));
    }

    @Override
    public int flush(String path, FuseFileInfo fi) {
        countFlush();
        if (flushDisabled()) {
            return -ENOSYS;
        }
        if (probe.names(path)) {
            return 0;
        }
        FileInfoCopy f = new FileInfoCopy(fi);
        return run(Operation.FLUSH, path, "flush", -ENOSYS, () -> fs.flush(path, f.info));
    }

    @Override
    public int release(String path, FuseFileInfo fi) {
        if (probe.names(path)) {
            probe.released();
            return 0;
        }
        FileInfoCopy f = new FileInfoCopy(fi);
        return run(Operation.RELEASE, path == null ? "" : path, "release", 0, () -> fs.release(path, f.info));
    }

    @Override
    public int fsync(String path, int isdatasync, FuseFileInfo fi) {
        FileInfoCopy f = new FileInfoCopy(fi);
        return run(Operation.FSYNC, path, "fsync", -ENOSYS, () -> fs.fsync(path, isdatasync, f.info));
    }

    @Override
    public int mkdir(String path, long mode) {
        return run(Operation.MKDIR, path, "mkdir", -ENOSYS, () -> fs.mkdir(path, mode));
    }

    @Override
    public int rmdir(String path) {
        return run(Operation.RMDIR, path, "rmdir", -ENOSYS, () -> fs.rmdir(path));
    }

    @Override
    public int unlink(String path) {
        Integer p = probeOther(path);
        if (p != null) {
            return p;
        }
        return run(Operation.UNLINK, path, "unlink", -ENOSYS, () -> fs.unlink(path));
    }

    @Override
    public int rename(String oldpath, String newpath) {
        return run(Operation.RENAME, oldpath, "rename", -ENOSYS, () -> fs.rename(oldpath, newpath));
    }

    @Override
    public int symlink(String oldpath, String newpath) {
        return run(Operation.SYMLINK, newpath, "symlink", -ENOSYS, () -> fs.symlink(oldpath, newpath));
    }

    @Override
    public int readlink(String path, Pointer buf, @size_t long size) {
        Pointer priv = NativeCopy.allocate(size);
        int r = run(Operation.READLINK, path, "readlink", -ENOSYS, () -> fs.readlink(path, priv, size));
        if (r == 0) {
            NativeCopy.copyBack(priv, buf, size);
        }
        return r;
    }

    @Override
    public int link(String oldpath, String newpath) {
        return run(Operation.LINK, newpath, "link", -ENOSYS, () -> fs.link(oldpath, newpath));
    }

    @Override
    public int chmod(String path, long mode) {
        return run(Operation.CHMOD, path, "chmod", -ENOSYS, () -> fs.chmod(path, mode));
    }

    @Override
    public int chown(String path, long uid, long gid) {
        return run(Operation.CHOWN, path, "chown", -ENOSYS, () -> fs.chown(path, uid, gid));
    }

    @Override
    public int utimens(String path, Timespec[] timespec) {
        Pointer priv = NativeCopy.allocate(2L * NativeCopy.TIMESPEC_SIZE);
        NativeCopy.memoryOf(timespec[0]).transferTo(0, priv, 0, NativeCopy.TIMESPEC_SIZE);
        NativeCopy.memoryOf(timespec[1]).transferTo(0, priv, NativeCopy.TIMESPEC_SIZE, NativeCopy.TIMESPEC_SIZE);
        Timespec[] copy = {Timespec.of(priv), Timespec.of(priv.slice(NativeCopy.TIMESPEC_SIZE))};
        return run(Operation.UTIMENS, path, "utimens", -ENOSYS, () -> fs.utimens(path, copy));
    }

    @Override
    public int statfs(String path, Statvfs stbuf) {
        Pointer priv = NativeCopy.allocate(NativeCopy.STATVFS_SIZE);
        int r = run(Operation.STATFS, path, "statfs", Integer.MIN_VALUE, () -> fs.statfs(path, Statvfs.of(priv)));
        if (r == Integer.MIN_VALUE) {
            // libfuse's default for a filesystem without statfs: zeroed statistics, 255-byte names
            stbuf.f_namemax.set(255);
            stbuf.f_bsize.set(512);
            return 0;
        }
        if (r == 0) {
            NativeCopy.copyBack(priv, NativeCopy.memoryOf(stbuf), NativeCopy.STATVFS_SIZE);
        }
        return r;
    }

    @Override
    public int setxattr(String path, String name, Pointer value, @size_t long size, int flags) {
        Pointer priv = NativeCopy.copyOf(value, size);
        return run(Operation.SETXATTR, path, "setxattr", -ENOSYS, () -> fs.setxattr(path, name, priv, size, flags));
    }

    @Override
    public int getxattr(String path, String name, Pointer value, @size_t long size) {
        Pointer priv = size == 0 ? null : NativeCopy.allocate(size);
        int r = run(Operation.GETXATTR, path, "getxattr", -ENOSYS, () -> fs.getxattr(path, name, priv, size));
        if (r > 0 && size > 0) {
            if (r > size) {
                return -ERANGE;
            }
            NativeCopy.copyBack(priv, value, r);
        }
        return r;
    }

    @Override
    public int listxattr(String path, Pointer list, @size_t long size) {
        Pointer priv = size == 0 ? null : NativeCopy.allocate(size);
        int r = run(Operation.LISTXATTR, path, "listxattr", -ENOSYS, () -> fs.listxattr(path, priv, size));
        if (r > 0 && size > 0) {
            if (r > size) {
                return -ERANGE;
            }
            NativeCopy.copyBack(priv, list, r);
        }
        return r;
    }

    @Override
    public int removexattr(String path, String name) {
        return run(Operation.REMOVEXATTR, path, "removexattr", -ENOSYS, () -> fs.removexattr(path, name));
    }

}
