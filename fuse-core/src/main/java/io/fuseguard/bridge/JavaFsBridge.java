package io.fuseguard.bridge;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.NonBlocking;
import io.fuseguard.api.Operation;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.guard.Handler;
import io.fuseguard.guard.RequestGuard;
import io.fuseguard.guard.RequestSource;
import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Serves a memory-safe {@link FuseFileSystem}: copies every input out of libfuse's memory before the handler
 * runs, and every output into it only after the handler returned in time.
 */
public final class JavaFsBridge extends GuardedBridge {
    private static final Logger LOG = LoggerFactory.getLogger(JavaFsBridge.class);

    private final FuseFileSystem fs;
    private final Set<Operation> inline;
    /**
     * Failures (-errno) of flush handlers that finished after FLUSH was answered, by path: file handles are
     * the filesystem's own numbers and may be reused, paths are what "that file" means to a caller.
     */
    private final Map<String, Integer> lateFlushFailures = new ConcurrentHashMap<>();

    /** A bridge for {@code fs}. */
    public JavaFsBridge(FuseFileSystem fs, RequestGuard guard, RequestSource source, FuseguardConfig config) {
        super(guard, source, config);
        this.fs = fs;
        this.inline = nonBlockingOperations(fs.getClass());
    }

    /**
     * Operations whose implementation in {@code type} is annotated {@link NonBlocking}. Never FLUSH: a
     * flush without a deadline is exactly what wedges a closing task.
     */
    static Set<Operation> nonBlockingOperations(Class<?> type) {
        Set<Operation> ops = EnumSet.noneOf(Operation.class);
        for (Method m : type.getMethods()) {
            if (m.isAnnotationPresent(NonBlocking.class)) {
                for (Operation op : Operation.values()) {
                    if (op.name().equalsIgnoreCase(m.getName()) && op != Operation.FLUSH) {
                        ops.add(op);
                    }
                }
            }
        }
        return ops;
    }

    private int run(Operation op, String path, Handler h) {
        return guard.run(op, path, inline.contains(op), h, null);
    }

    @Override
    public int getattr(String path, FileStat stat) {
        Integer p = probeGetattr(path, stat);
        if (p != null) {
            return p;
        }
        AtomicReference<FileAttributes> out = new AtomicReference<>();
        int r = run(Operation.GETATTR, path, () -> {
            out.set(require(fs.getattr(path), "getattr"));
            return 0;
        });
        if (r == 0) {
            NativeConversions.fill(stat, out.get());
        }
        return r;
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filter, @off_t long offset, FuseFileInfo fi) {
        CollectingSink sink = new CollectingSink();
        int r = run(Operation.READDIR, path, () -> {
            fs.readdir(path, sink);
            return 0;
        });
        List<CollectingSink.Entry> entries = sink.seal();
        if (r != 0) {
            return r;
        }
        boolean dot = false;
        boolean dotdot = false;
        for (CollectingSink.Entry e : entries) {
            dot |= e.name().equals(".");
            dotdot |= e.name().equals("..");
        }
        if (!dot) {
            filter.apply(buf, ".", null, 0);
        }
        if (!dotdot) {
            filter.apply(buf, "..", null, 0);
        }
        boolean root = "/".equals(path);
        FileStat st = null;
        for (CollectingSink.Entry e : entries) {
            if (root && probe.names("/" + e.name())) {
                continue;
            }
            if (e.attributes() != null) {
                if (st == null) {
                    st = FileStat.of(NativeCopy.allocate(NativeCopy.FILE_STAT_SIZE));
                }
                NativeConversions.fill(st, e.attributes());
                if (filter.apply(buf, e.name(), st, 0) != 0) {
                    break;
                }
            } else if (filter.apply(buf, e.name(), null, 0) != 0) {
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
        int flags = fi.flags.get();
        long[] fh = new long[1];
        int r = guard.run(Operation.OPEN, path, inline.contains(Operation.OPEN), () -> {
            fh[0] = fs.open(path, flags);
            return 0;
        }, late -> releaseLateHandle(late, path, fh, flags));
        if (r == 0) {
            fi.fh.set(fh[0]);
        }
        return r;
    }

    @Override
    public int create(String path, long mode, FuseFileInfo fi) {
        int flags = fi.flags.get();
        long[] fh = new long[1];
        int r = guard.run(Operation.CREATE, path, inline.contains(Operation.CREATE), () -> {
            fh[0] = fs.create(path, (int) mode & 07777, flags);
            return 0;
        }, late -> releaseLateHandle(late, path, fh, flags));
        if (r == 0) {
            fi.fh.set(fh[0]);
        }
        return r;
    }

    /** The caller was told the open failed, so no RELEASE will come for a handle opened too late. */
    private void releaseLateHandle(int late, String path, long[] fh, int flags) {
        if (late >= 0) {
            try {
                fs.release(path, fh[0], flags);
            } catch (RuntimeException e) {
                LOG.warn("{}: releasing a handle opened after its deadline failed: {}", path, e.toString());
            }
        }
    }

    @Override
    public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        long fh = fi.fh.get();
        // A fresh heap buffer per request: a handler that outlives its deadline keeps writing into memory
        // nobody reads any more, never into libfuse's buffer or into the next request's.
        ByteBuffer dst = ByteBuffer.allocate((int) size);
        int r = run(Operation.READ, path, () -> fs.read(path, fh, dst, offset));
        if (r > 0) {
            int n = Math.min(r, (int) size);
            buf.put(0, dst.array(), 0, n);
            return n;
        }
        return r;
    }

    @Override
    public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        long fh = fi.fh.get();
        byte[] data = new byte[(int) size];
        buf.get(0, data, 0, data.length);
        ByteBuffer src = ByteBuffer.wrap(data).asReadOnlyBuffer();
        return run(Operation.WRITE, path, () -> fs.write(path, fh, src, offset));
    }

    @Override
    public int truncate(String path, @off_t long size) {
        return run(Operation.TRUNCATE, path, () -> {
            fs.truncate(path, size);
            return 0;
        });
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
        long fh = fi.fh.get();
        return guard.run(Operation.FLUSH, path, inline.contains(Operation.FLUSH), () -> {
            fs.flush(path, fh);
            return 0;
        }, late -> {
            if (late < 0) {
                lateFlushFailures.put(path, late);
            }
        });
    }

    @Override
    public int release(String path, FuseFileInfo fi) {
        if (probe.names(path)) {
            probe.released();
            return 0;
        }
        long fh = fi.fh.get();
        int flags = fi.flags.get();
        Integer lateFlush = path == null ? null : lateFlushFailures.remove(path);
        if (lateFlush != null) {
            LOG.warn("{}: a flush that finished after close() had returned failed with errno {}", path, -lateFlush);
        }
        return run(Operation.RELEASE, path == null ? "" : path, () -> {
            fs.release(path, fh, flags);
            return 0;
        });
    }

    @Override
    public int fsync(String path, int isdatasync, FuseFileInfo fi) {
        long fh = fi.fh.get();
        int r = run(Operation.FSYNC, path, () -> {
            fs.fsync(path, fh, isdatasync != 0);
            return 0;
        });
        Integer lateFlush = lateFlushFailures.remove(path);
        // The durability point also reports what a background flush of this file could not do.
        return r == 0 && lateFlush != null ? lateFlush : r;
    }

    @Override
    public int mknod(String path, long mode, long rdev) {
        return run(Operation.MKNOD, path, () -> {
            fs.mknod(path, (int) mode, rdev);
            return 0;
        });
    }

    @Override
    public int mkdir(String path, long mode) {
        return run(Operation.MKDIR, path, () -> {
            fs.mkdir(path, (int) mode & 07777);
            return 0;
        });
    }

    @Override
    public int rmdir(String path) {
        return run(Operation.RMDIR, path, () -> {
            fs.rmdir(path);
            return 0;
        });
    }

    @Override
    public int unlink(String path) {
        Integer p = probeOther(path);
        if (p != null) {
            return p;
        }
        return run(Operation.UNLINK, path, () -> {
            fs.unlink(path);
            return 0;
        });
    }

    @Override
    public int rename(String oldpath, String newpath) {
        return run(Operation.RENAME, oldpath, () -> {
            fs.rename(oldpath, newpath);
            return 0;
        });
    }

    @Override
    public int symlink(String oldpath, String newpath) {
        return run(Operation.SYMLINK, newpath, () -> {
            fs.symlink(oldpath, newpath);
            return 0;
        });
    }

    @Override
    public int readlink(String path, Pointer buf, @size_t long size) {
        AtomicReference<String> out = new AtomicReference<>();
        int r = run(Operation.READLINK, path, () -> {
            out.set(require(fs.readlink(path), "readlink"));
            return 0;
        });
        if (r == 0 && size > 0) {
            byte[] b = out.get().getBytes(StandardCharsets.UTF_8);
            int n = (int) Math.min(b.length, size - 1);
            buf.put(0, b, 0, n);
            buf.putByte(n, (byte) 0);
        }
        return r;
    }

    @Override
    public int link(String oldpath, String newpath) {
        return run(Operation.LINK, newpath, () -> {
            fs.link(oldpath, newpath);
            return 0;
        });
    }

    @Override
    public int chmod(String path, long mode) {
        return run(Operation.CHMOD, path, () -> {
            fs.chmod(path, (int) mode & 07777);
            return 0;
        });
    }

    @Override
    public int chown(String path, long uid, long gid) {
        // libfuse passes (uid_t)-1 for "unchanged"; normalise the unsigned 32-bit value to -1.
        long u = uid == 0xFFFFFFFFL ? -1 : uid;
        long g = gid == 0xFFFFFFFFL ? -1 : gid;
        return run(Operation.CHOWN, path, () -> {
            fs.chown(path, u, g);
            return 0;
        });
    }

    @Override
    public int utimens(String path, Timespec[] timespec) {
        Instant atime = NativeConversions.time(timespec[0]);
        Instant mtime = NativeConversions.time(timespec[1]);
        return run(Operation.UTIMENS, path, () -> {
            fs.utimens(path, atime, mtime);
            return 0;
        });
    }

    @Override
    public int statfs(String path, Statvfs stbuf) {
        AtomicReference<FsStats> out = new AtomicReference<>();
        int r = run(Operation.STATFS, path, () -> {
            out.set(require(fs.statfs(path), "statfs"));
            return 0;
        });
        if (r == 0) {
            NativeConversions.fill(stbuf, out.get());
        }
        return r;
    }

    @Override
    public int setxattr(String path, String name, Pointer value, @size_t long size, int flags) {
        byte[] v = new byte[(int) size];
        if (size > 0 && value != null) {
            value.get(0, v, 0, v.length);
        }
        return run(Operation.SETXATTR, path, () -> {
            fs.setxattr(path, name, v, flags);
            return 0;
        });
    }

    @Override
    public int getxattr(String path, String name, Pointer value, @size_t long size) {
        AtomicReference<byte[]> out = new AtomicReference<>();
        int r = run(Operation.GETXATTR, path, () -> {
            out.set(require(fs.getxattr(path, name), "getxattr"));
            return 0;
        });
        if (r != 0) {
            return r;
        }
        byte[] v = out.get();
        if (size == 0) {
            return v.length; // the caller asks for the size first
        }
        if (v.length > size) {
            return -ERANGE;
        }
        value.put(0, v, 0, v.length);
        return v.length;
    }

    @Override
    public int listxattr(String path, Pointer list, @size_t long size) {
        AtomicReference<List<String>> out = new AtomicReference<>();
        int r = run(Operation.LISTXATTR, path, () -> {
            out.set(require(fs.listxattr(path), "listxattr"));
            return 0;
        });
        if (r != 0) {
            return r;
        }
        StringBuilder sb = new StringBuilder();
        for (String n : out.get()) {
            sb.append(n).append('\0');
        }
        byte[] b = sb.toString().getBytes(StandardCharsets.UTF_8);
        if (size == 0) {
            return b.length;
        }
        if (b.length > size) {
            return -ERANGE;
        }
        list.put(0, b, 0, b.length);
        return b.length;
    }

    @Override
    public int removexattr(String path, String name) {
        return run(Operation.REMOVEXATTR, path, () -> {
            fs.removexattr(path, name);
            return 0;
        });
    }

    private static <T> T require(T value, String what) {
        if (value == null) {
            throw new IllegalStateException(what + " returned null");
        }
        return value;
    }
}
