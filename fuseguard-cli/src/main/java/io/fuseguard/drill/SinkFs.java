package io.fuseguard.drill;

import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A jnr-fuse filesystem with one file, {@code /sink}, whose writes are counted and dropped: lets a test push
 * gigabytes through the adapter and watch the daemon's memory, not the filesystem's.
 */
public final class SinkFs extends FuseStubFS {
    private final AtomicLong written = new AtomicLong();

    /** Bytes written so far. */
    public long written() {
        return written.get();
    }

    @Override
    public int getattr(String path, FileStat stat) {
        if (path.equals("/")) {
            stat.st_mode.set(FileStat.S_IFDIR | 0755);
            stat.st_nlink.set(2);
            return 0;
        }
        if (path.equals("/sink")) {
            stat.st_mode.set(FileStat.S_IFREG | 0666);
            stat.st_nlink.set(1);
            return 0;
        }
        return -ErrorCodes.ENOENT();
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filter, @off_t long offset, FuseFileInfo fi) {
        filter.apply(buf, ".", null, 0);
        filter.apply(buf, "..", null, 0);
        filter.apply(buf, "sink", null, 0);
        return 0;
    }

    @Override
    public int open(String path, FuseFileInfo fi) {
        return path.equals("/sink") ? 0 : -ErrorCodes.ENOENT();
    }

    @Override
    public int truncate(String path, long size) {
        return 0;
    }

    @Override
    public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        // Touch the data as a real filesystem would (checksum-like), then drop it.
        long sum = 0;
        for (long i = 0; i < size; i += 4096) {
            sum += buf.getByte(i);
        }
        written.addAndGet(size + (sum & 0));
        return (int) size;
    }

    @Override
    public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        return 0;
    }
}
