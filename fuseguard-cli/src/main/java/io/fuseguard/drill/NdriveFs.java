package io.fuseguard.drill;

import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A cloud-backed filesystem written on jnr-fuse the way teams write them (Netflix's ndrive is the model): an
 * in-memory tree; {@code flush()} uploads the file to a remote store (a directory here, with injectable latency,
 * stalls and failures) through an uploader that {@code init()} starts and {@code destroy()} drains; a background
 * indexer thread of the daemon reads files on its own mount (the exit-time deadlock's precondition); handlers
 * note {@code getContext()}'s caller. Nothing in it knows fuseguard: the drill and the migration tests serve this
 * very class with plain jnr-fuse and through fuseguard's one-line adapter.
 */
public final class NdriveFs extends FuseStubFS {
    private static final int DIR = FileStat.S_IFDIR;
    private static final int REG = FileStat.S_IFREG;

    /** One file or directory of the tree. */
    private static final class Entry {
        final boolean dir;
        int mode;
        byte[] data = new byte[0];
        int size;
        long mtime = System.currentTimeMillis();

        Entry(boolean dir, int mode) {
            this.dir = dir;
            this.mode = mode;
        }
    }

    private final Map<String, Entry> tree = new ConcurrentHashMap<>();
    private final RemoteStore remote;
    private final Path ownMount;
    private volatile ExecutorService uploader;
    private final AtomicInteger flushes = new AtomicInteger();
    private final AtomicInteger uploads = new AtomicInteger();
    private final AtomicInteger inits = new AtomicInteger();
    private final AtomicInteger destroys = new AtomicInteger();
    private final AtomicLong indexed = new AtomicLong();
    private final AtomicLong indexErrors = new AtomicLong();
    private final AtomicLong indexerPasses = new AtomicLong();
    private final Map<String, Integer> callerUids = new ConcurrentHashMap<>();
    private volatile String lastIndexError = "";
    private volatile boolean indexerOn;
    private volatile InputStream heldByIndexer;

    /**
     * A filesystem uploading to {@code remote}; its indexer (started by {@link #startIndexer}) reads
     * {@code ownMount}.
     */
    public NdriveFs(RemoteStore remote, Path ownMount) {
        this.remote = remote;
        this.ownMount = ownMount;
        tree.put("/", new Entry(true, 0755));
    }

    /** A remote object store: a directory, written atomically (temp file, then rename). */
    public static final class RemoteStore {
        private final Path dir;
        private volatile long latencyMillis;
        private volatile long stallUntilNanos;
        private volatile boolean failing;

        /** A store in {@code dir}. */
        public RemoteStore(Path dir) throws IOException {
            this.dir = Files.createDirectories(dir);
        }

        /** Every upload takes this long. */
        public RemoteStore latency(long millis) {
            this.latencyMillis = millis;
            return this;
        }

        /** Uploads hang for this long from now (a stalled backend). */
        public RemoteStore stallFor(long millis) {
            this.stallUntilNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
            return this;
        }

        /** Uploads fail (or stop failing). */
        public RemoteStore failing(boolean failing) {
            this.failing = failing;
            return this;
        }

        /** Where an object lives. */
        public Path objectPath(String path) {
            return dir.resolve(path.substring(1).replace('/', '%'));
        }

        void put(String path, byte[] content) throws IOException, InterruptedException {
            // An outage another process can switch on: uploads hang while the store holds a ".stall" file.
            while (Files.exists(dir.resolve(".stall"))) {
                Thread.sleep(20);
            }
            long wait = latencyMillis;
            long stall = stallUntilNanos - System.nanoTime();
            if (stall > 0) {
                wait = Math.max(wait, TimeUnit.NANOSECONDS.toMillis(stall));
            }
            if (wait > 0) {
                Thread.sleep(wait);
            }
            if (failing) {
                throw new IOException("remote store unavailable");
            }
            Path tmp = dir.resolve(".upload-" + Thread.currentThread().getId() + "-" + System.nanoTime());
            Files.write(tmp, content);
            Files.move(tmp, objectPath(path), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }

        void delete(String path) throws IOException {
            Files.deleteIfExists(objectPath(path));
        }
    }

    // ---- figures for tests ---------------------------------------------------------------------------------

    /** flush() calls. */
    public int flushes() {
        return flushes.get();
    }

    /** Uploads that completed. */
    public int uploads() {
        return uploads.get();
    }

    /** init() calls. */
    public int inits() {
        return inits.get();
    }

    /** destroy() calls. */
    public int destroys() {
        return destroys.get();
    }

    /** Files the indexer read through the mount. */
    public long indexed() {
        return indexed.get();
    }

    /** Passes the indexer finished (each lists the mount, reads every file and, when holding, has index.db open). */
    public long indexerPasses() {
        return indexerPasses.get();
    }

    /** Errors the indexer got from the mount. */
    public long indexErrors() {
        return indexErrors.get();
    }

    /** The last error the indexer got. */
    public String lastIndexError() {
        return lastIndexError;
    }

    /**
     * The uid getContext() reported for the last open/create/read of {@code path} ({@code "flush:" + path} for
     * its last flush).
     */
    public Integer callerUid(String path) {
        return callerUids.get(path);
    }

    // ---- lifecycle -----------------------------------------------------------------------------------------

    @Override
    public Pointer init(Pointer conn) {
        inits.incrementAndGet();
        uploader = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "ndrive-uploader");
            t.setDaemon(true);
            return t;
        });
        return null;
    }

    @Override
    public void destroy(Pointer initResult) {
        destroys.incrementAndGet();
        ExecutorService u = uploader;
        if (u != null) {
            u.shutdown();
            try {
                u.awaitTermination(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        indexerOn = false;
    }

    /**
     * Starts the daemon's indexer: a thread that lists the files of its own mount every {@code interval} and
     * reads the head (4 KiB) of each; with {@code hold} it also keeps {@code /index.db} open on the mount, as
     * ndrive's daemon did.
     */
    public void startIndexer(boolean hold, java.time.Duration interval) {
        indexerOn = true;
        Thread t = new Thread(() -> {
            byte[] head = new byte[4096];
            while (indexerOn) {
                try (var files = Files.list(ownMount)) {
                    for (Path p : (Iterable<Path>) files::iterator) {
                        if (Files.isRegularFile(p)) {
                            try (InputStream in = Files.newInputStream(p)) {
                                in.read(head);
                            }
                            indexed.incrementAndGet();
                        }
                    }
                    if (hold && heldByIndexer == null) {
                        heldByIndexer = Files.newInputStream(ownMount.resolve("index.db"));
                    }
                } catch (IOException | RuntimeException e) {
                    indexErrors.incrementAndGet();
                    lastIndexError = e.toString();
                }
                indexerPasses.incrementAndGet();
                try {
                    Thread.sleep(interval.toMillis());
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "ndrive-indexer");
        t.setDaemon(true);
        t.start();
    }

    /** Adds a file directly (seeding, e.g. the indexer's database). */
    public NdriveFs withFile(String path, byte[] content) {
        Entry e = new Entry(false, 0644);
        e.data = content.clone();
        e.size = content.length;
        tree.put(path, e);
        return this;
    }

    // ---- operations ----------------------------------------------------------------------------------------

    private void noteCaller(String path) {
        callerUids.put(path, (int) getContext().uid.get());
    }

    private static String parent(String path) {
        int i = path.lastIndexOf('/');
        return i <= 0 ? "/" : path.substring(0, i);
    }

    @Override
    public int getattr(String path, FileStat stat) {
        Entry e = tree.get(path);
        if (e == null) {
            return -ErrorCodes.ENOENT();
        }
        synchronized (e) {
            stat.st_mode.set((e.dir ? DIR : REG) | e.mode);
            stat.st_nlink.set(e.dir ? 2 : 1);
            stat.st_size.set(e.size);
            stat.st_uid.set(0);
            stat.st_gid.set(0);
            stat.st_mtim.tv_sec.set(e.mtime / 1000);
            stat.st_mtim.tv_nsec.set((e.mtime % 1000) * 1_000_000);
            stat.st_ctim.tv_sec.set(e.mtime / 1000);
            stat.st_atim.tv_sec.set(e.mtime / 1000);
        }
        return 0;
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filter, @off_t long offset, FuseFileInfo fi) {
        Entry d = tree.get(path);
        if (d == null || !d.dir) {
            return -ErrorCodes.ENOTDIR();
        }
        filter.apply(buf, ".", null, 0);
        filter.apply(buf, "..", null, 0);
        String prefix = path.equals("/") ? "/" : path + "/";
        for (String p : tree.keySet()) {
            if (!p.equals("/") && p.startsWith(prefix) && p.indexOf('/', prefix.length()) < 0) {
                filter.apply(buf, p.substring(prefix.length()), null, 0);
            }
        }
        return 0;
    }

    @Override
    public int mkdir(String path, long mode) {
        if (tree.containsKey(path)) {
            return -ErrorCodes.EEXIST();
        }
        tree.put(path, new Entry(true, (int) mode & 07777));
        return 0;
    }

    @Override
    public int rmdir(String path) {
        String prefix = path + "/";
        for (String p : tree.keySet()) {
            if (p.startsWith(prefix)) {
                return -ErrorCodes.ENOTEMPTY();
            }
        }
        return tree.remove(path) != null ? 0 : -ErrorCodes.ENOENT();
    }

    @Override
    public int create(String path, long mode, FuseFileInfo fi) {
        if (!tree.containsKey(parent(path))) {
            return -ErrorCodes.ENOENT();
        }
        tree.putIfAbsent(path, new Entry(false, (int) mode & 07777));
        noteCaller(path);
        return 0;
    }

    @Override
    public int open(String path, FuseFileInfo fi) {
        if (!tree.containsKey(path)) {
            return -ErrorCodes.ENOENT();
        }
        noteCaller(path);
        return 0;
    }

    @Override
    public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        Entry e = tree.get(path);
        if (e == null) {
            return -ErrorCodes.ENOENT();
        }
        noteCaller(path);
        synchronized (e) {
            int n = (int) Math.max(0, Math.min(size, e.size - offset));
            buf.put(0, e.data, (int) offset, n);
            return n;
        }
    }

    @Override
    public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        Entry e = tree.get(path);
        if (e == null) {
            return -ErrorCodes.ENOENT();
        }
        synchronized (e) {
            long end = offset + size;
            if (end > e.data.length) {
                e.data = Arrays.copyOf(e.data, (int) Math.max(end, Math.min(2L * e.data.length, Integer.MAX_VALUE
                        - 8)));
            }
            buf.get(0, e.data, (int) offset, (int) size);
            e.size = (int) Math.max(e.size, end);
            e.mtime = System.currentTimeMillis();
        }
        return (int) size;
    }

    @Override
    public int truncate(String path, long size) {
        Entry e = tree.get(path);
        if (e == null) {
            return -ErrorCodes.ENOENT();
        }
        synchronized (e) {
            if (size > e.data.length) {
                e.data = Arrays.copyOf(e.data, (int) size);
            } else {
                Arrays.fill(e.data, (int) size, e.data.length, (byte) 0);
            }
            e.size = (int) size;
            e.mtime = System.currentTimeMillis();
        }
        return 0;
    }

    @Override
    public int unlink(String path) {
        if (tree.remove(path) == null) {
            return -ErrorCodes.ENOENT();
        }
        try {
            remote.delete(path);
        } catch (IOException e) {
            return -ErrorCodes.EIO();
        }
        return 0;
    }

    @Override
    public int rename(String from, String to) {
        Entry e = tree.remove(from);
        if (e == null) {
            return -ErrorCodes.ENOENT();
        }
        tree.put(to, e);
        return 0;
    }

    @Override
    public int chmod(String path, long mode) {
        Entry e = tree.get(path);
        if (e == null) {
            return -ErrorCodes.ENOENT();
        }
        e.mode = (int) mode & 07777;
        return 0;
    }

    @Override
    public int utimens(String path, Timespec[] timespec) {
        Entry e = tree.get(path);
        if (e == null) {
            return -ErrorCodes.ENOENT();
        }
        e.mtime = System.currentTimeMillis();
        return 0;
    }

    @Override
    public int statfs(String path, Statvfs stbuf) {
        stbuf.f_bsize.set(4096);
        stbuf.f_frsize.set(4096);
        stbuf.f_blocks.set(1 << 20);
        stbuf.f_bfree.set(1 << 19);
        stbuf.f_bavail.set(1 << 19);
        stbuf.f_namemax.set(255);
        return 0;
    }

    /** The close-time work: upload the file as it is now, and wait until the store has it. */
    @Override
    public int flush(String path, FuseFileInfo fi) {
        flushes.incrementAndGet();
        callerUids.put("flush:" + path, (int) getContext().uid.get());
        Entry e = tree.get(path);
        if (e == null || e.dir) {
            return 0;
        }
        byte[] snapshot;
        synchronized (e) {
            snapshot = Arrays.copyOf(e.data, e.size);
        }
        ExecutorService u = uploader;
        if (u == null) {
            return -ErrorCodes.EIO(); // init() was never called: nothing can be uploaded
        }
        try {
            u.submit(() -> {
                remote.put(path, snapshot);
                uploads.incrementAndGet();
                return null;
            }).get();
            return 0;
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            return -ErrorCodes.EINTR();
        } catch (Exception ex) {
            return -ErrorCodes.EIO();
        }
    }

    @Override
    public int release(String path, FuseFileInfo fi) {
        return 0;
    }

    @Override
    public int fsync(String path, int isdatasync, FuseFileInfo fi) {
        return 0;
    }
}
