package io.fuseguard.examples.migration;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.mount.FuseMount;
import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The migration rung: a filesystem written for plain jnr-fuse, the way jnr-fuse's own examples are (a
 * {@link FuseStubFS} subclass with native pointers and {@code -errno} returns), mounted under fuseguard's guards
 * without a change to its code. {@link #main} shows the one line a migration changes: {@code fs.mount(...)}
 * becomes {@code JnrFuseMount.mount(fs, ...)} (from the fuse-jnr artifact).
 *
 * <p>The filesystem itself is a flat directory of files held in a map: enough to read, write, list, truncate
 * and delete. Its callbacks are overridable so drills and tests can add close-time work or stalls to the same
 * code ({@code fuseguard drill} serves a subclass of it with plain jnr-fuse and through fuseguard side by side).
 */
public class JnrMapFs extends FuseStubFS {
    private final Map<String, byte[]> files = new ConcurrentHashMap<>();
    private final int maxFileSize;

    /** An empty filesystem whose files may grow to {@code maxFileSize} bytes (EFBIG past it). */
    public JnrMapFs(int maxFileSize) {
        this.maxFileSize = maxFileSize;
    }

    /** An empty filesystem with files of up to 64 MiB. */
    public JnrMapFs() {
        this(64 << 20);
    }

    /** The files, by absolute path ({@code /name}); tests and subclasses may add or inspect them. */
    public final Map<String, byte[]> files() {
        return files;
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
        if (!path.equals("/")) {
            return -ErrorCodes.ENOTDIR();
        }
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
    public int create(String path, @jnr.ffi.types.mode_t long mode, FuseFileInfo fi) {
        if (path.indexOf('/', 1) >= 0) {
            return -ErrorCodes.ENOENT(); // flat: no directories to create files in
        }
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
        if (offset + size > maxFileSize) {
            return -ErrorCodes.EFBIG(); // never acknowledge data that is not kept
        }
        files.compute(path, (k, old) -> {
            byte[] o = old == null ? new byte[0] : old;
            // A copy per write, as simple map-backed filesystems do; growing in place would race readers.
            byte[] nb = Arrays.copyOf(o, (int) Math.max(o.length, offset + size));
            buf.get(0, nb, (int) offset, (int) size);
            return nb;
        });
        return (int) size;
    }

    @Override
    public int truncate(String path, @off_t long size) {
        if (size > maxFileSize) {
            return -ErrorCodes.EFBIG();
        }
        return files.computeIfPresent(path, (k, v) -> Arrays.copyOf(v, (int) size)) != null ? 0
                : -ErrorCodes.ENOENT();
    }

    @Override
    public int unlink(String path) {
        return files.remove(path) != null ? 0 : -ErrorCodes.ENOENT();
    }

    /**
     * Mounts a JnrMapFs on {@code args[0]} through fuseguard and serves it until it is unmounted. With plain
     * jnr-fuse this line would be {@code fs.mount(Path.of(args[0]), true)}.
     *
     * @param args the mount point, an existing empty directory
     */
    public static void main(String[] args) throws InterruptedException {
        if (args.length != 1) {
            System.err.println("usage: JnrMapFs <mount-point>");
            System.exit(2);
        }
        try (FuseMount mount = JnrFuseMount.mount(new JnrMapFs(), Path.of(args[0]), FuseguardConfig.defaults())) {
            mount.awaitUnmount();
        }
    }
}
