package io.fuseguard.mount;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FallocateMode;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.Operation;
import io.fuseguard.api.RenameMode;
import io.fuseguard.api.XattrMode;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.ops.DirListing;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.ops.StatfsResult;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.function.ToIntFunction;

/**
 * The daemon's own way into its filesystem: the same operation table, deadlines and copies as requests from
 * the kernel, without the kernel. A handler runs on an in-process thread with its own buffers; the caller's
 * buffers are copied in before and out after, only when the handler finished in time, so a late handler never
 * touches memory the caller reuses.
 */
final class InProcessAccess {
    private final FsOps ops;
    private final FuseguardConfig config;
    private final EventReporter events;
    private final ThreadPoolExecutor pool;
    private final int bufferSize;

    InProcessAccess(FsOps ops, FuseguardConfig config, EventReporter events, String name) {
        this.ops = ops;
        this.config = config;
        this.events = events;
        this.bufferSize = Math.max(config.mount().maxWrite(), 65536);
        AtomicInteger n = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS, new SynchronousQueue<>(),
                r -> new InProcessThread(r, "fuseguard-inprocess-" + name + "-" + n.incrementAndGet(), bufferSize));
    }

    /** A thread with its own context and a buffer mapped for its life (never freed). */
    private static final class InProcessThread extends Thread implements OpContext.Owner {
        private final OpContext context = new OpContext();
        private final long address;
        private final ByteBuffer buffer;

        InProcessThread(Runnable r, String name, int size) {
            super(r, name);
            setDaemon(true);
            this.address = Syscalls.mapAnonymous(size);
            this.buffer = Syscalls.view(address, size);
        }

        @Override
        public OpContext opContext() {
            return context;
        }
    }

    FuseFileSystem fileSystem() {
        return new View();
    }

    private static ByteBuffer buffer(int size) {
        InProcessThread t = (InProcessThread) Thread.currentThread();
        if (size > t.buffer.capacity()) {
            throw new ErrnoException(Errno.EINVAL, "larger than maxWrite: " + size);
        }
        return t.buffer.duplicate().clear().limit(size).slice();
    }

    /**
     * What an operation answered: its return code ({@code >= 0}, or {@code -errno}) and, when it succeeded, the
     * value copied out of the in-process thread's buffers (copied there, so a late handler never touches it).
     */
    private record Answer<T>(int rc, T value) {
        static <T> Answer<T> of(int rc, T value) {
            return new Answer<>(rc, value);
        }

        static <T> Answer<T> code(int rc) {
            return new Answer<>(rc, null);
        }
    }

    /** Runs {@code work} under the operation's deadline and returns the value it answered; an errno is thrown. */
    private <T> T call(Operation op, String path, Function<OpContext, Answer<T>> work) {
        return call(op, path, work, null);
    }

    /**
     * As {@link #call(Operation, String, Function)}; {@code undo} releases what a successful {@code work} made
     * (an open handle) when its answer comes after the caller gave up, since nobody else ever will.
     */
    private <T> T call(Operation op, String path, Function<OpContext, Answer<T>> work,
                       BiConsumer<OpContext, T> undo) {
        Answer<T> answer = run(op, path, work, undo);
        check(op, path, answer.rc());
        return answer.value();
    }

    /** Runs {@code work}, which answers a return code only, under the operation's deadline; an errno is thrown. */
    private int perform(Operation op, String path, ToIntFunction<OpContext> work) {
        Answer<Void> answer = run(op, path, c -> Answer.code(work.applyAsInt(c)), null);
        return check(op, path, answer.rc());
    }

    private static final int PENDING = 0;
    private static final int DELIVERED = 1;
    private static final int ABANDONED = 2;

    /** Runs {@code work} on an in-process thread under the operation's deadline. */
    private <T> Answer<T> run(Operation op, String path, Function<OpContext, Answer<T>> work,
                              BiConsumer<OpContext, T> undo) {
        long start = System.nanoTime();
        long deadline = start + config.guard().deadline(op.kind()).toNanos();
        int uid = Syscalls.getuid();
        int gid = Syscalls.getgid();
        // Who owns the answer: the caller (DELIVERED) or, once the caller gave up (ABANDONED), the handler's
        // thread, which then undoes what it made. One compare-and-set each way, so exactly one side decides.
        AtomicInteger claim = new AtomicInteger(PENDING);
        Future<Answer<T>> f = pool.submit(() -> {
            OpContext c = OpContext.forCurrentThread();
            c.begin(op, path, uid, gid, 0, 0, deadline);
            try {
                Answer<T> a = work.apply(c);
                if (!claim.compareAndSet(PENDING, DELIVERED) && undo != null && a.rc() >= 0) {
                    undo.accept(c, a.value());
                }
                return a;
            } finally {
                c.end();
            }
        });
        try {
            return f.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            if (!claim.compareAndSet(PENDING, ABANDONED)) {
                return answerOf(f); // it finished just now: the answer is the caller's after all
            }
            f.cancel(config.guard().interruptStalledHandlers());
            int errno = config.guard().timeoutErrno().code();
            events.report(GuardEvent.Type.TIMEOUT, op, path, 0, start, errno, null, "in-process call");
            return Answer.code(-errno);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            if (!claim.compareAndSet(PENDING, ABANDONED)) {
                return answerOf(f);
            }
            f.cancel(true);
            return Answer.code(-Syscalls.EINTR);
        } catch (ExecutionException e) {
            return Answer.code(-Syscalls.EIO);
        }
    }

    /** The answer of a task that has delivered (or is about to return) its answer. */
    private static <T> Answer<T> answerOf(Future<Answer<T>> f) {
        boolean interrupted = Thread.interrupted();
        try {
            while (true) {
                try {
                    return f.get();
                } catch (InterruptedException again) {
                    interrupted = true; // the answer is at most a return statement away
                }
            }
        } catch (ExecutionException e) {
            return Answer.code(-Syscalls.EIO);
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static int check(Operation op, String path, int rc) {
        if (rc < 0) {
            Errno e = Errno.of(-rc);
            throw new ErrnoException(e == null ? Errno.EIO : e, op + " " + path);
        }
        return rc;
    }

    /** The first {@code length} bytes of an in-process buffer, copied out. */
    private static byte[] copy(ByteBuffer b, int length) {
        byte[] out = new byte[length];
        b.get(0, out);
        return out;
    }

    private static FileAttributes attributes(Attr a) {
        FileAttributes.Builder b = FileAttributes.builder(FileType.ofMode(a.mode)).permissions(a.mode & 07777)
                .nlink(Integer.toUnsignedLong(a.nlink)).owner(Integer.toUnsignedLong(a.uid),
                        Integer.toUnsignedLong(a.gid)).size(a.size).blocks(a.blocks).inode(a.ino)
                .rdev(Integer.toUnsignedLong(a.rdev))
                .atime(Instant.ofEpochSecond(a.atimeSec, a.atimeNsec))
                .mtime(Instant.ofEpochSecond(a.mtimeSec, a.mtimeNsec))
                .ctime(Instant.ofEpochSecond(a.ctimeSec, a.ctimeNsec));
        if (a.hasBtime) {
            b.birthTime(Instant.ofEpochSecond(a.btimeSec, a.btimeNsec));
        }
        return b.build();
    }

    private static long nanos(Instant t) {
        return t == null ? Fuse.UTIME_OMIT : t.getNano();
    }

    private final class View implements FuseFileSystem {
        @Override
        public FileAttributes getattr(String path) {
            return call(Operation.GETATTR, path, c -> {
                c.attr.clear();
                int rc = ops.getattr(c, path, 0, false, c.attr);
                return rc < 0 ? Answer.code(rc) : Answer.of(rc, attributes(c.attr));
            });
        }

        @Override
        public FileAttributes statx(String path) {
            return call(Operation.STATX, path, c -> {
                c.attr.clear();
                int rc = ops.statx(c, path, 0, false, 0, Fuse.STATX_BASIC_STATS | Fuse.STATX_BTIME, c.attr);
                return rc < 0 ? Answer.code(rc) : Answer.of(rc, attributes(c.attr));
            });
        }

        @Override
        public long lseek(String path, long fh, long offset, io.fuseguard.api.SeekWhence whence) {
            return call(Operation.LSEEK, path, c -> {
                long at = ops.lseek(c, path, fh, offset, whence.raw());
                return at < 0 ? Answer.code((int) at) : Answer.of(0, at);
            });
        }

        @Override
        public long copyFileRange(String pathIn, long fhIn, long offsetIn, String pathOut, long fhOut,
                                  long offsetOut, long length, int flags) {
            return call(Operation.COPY_FILE_RANGE, pathOut, c -> {
                long n = ops.copyFileRange(c, pathIn, fhIn, offsetIn, pathOut, fhOut, offsetOut, length, flags);
                return n < 0 ? Answer.code((int) n) : Answer.of(0, n);
            });
        }

        @Override
        public void readdir(String path, DirectorySink sink) {
            DirListing l = new DirListing();
            perform(Operation.READDIR, path, c -> {
                c.open.clear();
                int rc = ops.opendir(c, path, 0, c.open);
                if (rc < 0) {
                    return rc;
                }
                long fh = c.open.fh;
                try {
                    return ops.readdir(c, path, fh, l);
                } finally {
                    ops.releasedir(c, path, fh);
                }
            });
            l.seal();
            for (int i = 0; i < l.size(); i++) {
                sink.add(l.name(i));
            }
        }

        @Override
        public long open(String path, OpenFlags flags) {
            return call(Operation.OPEN, path, c -> {
                c.open.clear();
                return Answer.of(ops.open(c, path, flags.raw(), c.open), c.open.fh);
            }, (c, fh) -> ops.release(c, path, fh, flags.raw()));
        }

        @Override
        public long create(String path, int mode, OpenFlags flags) {
            return call(Operation.CREATE, path, c -> {
                c.open.clear();
                return Answer.of(ops.create(c, path, 0100000 | (mode & 07777), flags.raw(), c.open), c.open.fh);
            }, (c, fh) -> ops.release(c, path, fh, flags.raw()));
        }

        @Override
        public int read(String path, long fh, ByteBuffer dst, long offset) {
            int size = dst.remaining();
            byte[] data = call(Operation.READ, path, c -> {
                ByteBuffer b = buffer(size);
                int rc = ops.read(c, path, fh, b, offset);
                return rc < 0 ? Answer.code(rc) : Answer.of(rc, copy(b, rc));
            });
            dst.put(data);
            return data.length;
        }

        @Override
        public int write(String path, long fh, ByteBuffer src, long offset) {
            byte[] data = new byte[src.remaining()];
            src.duplicate().get(data);
            int n = perform(Operation.WRITE, path, c -> {
                ByteBuffer b = buffer(data.length);
                b.put(0, data);
                return ops.write(c, path, fh, b.asReadOnlyBuffer(), offset);
            });
            src.position(src.position() + Math.min(n, data.length));
            return n;
        }

        @Override
        public void truncate(String path, long size) {
            perform(Operation.TRUNCATE, path, c -> ops.truncate(c, path, size, 0, false));
        }

        @Override
        public void flush(String path, long fh) {
            perform(Operation.FLUSH, path, c -> ops.flush(c, path, fh));
        }

        @Override
        public void release(String path, long fh, OpenFlags flags) {
            perform(Operation.RELEASE, path, c -> ops.release(c, path, fh, flags.raw()));
        }

        @Override
        public void fsync(String path, long fh, boolean dataOnly) {
            perform(Operation.FSYNC, path, c -> ops.fsync(c, path, fh, dataOnly));
        }

        @Override
        public void fsyncdir(String path, boolean dataOnly) {
            perform(Operation.FSYNCDIR, path, c -> ops.fsyncdir(c, path, 0, dataOnly));
        }

        @Override
        public void mknod(String path, FileType type, int permissions, long rdev) {
            perform(Operation.MKNOD, path, c -> ops.mknod(c, path, type.bits() | (permissions & 07777), (int) rdev));
        }

        @Override
        public void mkdir(String path, int mode) {
            perform(Operation.MKDIR, path, c -> ops.mkdir(c, path, mode));
        }

        @Override
        public void rmdir(String path) {
            perform(Operation.RMDIR, path, c -> ops.rmdir(c, path));
        }

        @Override
        public void unlink(String path) {
            perform(Operation.UNLINK, path, c -> ops.unlink(c, path));
        }

        @Override
        public void rename(String from, String to) {
            perform(Operation.RENAME, from, c -> ops.rename(c, from, to, 0));
        }

        @Override
        public void rename(String from, String to, RenameMode mode) {
            perform(Operation.RENAME, from, c -> ops.rename(c, from, to, mode.flags()));
        }

        @Override
        public void fallocate(String path, long fh, FallocateMode mode, long offset, long length) {
            perform(Operation.FALLOCATE, path, c -> ops.fallocate(c, path, fh, mode.raw(), offset, length));
        }

        @Override
        public void symlink(String target, String linkPath) {
            perform(Operation.SYMLINK, linkPath, c -> ops.symlink(c, target, linkPath));
        }

        @Override
        public String readlink(String path) {
            return call(Operation.READLINK, path, c -> {
                ByteBuffer b = buffer(4096);
                int rc = ops.readlink(c, path, b);
                return rc < 0 ? Answer.code(rc) : Answer.of(rc, new String(copy(b, rc), StandardCharsets.UTF_8));
            });
        }

        @Override
        public void link(String existing, String newPath) {
            perform(Operation.LINK, newPath, c -> ops.link(c, existing, newPath));
        }

        @Override
        public void chmod(String path, int mode) {
            perform(Operation.CHMOD, path, c -> ops.chmod(c, path, mode));
        }

        @Override
        public void chown(String path, OptionalLong uid, OptionalLong gid) {
            // Ids are 32-bit and 2^32-1 means "unchanged" to the kernel: anything else outside is refused.
            if (uid.isPresent() && (uid.getAsLong() < 0 || uid.getAsLong() > 0xFFFFFFFEL)
                    || gid.isPresent() && (gid.getAsLong() < 0 || gid.getAsLong() > 0xFFFFFFFEL)) {
                throw new ErrnoException(Errno.EINVAL, "chown " + path + ": id out of range");
            }
            int u = uid.isPresent() ? (int) uid.getAsLong() : -1;
            int g = gid.isPresent() ? (int) gid.getAsLong() : -1;
            perform(Operation.CHOWN, path, c -> ops.chown(c, path, u, g));
        }

        @Override
        public void utimens(String path, Optional<Instant> atime, Optional<Instant> mtime) {
            perform(Operation.UTIMENS, path, c -> ops.utimens(c, path,
                    atime.map(Instant::getEpochSecond).orElse(0L), nanos(atime.orElse(null)),
                    mtime.map(Instant::getEpochSecond).orElse(0L), nanos(mtime.orElse(null))));
        }

        @Override
        public FsStats statfs(String path) {
            return call(Operation.STATFS, path, c -> {
                StatfsResult s = c.statfs;
                s.defaults();
                int rc = ops.statfs(c, path, s);
                return rc < 0 ? Answer.code(rc) : Answer.of(rc, new FsStats(Math.max(1, s.bsize), s.blocks,
                        s.bfree, s.bavail, s.files, s.ffree, s.namelen));
            });
        }

        @Override
        public void setxattr(String path, String name, byte[] value, XattrMode mode) {
            int flags = mode == XattrMode.CREATE ? 1 : mode == XattrMode.REPLACE ? 2 : 0;
            perform(Operation.SETXATTR, path, c -> {
                ByteBuffer b = buffer(value.length);
                b.put(0, value);
                return ops.setxattr(c, path, name, b.asReadOnlyBuffer(), flags);
            });
        }

        @Override
        public byte[] getxattr(String path, String name) {
            return call(Operation.GETXATTR, path, c -> {
                ByteBuffer b = buffer(65536);
                int rc = ops.getxattr(c, path, name, b);
                return rc < 0 ? Answer.code(rc) : Answer.of(rc, copy(b, rc));
            });
        }

        @Override
        public List<String> listxattr(String path) {
            byte[] packed = call(Operation.LISTXATTR, path, c -> {
                ByteBuffer b = buffer(65536);
                int rc = ops.listxattr(c, path, b);
                return rc < 0 ? Answer.code(rc) : Answer.of(rc, copy(b, rc));
            });
            // The kernel's format: names, each ended by a NUL.
            List<String> names = new ArrayList<>();
            int start = 0;
            for (int i = 0; i < packed.length; i++) {
                if (packed[i] == 0) {
                    if (i > start) {
                        names.add(new String(packed, start, i - start, StandardCharsets.UTF_8));
                    }
                    start = i + 1;
                }
            }
            return names;
        }

        @Override
        public void removexattr(String path, String name) {
            perform(Operation.REMOVEXATTR, path, c -> ops.removexattr(c, path, name));
        }
    }
}
