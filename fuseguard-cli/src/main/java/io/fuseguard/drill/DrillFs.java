package io.fuseguard.drill;

import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The filesystem of the deadlock drill: an ndrive-style jnr-fuse filesystem written the usual way, with a
 * {@code flush} that does close-time work. The drill serves the very same class twice: with plain jnr-fuse
 * (the control) and through fuseguard's one-line adapter, so the comparison is about the framework only.
 */
public final class DrillFs extends FuseStubFS {
    /** A file whose flush never returns when {@code stallFlush} is set. */
    public static final String STALL_FLUSH = "/stall-flush";

    private final Map<String, byte[]> files = new ConcurrentHashMap<>();
    private final boolean stallFlush;

    /** A filesystem with a 64 KiB {@code /data}, an empty {@code /held} and {@link #STALL_FLUSH}. */
    public DrillFs(boolean stallFlush) {
        this.stallFlush = stallFlush;
        byte[] data = new byte[64 * 1024];
        Arrays.fill(data, (byte) 'd');
        files.put("/data", data);
        files.put("/held", new byte[0]);
        files.put(STALL_FLUSH, new byte[0]);
    }

    @Override
    public int getattr(String path, FileStat stat) {
        if (path.equals("/")) {
            stat.st_mode.set(FileStat.S_IFDIR | 0755);
            stat.st_nlink.set(2);
            return 0;
        }
        byte[] b = files.get(path);
        if (b == null) {
            return -ErrorCodes.ENOENT();
        }
        stat.st_mode.set(FileStat.S_IFREG | 0644);
        stat.st_nlink.set(1);
        stat.st_size.set(b.length);
        return 0;
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filter, @off_t long offset, FuseFileInfo fi) {
        filter.apply(buf, ".", null, 0);
        filter.apply(buf, "..", null, 0);
        for (String f : files.keySet()) {
            filter.apply(buf, f.substring(1), null, 0);
        }
        return 0;
    }

    @Override
    public int open(String path, FuseFileInfo fi) {
        return files.containsKey(path) ? 0 : -ErrorCodes.ENOENT();
    }

    @Override
    public int create(String path, long mode, FuseFileInfo fi) {
        files.putIfAbsent(path, new byte[0]);
        return 0;
    }

    @Override
    public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        byte[] b = files.get(path);
        if (b == null) {
            return -ErrorCodes.ENOENT();
        }
        int n = (int) Math.max(0, Math.min(size, b.length - offset));
        buf.put(0, b, (int) offset, n);
        return n;
    }

    @Override
    public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        files.compute(path, (k, old) -> {
            byte[] o = old == null ? new byte[0] : old;
            // Keep the drill's logs small: clients append forever.
            if (offset + size > 1 << 20) {
                return o;
            }
            byte[] nb = Arrays.copyOf(o, (int) Math.max(o.length, offset + size));
            buf.get(0, nb, (int) offset, (int) size);
            return nb;
        });
        return (int) size;
    }

    @Override
    public int truncate(String path, long size) {
        files.computeIfPresent(path, (k, v) -> Arrays.copyOf(v, (int) Math.min(size, 1 << 20)));
        return 0;
    }

    @Override
    public int unlink(String path) {
        return files.remove(path) != null ? 0 : -ErrorCodes.ENOENT();
    }

    /** Close-time work, as ndrive does it (the upload); stalls forever on {@link #STALL_FLUSH} if asked. */
    @Override
    public int flush(String path, FuseFileInfo fi) {
        if (stallFlush && STALL_FLUSH.equals(path)) {
            while (true) {
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    // a wedged backend does not care about interrupts either
                }
            }
        }
        return 0;
    }

    @Override
    public int release(String path, FuseFileInfo fi) {
        return 0;
    }
}
