package io.fuseguard.examples.upload;

import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.examples.host.Host;
import io.fuseguard.examples.host.HostFiles;
import io.fuseguard.examples.host.HostStat;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * A cache file opened for its upload: its size when opened (the upload sends that many bytes even if the file
 * grows meanwhile; the change mark makes it upload again), whether it has holes, and its data extents found
 * with {@code lseek(SEEK_DATA/SEEK_HOLE)}. Reads are positional ({@code pread}); closing closes the descriptor.
 */
final class CacheContent implements SparseContent, AutoCloseable {
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;
    private static final int ENXIO = 6;

    /** One buffer per uploading thread (a direct buffer per upload is slow to allocate and to free). */
    private static final ThreadLocal<ByteBuffer> STREAM_BUFFER = ThreadLocal.withInitial(
            () -> ByteBuffer.allocateDirect(1 << 16));

    private final int fd;
    private final long size;
    private final boolean holes;
    private boolean closed;

    private CacheContent(int fd, long size, boolean holes) {
        this.fd = fd;
        this.size = size;
        this.holes = holes;
    }

    /** The content of the open file {@code fd}, which this instance owns from now on. */
    static CacheContent of(int fd) {
        try {
            FileAttributes a = HostStat.of(fd);
            // fewer blocks than the size needs: there are holes (a small file's block is never less than its size)
            return new CacheContent(fd, a.size(), a.blocks() * 512 < a.size());
        } catch (ErrnoException e) {
            Host.close(fd);
            throw e;
        }
    }

    @Override
    public long size() {
        return size;
    }

    /** Whether the file has holes (then its extents are worth asking for). */
    boolean holes() {
        return holes;
    }

    @Override
    public List<Extent> extents() throws IOException {
        if (!holes) {
            return size == 0 ? List.of() : List.of(new Extent(0, size)); // no lseek for a dense file
        }
        List<Extent> out = new ArrayList<>();
        long pos = 0;
        while (pos < size) {
            long data = UploadLibC.get().lseek(fd, pos, SEEK_DATA);
            if (data < 0) {
                if (Host.errno() == ENXIO) {
                    break; // only a hole to the end
                }
                throw new IOException("lseek SEEK_DATA: errno " + Host.errno());
            }
            if (data >= size) {
                break;
            }
            long hole = UploadLibC.get().lseek(fd, data, SEEK_HOLE);
            if (hole < 0) {
                throw new IOException("lseek SEEK_HOLE: errno " + Host.errno());
            }
            long endOfData = Math.min(hole, size);
            out.add(new Extent(data, endOfData - data));
            pos = endOfData;
        }
        return out;
    }

    @Override
    public int read(ByteBuffer dst, long position) throws IOException {
        if (Thread.currentThread().isInterrupted()) {
            throw new InterruptedIOException("interrupted while reading a cache file");
        }
        int want = (int) Math.min(dst.remaining(), Math.max(0, size - position));
        ByteBuffer part = dst.duplicate().limit(dst.position() + want);
        try {
            int n = HostFiles.read(fd, part, position);
            dst.position(dst.position() + n);
            return n;
        } catch (ErrnoException e) {
            throw new IOException(e.getMessage(), e);
        }
    }

    @Override
    public InputStream stream() {
        return new InputStream() {
            private final ByteBuffer buf = STREAM_BUFFER.get();
            private long position;

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                if (len == 0) {
                    return 0;
                }
                if (position >= size) {
                    return -1;
                }
                buf.clear().limit((int) Math.min(Math.min(len, buf.capacity()), size - position));
                int n = CacheContent.this.read(buf, position);
                if (n == 0) {
                    return -1; // the file shrank: a short upload, which the backend refuses
                }
                buf.flip().get(b, off, n);
                position += n;
                return n;
            }
        };
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Host.close(fd);
        }
    }
}
