package io.fuseguard.examples.upload;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.RequestContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * A filesystem that keeps files in a local cache directory and uploads them to a {@link Backend} after they
 * are closed, the design of Netflix's "ndrive" without its exit-time deadlock.
 *
 * <h2>Write path</h2>
 * Writes go to the cache file. The first change of a file commits a durable {@link Journal} entry "path X
 * version V pending upload" <em>before</em> the data is written, so whatever the kernel handed to the daemon is
 * either uploaded or still pending after a crash. When the last writer closes the file, {@link #release} (the
 * kernel does not wait for it: RELEASE is asynchronous) hands the path to the uploader executor and returns at
 * once. Upload work is never done in FLUSH (under fuseguard's default policy the kernel never even sends it)
 * and never on a FUSE handler thread, except in {@link #fsync}.
 *
 * <h2>Uploads</h2>
 * An uploader thread streams the cache file to the backend; on failure it retries with exponential backoff
 * ({@link Settings#initialBackoff()} doubling up to {@link Settings#maxBackoff()}) for
 * {@link Settings#maxAttempts()} attempts, then parks the path: the entry stays in the journal and is retried
 * on the next change or close of the file, by {@link #retryPending()} and on the next mount. The entry is
 * removed only after the backend confirmed and only if the file did not change meanwhile. A backend that stalls
 * holds uploader threads, never a FUSE request: {@code close()} stays instant.
 *
 * <h2>Durability point</h2>
 * {@link #fsync} flushes the cache file and uploads synchronously, within the SYNC deadline of the request;
 * a backend failure (or the deadline passing) is answered EIO, so {@code fsync(2)} tells the program its data
 * is not in the store yet. The data is not lost: it stays in the cache and in the journal.
 *
 * <h2>Crash recovery</h2>
 * On construction the journal is replayed: every pending upload (and delete) is scheduled again from the cache.
 * A daemon killed with SIGKILL mid-upload therefore finishes the upload after the next mount; the backend's
 * puts are atomic and idempotent, so a repeated upload is harmless.
 *
 * <h2>Namespace</h2>
 * A hierarchical namespace mirrored in the cache and in the backend: {@code getattr}/{@code readdir} show the
 * union of both (cache first); a file only in the backend is fetched into the cache on its first
 * {@code open}. {@code unlink}, {@code rmdir} and {@code rename} change the cache at once and journal the
 * backend side (a pending delete hides the backend entry until done; a rename uploads the new name and deletes
 * the old). Directories are implicit in the backend (object-store style): an empty directory lives in the
 * cache only. Modes, owners and times live in the cache only. No symlinks, no hard links, no eviction of clean
 * cache files (the cache holds everything ever opened).
 */
public class CachedUploadFs implements FuseFileSystem, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CachedUploadFs.class);
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;
    private static final int O_ACCMODE = 03;
    private static final int O_TRUNC = 01000;
    /** Where libfuse 2 moves a file unlinked while open; such files never reach the backend. */
    private static final String FUSE_HIDDEN = ".fuse_hidden";

    /**
     * Tuning of the uploader.
     *
     * @param uploaderThreads concurrent uploads
     * @param maxAttempts     attempts before a path is parked (kept pending until its next change or mount)
     * @param initialBackoff  wait after the first failure, doubled after each further one
     * @param maxBackoff      longest wait between attempts
     */
    public record Settings(int uploaderThreads, int maxAttempts, Duration initialBackoff, Duration maxBackoff) {
        /** Validates the record. */
        public Settings {
            if (uploaderThreads < 1 || maxAttempts < 1) {
                throw new IllegalArgumentException("uploaderThreads and maxAttempts must be at least 1");
            }
            Objects.requireNonNull(initialBackoff, "initialBackoff");
            Objects.requireNonNull(maxBackoff, "maxBackoff");
        }

        /** 4 uploaders, 6 attempts, backoff from 200 ms up to 30 s. */
        public static Settings defaults() {
            return new Settings(4, 6, Duration.ofMillis(200), Duration.ofSeconds(30));
        }

        /** A copy with another backoff (handy in tests). */
        public Settings withBackoff(Duration initial, Duration max) {
            return new Settings(uploaderThreads, maxAttempts, initial, max);
        }

        /** A copy with another attempt limit. */
        public Settings withMaxAttempts(int attempts) {
            return new Settings(uploaderThreads, attempts, initialBackoff, maxBackoff);
        }
    }

    /** An open file. */
    private static final class Handle {
        volatile String path;
        final FileChannel channel;
        final boolean writable;

        Handle(String path, FileChannel channel, boolean writable) {
            this.path = path;
            this.channel = channel;
            this.writable = writable;
        }
    }

    private final Backend backend;
    private final Path data;
    private final Path tmp;
    private final Journal journal;
    private final Settings settings;
    private final ScheduledThreadPoolExecutor uploader;
    private final Object lock = new Object();
    private final AtomicLong nextFh = new AtomicLong(1);
    private final AtomicLong versions;
    private final AtomicLong uploads = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();

    // guarded by lock
    private final Map<String, Journal.Entry> pending = new HashMap<>();
    private final Map<Long, Handle> handles = new HashMap<>();
    private final Map<String, Long> modSeq = new HashMap<>();
    private final Map<String, Integer> attempts = new HashMap<>();
    private final Set<String> running = new HashSet<>();
    private final Set<String> rerun = new HashSet<>();
    private final Set<String> parked = new HashSet<>();
    private long seq;
    private boolean closed;

    /** A filesystem with the default {@link Settings}. */
    public CachedUploadFs(Path cacheDir, Backend backend) throws IOException {
        this(cacheDir, backend, Settings.defaults());
    }

    /**
     * A filesystem caching in {@code cacheDir} (its subdirectories {@code data}, {@code journal} and
     * {@code tmp}) and uploading to {@code backend}. Replays the journal: uploads left pending by a previous
     * run start at once.
     */
    public CachedUploadFs(Path cacheDir, Backend backend, Settings settings) throws IOException {
        this.backend = Objects.requireNonNull(backend, "backend");
        this.settings = Objects.requireNonNull(settings, "settings");
        this.data = Files.createDirectories(cacheDir.resolve("data")).toRealPath();
        this.tmp = Files.createDirectories(cacheDir.resolve("tmp")).toRealPath();
        try (Stream<Path> s = Files.list(tmp)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Files.deleteIfExists(p); // downloads interrupted by a crash
            }
        }
        this.journal = new Journal(cacheDir.resolve("journal"));
        AtomicInteger n = new AtomicInteger();
        ThreadFactory tf = r -> {
            Thread t = new Thread(r, "fuseguard-uploader-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
        this.uploader = new ScheduledThreadPoolExecutor(settings.uploaderThreads(), tf);
        this.uploader.setRemoveOnCancelPolicy(true);
        List<Journal.Entry> replay = journal.load();
        long maxVersion = 0;
        synchronized (lock) {
            for (Journal.Entry e : replay) {
                pending.put(e.path(), e);
                maxVersion = Math.max(maxVersion, e.version());
            }
        }
        this.versions = new AtomicLong(Math.max(maxVersion + 1, System.currentTimeMillis()));
        if (!replay.isEmpty()) {
            LOG.info("Journal replay: {} pending backend operation(s) resumed from the cache", replay.size());
        }
        for (Journal.Entry e : replay) {
            schedule(e.path());
        }
    }

    // ---------------------------------------------------------------- observability

    /** Paths whose upload or delete the backend has not confirmed yet. */
    public Set<String> pendingPaths() {
        synchronized (lock) {
            return new TreeSet<>(pending.keySet());
        }
    }

    /** Paths that exhausted their attempts and wait for their next change, {@link #retryPending} or mount. */
    public Set<String> parkedPaths() {
        synchronized (lock) {
            return new TreeSet<>(parked);
        }
    }

    /** Backend operations confirmed since construction. */
    public long completedOperations() {
        return uploads.get();
    }

    /** Failed backend attempts since construction. */
    public long failedAttempts() {
        return failures.get();
    }

    /** Waits until nothing is pending (or the timeout passed); returns whether the journal is empty. */
    public boolean awaitIdle(Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        synchronized (lock) {
            while (!pending.isEmpty()) {
                long left = end - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(lock, left);
            }
            return true;
        }
    }

    /** Schedules every pending path again, parked ones included (e.g. after the backend came back). */
    public void retryPending() {
        List<String> paths;
        synchronized (lock) {
            parked.clear();
            attempts.clear();
            paths = new ArrayList<>(pending.keySet());
        }
        paths.forEach(this::schedule);
    }

    /** The cache file of a path (for tests and tools; never write it behind the filesystem's back). */
    public Path cacheFileOf(String path) {
        return cachePath(path);
    }

    // ---------------------------------------------------------------- paths and state

    private Path cachePath(String path) {
        if (path == null || !path.startsWith("/")) {
            throw new ErrnoException(Errno.EINVAL, "not an absolute path: " + path);
        }
        if (path.equals("/")) {
            return data;
        }
        Path p = data;
        for (String c : path.substring(1).split("/", -1)) {
            if (c.isEmpty() || c.equals(".") || c.equals("..")) {
                throw new ErrnoException(Errno.EINVAL, "refused path " + path);
            }
            p = p.resolve(c);
        }
        return p;
    }

    private static String parentOf(String path) {
        int i = path.lastIndexOf('/');
        return i <= 0 ? "/" : path.substring(0, i);
    }

    private static String child(String dir, String name) {
        return dir.equals("/") ? "/" + name : dir + "/" + name;
    }

    private static boolean localOnly(String path) {
        return path.substring(path.lastIndexOf('/') + 1).startsWith(FUSE_HIDDEN);
    }

    private static boolean under(String path, String dir) {
        return path.startsWith(dir + "/");
    }

    /** Whether a delete of {@code path} is pending (the backend's copy is hidden). Caller holds the lock. */
    private boolean tombstoned(String path) {
        Journal.Entry e = pending.get(path);
        return e != null && e.op() == Journal.Op.DELETE;
    }

    private boolean hasWriters(String path) {
        for (Handle h : handles.values()) {
            if (h.writable && h.path.equals(path)) {
                return true;
            }
        }
        return false;
    }

    /** Commits the "pending upload" entry before a change. Caller holds the lock. */
    private void journalPut(String path) throws IOException {
        if (localOnly(path)) {
            return;
        }
        Journal.Entry e = pending.get(path);
        if (e == null || e.op() != Journal.Op.PUT) {
            Journal.Entry put = new Journal.Entry(Journal.Op.PUT, path, versions.getAndIncrement());
            journal.write(put);
            pending.put(path, put);
        }
    }

    private void journalDelete(String path) throws IOException {
        if (localOnly(path)) {
            Journal.Entry old = pending.remove(path);
            if (old != null) {
                journal.remove(path);
            }
            return;
        }
        Journal.Entry del = new Journal.Entry(Journal.Op.DELETE, path, versions.getAndIncrement());
        journal.write(del);
        pending.put(path, del);
        parked.remove(path);
        attempts.remove(path);
    }

    private void beforeChange(String path) {
        synchronized (lock) {
            try {
                journalPut(path);
            } catch (IOException e) {
                throw new ErrnoException(Errno.EIO, "cannot journal " + path + ": " + e.getMessage());
            }
        }
    }

    private void afterChange(String path) {
        synchronized (lock) {
            modSeq.put(path, ++seq);
            parked.remove(path);
        }
    }

    // ---------------------------------------------------------------- uploader

    private void schedule(String path) {
        try {
            uploader.execute(() -> reconcile(path, false));
        } catch (RejectedExecutionException e) {
            LOG.debug("uploader stopped; {} stays pending", path);
        }
    }

    private void scheduleLater(String path, Duration delay) {
        try {
            uploader.schedule(() -> reconcile(path, false), delay.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            LOG.debug("uploader stopped; {} stays pending", path);
        }
    }

    private Duration backoff(int failuresSoFar) {
        long ms = settings.initialBackoff().toMillis() << Math.min(20, failuresSoFar - 1);
        return Duration.ofMillis(Math.min(ms, settings.maxBackoff().toMillis()));
    }

    /**
     * Brings the backend in line with the path's journal entry. Runs on an uploader thread, or on the fsync
     * handler's thread ({@code sync = true}: waits for a running upload of the path, reports failure by
     * exception instead of retrying).
     */
    private void reconcile(String path, boolean sync) {
        Journal.Entry e;
        long mod;
        synchronized (lock) {
            if (closed) {
                if (sync) {
                    throw new ErrnoException(Errno.EIO, "filesystem closed");
                }
                return;
            }
            if (sync) {
                while (running.contains(path)) {
                    try {
                        waitBounded();
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        throw new ErrnoException(Errno.EINTR);
                    }
                }
            } else if (running.contains(path)) {
                rerun.add(path);
                return;
            }
            e = pending.get(path);
            if (e == null || (!sync && e.op() == Journal.Op.PUT && hasWriters(path))) {
                return; // done already, or the last release schedules it
            }
            running.add(path);
            mod = modSeq.getOrDefault(path, 0L);
        }
        IOException failure = null;
        boolean vanished = false;
        try {
            if (e.op() == Journal.Op.PUT) {
                Path file = cachePath(path);
                InputStream in = null;
                long size = 0;
                try {
                    in = Files.newInputStream(file, NOFOLLOW);
                    size = Files.size(file);
                } catch (NoSuchFileException nf) {
                    vanished = true;
                    if (in != null) {
                        in.close();
                    }
                }
                if (!vanished) {
                    try (InputStream data = in) {
                        backend.put(path, data, size);
                    }
                }
            } else {
                backend.delete(path);
            }
        } catch (IOException ex) {
            failure = ex;
        } catch (RuntimeException ex) {
            failure = new IOException(ex);
        }
        synchronized (lock) {
            running.remove(path);
            boolean again = rerun.remove(path);
            Journal.Entry now = pending.get(path);
            boolean changed = now == null || now.version() != e.version()
                    || modSeq.getOrDefault(path, 0L) != mod;
            try {
                if (failure == null && vanished && !changed) {
                    LOG.warn("Cache file of {} disappeared; dropping its pending upload", path);
                    dropEntry(path);
                } else if (failure == null) {
                    uploads.incrementAndGet();
                    attempts.remove(path);
                    parked.remove(path);
                    if (!changed) {
                        dropEntry(path);
                    } else {
                        again = true;
                    }
                } else {
                    failures.incrementAndGet();
                    if (changed) {
                        attempts.remove(path);
                        again = true;
                    } else if (!sync && !closed) {
                        int n = attempts.merge(path, 1, Integer::sum);
                        again = false;
                        if (n >= settings.maxAttempts()) {
                            attempts.remove(path);
                            parked.add(path);
                            LOG.warn("{} of {} failed {} times ({}); kept pending until its next change, "
                                    + "retryPending() or the next mount", e.op(), path, n, failure.toString());
                        } else {
                            Duration d = backoff(n);
                            LOG.info("{} of {} failed (attempt {}/{}: {}); retrying in {} ms", e.op(), path, n,
                                    settings.maxAttempts(), failure.toString(), d.toMillis());
                            scheduleLater(path, d);
                        }
                    }
                }
            } catch (IOException je) {
                LOG.error("Journal update for {} failed: {}", path, je.toString());
            } finally {
                lock.notifyAll();
            }
            if (again && !closed) {
                schedule(path);
            }
        }
        if (sync && failure != null) {
            throw new ErrnoException(Errno.EIO, "upload of " + path + " failed: " + failure.getMessage());
        }
    }

    private void dropEntry(String path) throws IOException {
        journal.remove(path);
        pending.remove(path);
    }

    /** Waits on the lock, bounded by the current request's deadline. Caller holds the lock. */
    private void waitBounded() throws InterruptedException {
        Optional<RequestContext> ctx = RequestContext.current();
        if (ctx.isPresent()) {
            long ms = ctx.get().remaining().toMillis();
            if (ms <= 0) {
                throw new ErrnoException(Errno.EIO, "deadline passed");
            }
            lock.wait(ms);
        } else {
            lock.wait(1000);
        }
    }

    // ---------------------------------------------------------------- attributes and listing

    @Override
    public FileAttributes getattr(String path) throws IOException {
        Path c = cachePath(path);
        try {
            return attributesOf(c);
        } catch (NoSuchFileException e) {
            // not cached: fall through to the backend
        }
        synchronized (lock) {
            if (tombstoned(path) || localOnly(path)) {
                throw new ErrnoException(Errno.ENOENT);
            }
        }
        Optional<BackendEntry> b;
        try {
            b = backend.stat(path);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "backend stat " + path + ": " + e.getMessage());
        }
        return b.map(this::attributesOf).orElseThrow(() -> new ErrnoException(Errno.ENOENT));
    }

    private static FileAttributes attributesOf(Path p) throws IOException {
        Map<String, Object> a = Files.readAttributes(p, "unix:*", NOFOLLOW);
        int mode = (Integer) a.get("mode");
        return FileAttributes.builder(FileType.ofMode(mode)).permissions(mode & 07777)
                .nlink(((Number) a.get("nlink")).longValue())
                .owner(((Number) a.get("uid")).longValue(), ((Number) a.get("gid")).longValue())
                .size((Long) a.get("size"))
                .atime(((FileTime) a.get("lastAccessTime")).toInstant())
                .mtime(((FileTime) a.get("lastModifiedTime")).toInstant())
                .ctime(((FileTime) a.get("ctime")).toInstant())
                .build();
    }

    private FileAttributes attributesOf(BackendEntry e) {
        long uid = 0;
        long gid = 0;
        try {
            uid = ((Number) Files.getAttribute(data, "unix:uid")).longValue();
            gid = ((Number) Files.getAttribute(data, "unix:gid")).longValue();
        } catch (IOException | UnsupportedOperationException ignored) {
            // root
        }
        return FileAttributes.builder(e.directory() ? FileType.DIRECTORY : FileType.REGULAR)
                .size(e.directory() ? 0 : e.size()).owner(uid, gid).times(e.modified()).build();
    }

    @Override
    public void readdir(String path, DirectorySink sink) throws IOException {
        FileAttributes self = getattr(path);
        if (self.type() != FileType.DIRECTORY) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        for (Map.Entry<String, FileAttributes> e : union(path).entrySet()) {
            sink.add(e.getKey(), e.getValue());
        }
    }

    /** The entries of a directory: the cache's, then the backend's not hidden by a pending delete. */
    private Map<String, FileAttributes> union(String path) throws IOException {
        Map<String, FileAttributes> out = new LinkedHashMap<>();
        Path c = cachePath(path);
        if (Files.isDirectory(c, NOFOLLOW)) {
            try (DirectoryStream<Path> s = Files.newDirectoryStream(c)) {
                for (Path p : s) {
                    try {
                        out.put(p.getFileName().toString(), attributesOf(p));
                    } catch (NoSuchFileException gone) {
                        // removed meanwhile
                    }
                }
            }
        }
        List<BackendEntry> remote;
        try {
            remote = backend.list(path);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "backend list " + path + ": " + e.getMessage());
        }
        synchronized (lock) {
            for (BackendEntry e : remote) {
                if (!out.containsKey(e.name()) && !tombstoned(child(path, e.name()))) {
                    out.put(e.name(), attributesOf(e));
                }
            }
        }
        return out;
    }

    private void requireParentDirectory(String path) throws IOException {
        if (getattr(parentOf(path)).type() != FileType.DIRECTORY) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
    }

    private Optional<FileAttributes> lookup(String path) throws IOException {
        try {
            return Optional.of(getattr(path));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT) {
                return Optional.empty();
            }
            throw e;
        }
    }

    // ---------------------------------------------------------------- cache fill

    /** Makes sure the file is in the cache, fetching it from the backend if needed. */
    private void ensureCached(String path) {
        Path c = cachePath(path);
        if (Files.exists(c, NOFOLLOW)) {
            return;
        }
        synchronized (lock) {
            if (tombstoned(path) || localOnly(path)) {
                throw new ErrnoException(Errno.ENOENT);
            }
        }
        Path t = tmp.resolve(UUID.randomUUID() + ".download");
        try {
            Optional<BackendEntry> e = backend.stat(path);
            if (e.isEmpty()) {
                throw new ErrnoException(Errno.ENOENT);
            }
            if (e.get().directory()) {
                throw new ErrnoException(Errno.EISDIR);
            }
            try (InputStream in = backend.get(path)) {
                Files.copy(in, t);
            }
            Files.setLastModifiedTime(t, FileTime.from(e.get().modified()));
            synchronized (lock) {
                if (!Files.exists(c, NOFOLLOW) && !tombstoned(path)) {
                    Files.createDirectories(c.getParent());
                    Files.move(t, c, StandardCopyOption.ATOMIC_MOVE);
                }
            }
        } catch (NoSuchFileException e) {
            throw new ErrnoException(Errno.ENOENT);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "fetching " + path + " from the backend: " + e.getMessage());
        } finally {
            try {
                Files.deleteIfExists(t);
            } catch (IOException ignored) {
                // best effort
            }
        }
    }

    /** Makes a directory known only to the backend exist in the cache too. */
    private void ensureCachedDir(String path) throws IOException {
        Files.createDirectories(cachePath(path));
    }

    // ---------------------------------------------------------------- files

    @Override
    public long create(String path, int mode, OpenFlags flags) throws IOException {
        requireParentDirectory(path);
        Path c = cachePath(path);
        synchronized (lock) {
            Files.createDirectories(c.getParent());
            journalPut(path);
            FileChannel ch = FileChannel.open(c, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE, NOFOLLOW);
            Files.setAttribute(c, "unix:mode", mode & 07777, NOFOLLOW);
            RequestContext.current().ifPresent(ctx -> giveTo(c, ctx));
            long fh = nextFh.getAndIncrement();
            handles.put(fh, new Handle(path, ch, true));
            modSeq.put(path, ++seq);
            parked.remove(path);
            return fh;
        }
    }

    private static void giveTo(Path c, RequestContext ctx) {
        if (ctx.uid() == 0 && ctx.gid() == 0) {
            return;
        }
        try {
            Files.setAttribute(c, "unix:uid", (int) ctx.uid(), NOFOLLOW);
            Files.setAttribute(c, "unix:gid", (int) ctx.gid(), NOFOLLOW);
        } catch (IOException | UnsupportedOperationException e) {
            LOG.debug("cannot give {} to uid {}: {}", c, ctx.uid(), e.toString());
        }
    }

    @Override
    public long open(String path, OpenFlags openFlags) throws IOException {
        int flags = openFlags.raw();
        ensureCached(path);
        Path c = cachePath(path);
        int acc = flags & O_ACCMODE;
        boolean writable = acc != 0;
        Set<OpenOption> opts = new HashSet<>();
        opts.add(NOFOLLOW);
        opts.add(StandardOpenOption.READ);
        if (writable) {
            opts.add(StandardOpenOption.WRITE);
        }
        boolean trunc = writable && (flags & O_TRUNC) != 0;
        if (trunc) {
            beforeChange(path);
        }
        if (Files.isDirectory(c, NOFOLLOW)) {
            throw new ErrnoException(Errno.EISDIR);
        }
        FileChannel ch = FileChannel.open(c, opts);
        if (trunc) {
            ch.truncate(0);
            afterChange(path);
        }
        long fh = nextFh.getAndIncrement();
        synchronized (lock) {
            handles.put(fh, new Handle(path, ch, writable));
        }
        return fh;
    }

    private Handle handle(long fh) {
        synchronized (lock) {
            Handle h = handles.get(fh);
            if (h == null) {
                throw new ErrnoException(Errno.EBADF);
            }
            return h;
        }
    }

    @Override
    public int read(String path, long fh, ByteBuffer dst, long offset) throws IOException {
        Handle h = handle(fh);
        int total = 0;
        while (dst.hasRemaining()) {
            int n = h.channel.read(dst, offset + total);
            if (n < 0) {
                break;
            }
            total += n;
        }
        return total;
    }

    @Override
    public int write(String path, long fh, ByteBuffer src, long offset) throws IOException {
        Handle h = handle(fh);
        if (!h.writable) {
            throw new ErrnoException(Errno.EBADF);
        }
        String p = h.path;
        beforeChange(p);
        int total = 0;
        try {
            while (src.hasRemaining()) {
                total += h.channel.write(src, offset + total);
            }
        } finally {
            afterChange(p);
        }
        return total;
    }

    @Override
    public void truncate(String path, long size) throws IOException {
        if (size == 0 && !Files.exists(cachePath(path), NOFOLLOW)) {
            if (getattr(path).type() == FileType.DIRECTORY) { // must exist; no need to download it
                throw new ErrnoException(Errno.EISDIR);
            }
            synchronized (lock) {
                Files.createDirectories(cachePath(path).getParent());
                Files.newByteChannel(cachePath(path), StandardOpenOption.CREATE, StandardOpenOption.WRITE)
                        .close();
            }
        } else {
            ensureCached(path);
        }
        beforeChange(path);
        try (FileChannel ch = FileChannel.open(cachePath(path), StandardOpenOption.WRITE, NOFOLLOW)) {
            long current = ch.size();
            if (size < current) {
                ch.truncate(size);
            } else if (size > current) {
                ch.write(ByteBuffer.wrap(new byte[1]), size - 1);
            }
        } finally {
            afterChange(path);
        }
        boolean now;
        synchronized (lock) {
            now = !hasWriters(path);
        }
        if (now) {
            schedule(path); // a truncate(2) by path has no release to wait for
        }
    }

    /**
     * The durability point: flushes the cache file and uploads it now, on this handler thread, within the
     * request's deadline. A backend failure is answered EIO; the upload stays pending.
     */
    @Override
    public void fsync(String path, long fh, boolean dataOnly) throws IOException {
        Handle h = handle(fh);
        h.channel.force(!dataOnly);
        String p = h.path;
        synchronized (lock) {
            Journal.Entry e = pending.get(p);
            if (e == null || e.op() != Journal.Op.PUT) {
                return; // nothing to upload: the backend has this content
            }
        }
        reconcile(p, true);
    }

    /** The after-close hook: hands the file to the uploader and returns at once. */
    @Override
    public void release(String path, long fh, OpenFlags flags) {
        Handle h;
        boolean upload;
        synchronized (lock) {
            h = handles.remove(fh);
            if (h == null) {
                return;
            }
            Journal.Entry e = pending.get(h.path);
            upload = h.writable && e != null && e.op() == Journal.Op.PUT && !hasWriters(h.path);
            if (upload) {
                attempts.remove(h.path);
                parked.remove(h.path);
            }
        }
        try {
            h.channel.close();
        } catch (IOException e) {
            LOG.warn("closing the cache file of {} failed: {}", h.path, e.toString());
        }
        if (upload) {
            schedule(h.path);
        }
    }

    // ---------------------------------------------------------------- namespace

    @Override
    public void mkdir(String path, int mode) throws IOException {
        requireParentDirectory(path);
        if (lookup(path).isPresent()) {
            throw new ErrnoException(Errno.EEXIST);
        }
        Path c = cachePath(path);
        synchronized (lock) {
            Files.createDirectories(c.getParent());
            Files.createDirectory(c);
            Files.setAttribute(c, "unix:mode", mode & 07777, NOFOLLOW);
            RequestContext.current().ifPresent(ctx -> giveTo(c, ctx));
            if (tombstoned(path)) {
                dropEntry(path); // re-created before the backend removed it: keep it
            }
        }
    }

    @Override
    public void rmdir(String path) throws IOException {
        if (path.equals("/")) {
            throw new ErrnoException(Errno.EBUSY);
        }
        if (getattr(path).type() != FileType.DIRECTORY) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        if (!union(path).isEmpty()) {
            throw new ErrnoException(Errno.ENOTEMPTY);
        }
        synchronized (lock) {
            Files.deleteIfExists(cachePath(path));
            journalDelete(path);
        }
        schedule(path);
    }

    @Override
    public void unlink(String path) throws IOException {
        if (getattr(path).type() == FileType.DIRECTORY) {
            throw new ErrnoException(Errno.EISDIR);
        }
        synchronized (lock) {
            Files.deleteIfExists(cachePath(path));
            modSeq.remove(path);
            journalDelete(path);
        }
        schedule(path);
    }

    @Override
    public void rename(String from, String to) throws IOException {
        if (from.equals("/") || to.equals("/") || under(to, from)) {
            throw new ErrnoException(Errno.EINVAL);
        }
        FileAttributes src = getattr(from);
        requireParentDirectory(to);
        Optional<FileAttributes> dst = lookup(to);
        boolean dir = src.type() == FileType.DIRECTORY;
        if (dst.isPresent()) {
            boolean dstDir = dst.get().type() == FileType.DIRECTORY;
            if (dir && !dstDir) {
                throw new ErrnoException(Errno.ENOTDIR);
            }
            if (!dir && dstDir) {
                throw new ErrnoException(Errno.EISDIR);
            }
            if (dstDir && !union(to).isEmpty()) {
                throw new ErrnoException(Errno.ENOTEMPTY);
            }
        }
        // Everything that moves must be in the cache: the backend side becomes "upload new, delete old".
        List<String> files = new ArrayList<>();
        List<String> dirs = new ArrayList<>();
        if (dir) {
            collect(from, files, dirs);
            ensureCachedDir(from);
            for (String d : dirs) {
                ensureCachedDir(d);
            }
        } else {
            files.add(from);
        }
        for (String f : files) {
            ensureCached(f);
        }
        List<String> touched = new ArrayList<>();
        synchronized (lock) {
            Path cs = cachePath(from);
            Path cd = cachePath(to);
            Files.createDirectories(cd.getParent());
            if (dst.isPresent() && dir && !Files.exists(cd, NOFOLLOW)) {
                Files.createDirectory(cd); // an empty target known only to the backend
            }
            Files.move(cs, cd, StandardCopyOption.ATOMIC_MOVE);
            for (String f : files) {
                String nf = to + f.substring(from.length());
                Long m = modSeq.remove(f);
                if (m != null) {
                    modSeq.put(nf, m);
                }
                journalPut(nf);
                Journal.Entry ne = pending.get(nf);
                if (ne != null && ne.op() == Journal.Op.PUT) {
                    // a rename onto a pending path must upload again even if one is running
                    modSeq.put(nf, ++seq);
                }
                journalDelete(f);
                touched.add(nf);
                touched.add(f);
            }
            for (String d : dirs) {
                journalDelete(d);
                touched.add(d);
            }
            if (dir) {
                journalDelete(from);
                touched.add(from);
                if (tombstoned(to)) {
                    dropEntry(to);
                }
            }
            for (Handle h : handles.values()) {
                if (h.path.equals(from)) {
                    h.path = to;
                } else if (under(h.path, from)) {
                    h.path = to + h.path.substring(from.length());
                }
            }
        }
        for (String p : touched) {
            schedule(p);
        }
    }

    /** All files and directories below {@code dir} in the union view. */
    private void collect(String dir, List<String> files, List<String> dirs) throws IOException {
        for (Map.Entry<String, FileAttributes> e : union(dir).entrySet()) {
            String p = child(dir, e.getKey());
            if (e.getValue().type() == FileType.DIRECTORY) {
                dirs.add(p);
                collect(p, files, dirs);
            } else {
                files.add(p);
            }
        }
    }

    @Override
    public void chmod(String path, int mode) throws IOException {
        materialize(path);
        Files.setAttribute(cachePath(path), "unix:mode", mode & 07777, NOFOLLOW);
    }

    @Override
    public void chown(String path, OptionalLong uid, OptionalLong gid) throws IOException {
        materialize(path);
        if (uid.isPresent()) {
            Files.setAttribute(cachePath(path), "unix:uid", (int) uid.getAsLong(), NOFOLLOW);
        }
        if (gid.isPresent()) {
            Files.setAttribute(cachePath(path), "unix:gid", (int) gid.getAsLong(), NOFOLLOW);
        }
    }

    @Override
    public void utimens(String path, Optional<Instant> atime, Optional<Instant> mtime) throws IOException {
        materialize(path);
        Files.getFileAttributeView(cachePath(path), BasicFileAttributeView.class, NOFOLLOW).setTimes(
                mtime.map(FileTime::from).orElse(null), atime.map(FileTime::from).orElse(null), null);
    }

    private void materialize(String path) throws IOException {
        if (getattr(path).type() == FileType.DIRECTORY) {
            ensureCachedDir(path);
        } else {
            ensureCached(path);
        }
    }

    @Override
    public FsStats statfs(String path) throws IOException {
        FileStore s = Files.getFileStore(data);
        long bs = Math.max(512, s.getBlockSize());
        return new FsStats(bs, s.getTotalSpace() / bs, s.getUnallocatedSpace() / bs, s.getUsableSpace() / bs,
                0, 0, 255);
    }

    /**
     * Stops the uploader (uploads in flight are interrupted and stay pending in the journal) and closes the
     * cache files still open. Call after the unmount.
     */
    @Override
    public void close() {
        List<Handle> open;
        synchronized (lock) {
            closed = true;
            open = new ArrayList<>(handles.values());
            handles.clear();
            lock.notifyAll();
        }
        uploader.shutdownNow();
        try {
            if (!uploader.awaitTermination(5, TimeUnit.SECONDS)) {
                LOG.warn("uploader threads still busy 5 s after close (backend ignores interrupts)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Handle h : open) {
            try {
                h.channel.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    /** Whether {@code path}'s cache file exists (it may be stale only if changed behind the filesystem). */
    boolean isCached(String path) {
        return Files.exists(cachePath(path), NOFOLLOW);
    }
}
