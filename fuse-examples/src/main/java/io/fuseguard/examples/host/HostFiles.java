package io.fuseguard.examples.host;

import io.fuseguard.api.ErrnoException;
import jnr.ffi.Pointer;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.function.ObjIntConsumer;

/**
 * I/O on host descriptors: positioned reads and writes, a directory's names, and a stream over an open file.
 * Plain descriptors, not {@link java.nio.channels.FileChannel}s: an interrupt of the calling thread (a request
 * past its deadline) leaves them open, where it would close a FileChannel for good.
 */
public final class HostFiles {
    private HostFiles() {
    }

    /**
     * Reads from {@code fd} at {@code offset} until {@code dst} is full or the file ends.
     *
     * @return the bytes read
     */
    public static int read(int fd, ByteBuffer dst, long offset) {
        ByteBuffer direct = dst.isDirect() ? dst : ByteBuffer.allocateDirect(dst.remaining());
        int start = direct.position();
        while (direct.hasRemaining()) {
            long n = Host.check(Host.LIBC.pread(fd, direct, direct.remaining(),
                    offset + direct.position() - start), "read");
            if (n == 0) {
                break;
            }
            direct.position(direct.position() + (int) n);
        }
        int total = direct.position() - start;
        if (direct != dst) {
            dst.put(direct.flip());
        }
        return total;
    }

    /**
     * Writes all of {@code src} to {@code fd} at {@code offset}.
     *
     * @return the bytes written
     */
    public static int write(int fd, ByteBuffer src, long offset) {
        ByteBuffer direct = src;
        if (!src.isDirect()) {
            direct = ByteBuffer.allocateDirect(src.remaining()).put(src.duplicate()).flip();
        }
        int total = 0;
        while (direct.hasRemaining()) {
            long n = Host.check(Host.LIBC.pwrite(fd, direct, direct.remaining(), offset + total), "write");
            direct.position(direct.position() + (int) n);
            total += (int) n;
        }
        if (direct != src) {
            src.position(src.position() + total);
        }
        return total;
    }

    /**
     * Calls {@code each} with every name in directory {@code dir} but {@code .} and {@code ..}, and a
     * descriptor of that directory for {@code *at} calls on the name (valid during the call only).
     *
     * @throws ErrnoException the host's errno (ENOENT, ENOTDIR, ...)
     */
    public static void list(Entry dir, ObjIntConsumer<String> each) {
        int fd = Host.check(Host.LIBC.openat(dir.dirfd(), dir.name(),
                Host.O_RDONLY | Host.O_DIRECTORY | Host.O_CLOEXEC | dir.openFlags(), 0), "opendir " + dir.name());
        Pointer stream = Host.LIBC.fdopendir(fd);
        if (stream == null) {
            ErrnoException failure = Host.failure("fdopendir " + dir.name());
            Host.close(fd);
            throw failure;
        }
        try {
            Pointer d;
            while ((d = Host.LIBC.readdir(stream)) != null) {
                byte[] raw = Host.direntName(d);
                String name = Host.utf8OrNull(raw, 0, raw.length); // names that are not UTF-8 are left out
                if (name != null && !name.equals(".") && !name.equals("..")) {
                    each.accept(name, fd);
                }
            }
        } finally {
            Host.LIBC.closedir(stream); // closes fd too
        }
    }

    /**
     * Makes directory {@code path} exist beneath {@code resolver}'s root, with its missing parents, each made
     * with {@code mode} (the process umask applies). An existing directory is left as it is.
     *
     * @throws ErrnoException the host's errno; EEXIST when something else than a directory is in the way
     */
    public static void mkdirs(BeneathResolver resolver, String path, int mode) {
        if (path.equals("/")) {
            return;
        }
        try (Entry e = resolveMakingParents(resolver, path, mode)) {
            if (Host.LIBC.mkdirat(e.dirfd(), e.name(), mode) < 0) {
                ErrnoException failure = Host.failure("mkdir " + path);
                if (failure.errno() != io.fuseguard.api.Errno.EEXIST
                        || (HostStat.mode(e.dirfd(), e.name()) & Host.S_IFMT) != Host.S_IFDIR) {
                    throw failure;
                }
            }
        }
    }

    /**
     * The entry of {@code path} beneath {@code resolver}'s root, its missing parent directories made first
     * (with {@code mode}); only a missing parent is made, so the common case costs one resolution.
     */
    public static Entry resolveMakingParents(BeneathResolver resolver, String path, int mode) {
        try {
            return resolver.resolve(path);
        } catch (ErrnoException x) {
            if (x.errno() != io.fuseguard.api.Errno.ENOENT) {
                throw x;
            }
        }
        int slash = path.lastIndexOf('/');
        mkdirs(resolver, slash <= 0 ? "/" : path.substring(0, slash), mode);
        return resolver.resolve(path);
    }

    /**
     * A stream of the open file {@code fd} from its start; closing it closes {@code fd}. A read on an
     * interrupted thread throws {@link InterruptedIOException}, so a transfer stops when its thread is
     * interrupted, as it would reading from a FileChannel.
     */
    public static InputStream inputStream(int fd) {
        return new DescriptorInputStream(fd);
    }

    /** Reads a descriptor with pread at a position of its own. */
    private static final class DescriptorInputStream extends InputStream {
        private final int fd;
        private ByteBuffer buf; // one direct buffer per stream, allocated on the first read
        private long position;
        private boolean closed;

        DescriptorInputStream(int fd) {
            this.fd = fd;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (closed) {
                throw new IOException("stream closed");
            }
            if (Thread.currentThread().isInterrupted()) {
                throw new InterruptedIOException("interrupted while reading a cache file");
            }
            if (len == 0) {
                return 0;
            }
            if (buf == null) {
                buf = ByteBuffer.allocateDirect(1 << 16);
            }
            buf.clear().limit(Math.min(len, buf.capacity()));
            int n;
            try {
                n = HostFiles.read(fd, buf, position);
            } catch (ErrnoException e) {
                throw new IOException(e.getMessage(), e);
            }
            if (n == 0) {
                return -1;
            }
            buf.flip().get(b, off, n);
            position += n;
            return n;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                Host.close(fd);
            }
        }
    }
}
