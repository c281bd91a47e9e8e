package io.fuseguard.examples.upload;

import io.fuseguard.api.BackingFile;
import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.RequestContext;
import io.fuseguard.examples.host.Host;
import io.fuseguard.examples.host.HostFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/**
 * A filesystem that keeps files in a local cache directory and uploads them to a {@link Backend} after they
 * are closed, the design of Netflix's "ndrive" without its exit-time deadlock.
 *
 * <h2>Write path</h2>
 * Writes go to the cache file. A change of a file appends a {@link Journal} record "path X pending upload"
 * <em>before</em> the data is written (one {@code write(2)} to an append-only log, no disk flush), so whatever
 * the kernel handed to the daemon is either uploaded or still pending after the daemon ends in any way. When
 * the last writer closes the file, {@link #release} (the kernel does not wait for it: RELEASE is asynchronous)
 * hands the path to the {@link Uploader} and returns at once; the upload starts after
 * {@link Settings#uploadDelay()}, and closes, truncates and renames of the path meanwhile join it, so a file
 * rewritten or renamed over and over is uploaded once with its last content. Upload work is never done in FLUSH
 * (under fuseguard's default policy the kernel never even sends it) and never on a FUSE handler thread, except
 * in {@link #fsync}. Where the mount allows FUSE passthrough, an open of a file whose cache copy is complete is
 * backed by the cache file ({@link #backingFile}): the kernel reads and writes it directly; a writable one is
 * journaled at its open and counted as changed at its release.
 *
 * <h2>Uploads</h2>
 * An uploader thread streams the cache file to the backend (a file with holes: its data extents only, where the
 * backend can keep holes, {@link Backend#putSparse}); on failure it retries with exponential backoff
 * ({@link Settings#initialBackoff()} doubling up to {@link Settings#maxBackoff()}) for
 * {@link Settings#maxAttempts()} attempts, then parks the path: the entry stays in the journal and is retried
 * on the next change or close of the file, by {@link #retryPending()} and on the next mount. The entry is
 * removed only after the backend confirmed and only if the file did not change since the upload started (a
 * change is marked before it begins and after it ends). A backend that stalls holds uploader threads, never a
 * FUSE request: {@code close()} stays instant.
 *
 * <h2>Durability point</h2>
 * {@link #fsync} flushes the cache file and the journal and uploads synchronously, within the SYNC deadline of
 * the request: it answers 0 only when the backend holds every byte written before it (a rename of the file
 * during it is followed to the new name); a backend failure (or the deadline passing) is answered EIO and
 * logged at WARN, so {@code fsync(2)} tells the program its data is not in the store yet. The data is not lost:
 * it stays in the cache and in the journal.
 *
 * <h2>Crash consistency</h2>
 * Every operation journals its backend side before it changes the cache: an upload before a write, a delete
 * before an unlink, and for a rename an intent, then the cache rename, then the outcome with every moved path's
 * entry (a directory rename is one record, however many files it moves). On construction the journal is
 * replayed: an interrupted rename is completed or rolled back by what the cache shows, deletes the cache had not
 * done yet are done, hidden names ({@code .fuse_hidden*}) are removed, and every pending upload and delete runs
 * again; the backend's puts and deletes are idempotent, so a repeated one is harmless. {@code
 * docs/upload-example.md} has the model operation by operation, and {@link CrashPoints} the named points a
 * test can crash the daemon at.
 *
 * <h2>Namespace</h2>
 * A hierarchical namespace mirrored in the cache and in the backend: {@code getattr}/{@code readdir} show the
 * union of both (cache first; a pending delete hides a backend entry, and {@code rmdir} decides on that same
 * view); a file only in the backend is fetched into the cache from its first {@code open} on, in the
 * background: the open returns at once, a read waits (within its own deadline) only for the bytes it asks for,
 * a write, truncate or fsync for the whole file; concurrent opens share the download, a failed one is EIO for
 * its readers and started again by the next open. Operations that need the whole file by path (truncate, chmod,
 * chown, utimens, rename) wait for it within their deadline; the download goes on past it, so a retry finds it
 * done. A directory rename whose backend-only files do not all arrive within half its deadline is refused with
 * EIO before anything changed (the downloads go on for the next attempt). Paths longer than the backend can
 * store ({@link Backend#maxPathLength()}) are refused with ENAMETOOLONG. Directories are implicit in the backend
 * (object-store style): an empty directory lives in the cache only. No eviction of clean cache files (the cache
 * holds everything ever opened).
 *
 * <h2>The cache on the host</h2>
 * The cache is reached through a descriptor of its {@code data} directory ({@link CacheDir}, on the
 * {@code io.fuseguard.examples.host} layer): each operation resolves its entry's parent beneath that descriptor
 * and acts with the {@code *at} system calls, so a path just under PATH_MAX inside the mount, or a tree deeper
 * than PATH_MAX, works as on any filesystem (a host path would have the cache directory in front of it). Open
 * files are plain descriptors used with {@code pread}/{@code pwrite}/{@code fsync}, and the uploader reads a
 * cache file through a descriptor too. An interrupt of a handler thread (its request past its deadline) leaves
 * them alone, as it would not a FileChannel, so the mount may interrupt stalled handlers.
 *
 * <h2>Supported subset</h2>
 * Regular files and directories, as an object store can hold them (goofys and s3fs draw the same line):
 * <ul>
 *   <li><b>Supported, POSIX semantics</b> (pjdfstest's cases for them pass): create, open (truncate, append,
 *       exclusive), read, write, truncate, unlink, mkdir, rmdir, rename (files and directories, replacing,
 *       sticky directories), chmod including set-user-ID, set-group-ID and sticky bits, chown, utimens, and
 *       mknod of regular files. Permission checks are the kernel's ({@code default_permissions}, which the
 *       {@code allowOther} mount option adds); new entries belong to the caller, with the group of a
 *       set-group-ID directory.</li>
 *   <li><b>Refused with EPERM</b>, as {@code symlink(2)}, {@code link(2)} and {@code mknod(2)} say for a
 *       filesystem that does not support them: symbolic links, hard links, FIFOs, sockets and device files.
 *       {@code readlink} of an existing entry answers EINVAL (it is never a link).</li>
 *   <li><b>Where metadata lives</b>: mode, owner, group and times are those of the entry's cache file, so they
 *       survive a daemon restart together with the cache; the backend keeps content and modification time
 *       only. A file known only to the backend shows mode 0644 (directories 0755), the cache root's owner and
 *       the backend's time until it is first opened or changed, then it gets its own cache file.</li>
 *   <li><b>Reserved names</b>: a name starting with {@code .fuse_hidden} is where the engine moves a file
 *       unlinked while open; such entries live in the cache only and are removed at the next start.</li>
 * </ul>
 * See {@code docs/upload-example.md} for the crash-consistency model, the pjdfstest figures and the benchmarks.
 */
public class CachedUploadFs implements FuseFileSystem, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CachedUploadFs.class);
    private static final int O_ACCMODE = 03;
    private static final int O_TRUNC = 01000;
    /** Share of a directory rename's deadline it may spend waiting for the backend-only files it moves. */
    private static final double RENAME_FETCH_SHARE = 0.5;
    /** How long an operation outside a request (a direct call) waits for the files a directory rename moves. */
    private static final Duration RENAME_FETCH_OFF_REQUEST = Duration.ofSeconds(30);

    /**
     * Tuning of the uploader.
     *
     * @param uploaderThreads concurrent uploads
     * @param maxAttempts     attempts before a path is parked (kept pending until its next change or mount)
     * @param initialBackoff  wait after the first failure, doubled after each further one
     * @param maxBackoff      longest wait between attempts
     * @param uploadDelay     wait between the close (or truncate, or rename) of a file and the start of its
     *                        upload; further changes meanwhile join it. {@code fsync} never waits for it.
     */
    public record Settings(int uploaderThreads, int maxAttempts, Duration initialBackoff, Duration maxBackoff,
                           Duration uploadDelay) {
        /** The default {@link #uploadDelay()}. */
        public static final Duration DEFAULT_UPLOAD_DELAY = Duration.ofMillis(100);

        /** Validates the record. */
        public Settings {
            if (uploaderThreads < 1 || maxAttempts < 1) {
                throw new IllegalArgumentException("uploaderThreads and maxAttempts must be at least 1");
            }
            Objects.requireNonNull(initialBackoff, "initialBackoff");
            Objects.requireNonNull(maxBackoff, "maxBackoff");
            Objects.requireNonNull(uploadDelay, "uploadDelay");
            if (uploadDelay.isNegative()) {
                throw new IllegalArgumentException("uploadDelay must not be negative");
            }
        }

        /** Settings with the {@link #DEFAULT_UPLOAD_DELAY}. */
        public Settings(int uploaderThreads, int maxAttempts, Duration initialBackoff, Duration maxBackoff) {
            this(uploaderThreads, maxAttempts, initialBackoff, maxBackoff, DEFAULT_UPLOAD_DELAY);
        }

        /** 4 uploaders, 6 attempts, backoff from 200 ms up to 30 s, uploads 100 ms after the close. */
        public static Settings defaults() {
            return new Settings(4, 6, Duration.ofMillis(200), Duration.ofSeconds(30), DEFAULT_UPLOAD_DELAY);
        }

        /** A copy with another backoff (handy in tests). */
        public Settings withBackoff(Duration initial, Duration max) {
            return new Settings(uploaderThreads, maxAttempts, initial, max, uploadDelay);
        }

        /** A copy with another attempt limit. */
        public Settings withMaxAttempts(int attempts) {
            return new Settings(uploaderThreads, attempts, initialBackoff, maxBackoff, uploadDelay);
        }

        /** A copy with another upload delay ({@link Duration#ZERO}: upload at once). */
        public Settings withUploadDelay(Duration delay) {
            return new Settings(uploaderThreads, maxAttempts, initialBackoff, maxBackoff, delay);
        }
    }

    private final CacheLock cacheLock;
    private final CacheDir cache;
    private final StateLock lock = new StateLock();
    private final OpenFiles files = new OpenFiles();
    private final Uploader uploader;
    private final Backend backend;
    private final int maxPathLength;
    private final UnionView view;

    /** A filesystem with the default {@link Settings}. */
    public CachedUploadFs(Path cacheDir, Backend backend) throws IOException {
        this(cacheDir, backend, Settings.defaults());
    }

    /**
     * A filesystem caching in {@code cacheDir} (its subdirectories {@code data}, {@code journal} and
     * {@code tmp}) and uploading to {@code backend}. Replays the journal: an operation the previous run was in
     * the middle of is completed or rolled back, and uploads left pending start at once.
     *
     * @throws UploadLayout.BadLayoutException when {@code cacheDir} and a {@link DirectoryBackend}'s directory
     *                                         overlap (nothing is created then)
     * @throws CacheLock.InUseException        when another filesystem uses {@code cacheDir} (its lock, held for
     *                                         the filesystem's life, until {@link #close})
     */
    public CachedUploadFs(Path cacheDir, Backend backend, Settings settings) throws IOException {
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(settings, "settings");
        Backend inner = backend instanceof FaultInjectingBackend f ? f.delegate() : backend;
        if (inner instanceof DirectoryBackend d) {
            checkApart(cacheDir, d.root());
        }
        this.backend = backend;
        this.maxPathLength = backend.maxPathLength();
        // before anything in the cache is touched: a second filesystem would empty tmp and rewrite the journal
        this.cacheLock = CacheLock.acquire(cacheDir);
        CacheDir openedCache = null;
        Journal journal = null;
        try {
            openedCache = CacheDir.open(cacheDir);
            this.cache = openedCache;
            journal = Journal.open(cacheDir.resolve("journal"));
            this.uploader = new Uploader(backend, cache, journal, settings, lock, files::hasWriters);
            this.view = new UnionView(cache, backend, uploader, lock);
            uploader.replay();
        } catch (IOException | RuntimeException e) {
            if (journal != null) {
                journal.close();
            }
            if (openedCache != null) {
                openedCache.close(); // the descriptor of the cache root
            }
            cacheLock.close();
            throw e;
        }
    }

    /** A cache inside the backend's directory (or the reverse) would store the cache as files of the filesystem. */
    private static void checkApart(Path cacheDir, Path backendRoot) {
        if (UploadLayout.overlap(cacheDir, backendRoot)) { // by name, or by device and inode (a bind mount)
            throw new UploadLayout.BadLayoutException("the cache " + cacheDir + " and the backend directory "
                    + backendRoot + " overlap: the cache's own files would be stored as files of the filesystem");
        }
    }

    // ---------------------------------------------------------------- observability

    /** Paths whose upload or delete the backend has not confirmed yet. */
    public Set<String> pendingPaths() {
        return uploader.pendingPaths();
    }

    /** Paths that exhausted their attempts and wait for their next change, {@link #retryPending} or mount. */
    public Set<String> parkedPaths() {
        return uploader.parkedPaths();
    }

    /** Backend operations confirmed since construction. */
    public long completedOperations() {
        return uploader.completedOperations();
    }

    /** Failed backend attempts since construction. */
    public long failedAttempts() {
        return uploader.failedAttempts();
    }

    /** Waits until nothing is pending (or the timeout passed); returns whether the journal is empty. */
    public boolean awaitIdle(Duration timeout) throws InterruptedException {
        return uploader.awaitIdle(timeout);
    }

    /** Schedules every pending path again, parked ones included (e.g. after the backend came back). */
    public void retryPending() {
        uploader.retryPending();
    }

    /**
     * The host path of a path's cache file (for tests and tools; never write it behind the filesystem's back).
     * It may be longer than PATH_MAX: the filesystem itself never uses it.
     */
    public Path cacheFileOf(String path) {
        return cache.fileOf(path);
    }

    /** Whether {@code path}'s cache file exists (it may be stale only if changed behind the filesystem). */
    boolean isCached(String path) {
        return cache.exists(path);
    }

    /**
     * The paths the journal in {@code cacheDir} holds as pending upload or delete, read without starting a
     * filesystem (for tests and tools: what a start on that cache would resume).
     */
    public static Set<String> journaledPaths(Path cacheDir) throws IOException {
        Set<String> out = new java.util.TreeSet<>();
        for (Journal.Entry e : Journal.readDir(cacheDir.resolve("journal")).entries().values()) {
            if (e.op() == Journal.Op.PUT || e.op() == Journal.Op.DELETE) {
                out.add(e.path());
            }
        }
        return out;
    }

    // ---------------------------------------------------------------- attributes and listing

    /**
     * Tells the kernel, through {@code notifier} ({@code FuseMount.notifier()}, once mounted), when a download
     * changes what it may cache of a file: a file known only to the backend gets a cache file of its own, whose
     * attributes (inode number, change time, blocks) replace the backend entry's. Without it the kernel keeps the
     * old ones for up to {@code attr_timeout}. The notification is only queued: a fetcher never waits for it.
     */
    public void notifyKernel(io.fuseguard.mount.KernelNotifier notifier) {
        view.installed = notifier::invalidateAttributes;
    }

    @Override
    public FileAttributes getattr(String path) throws IOException {
        return view.getattr(path);
    }

    @Override
    public void readdir(String path, DirectorySink sink) throws IOException {
        if (!view.isDirectory(path)) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        for (Map.Entry<String, FileAttributes> e : view.list(path).entrySet()) {
            sink.add(e.getKey(), e.getValue());
        }
    }

    @Override
    public FsStats statfs(String path) throws IOException {
        return cache.stats();
    }

    // ---------------------------------------------------------------- files

    @Override
    public long create(String path, int mode, OpenFlags flags) throws IOException {
        requireStorablePath(path);
        view.requireParentDirectory(path);
        try (StateLock.Held h = lock.hold()) {
            Journal.Entry previous = uploader.entryOf(path);
            journaled(path, () -> uploader.recordPut(path));
            int fd;
            try {
                fd = cache.createFile(path, mode);
            } catch (RuntimeException e) {
                uploader.restore(path, previous);
                throw e;
            }
            CrashPoints.reached(CrashPoints.Point.CACHE_CREATE);
            uploader.markChanged(path);
            return files.add(path, fd, true);
        }
    }

    @Override
    public long open(String path, OpenFlags openFlags) throws IOException {
        int flags = openFlags.raw();
        boolean writable = (flags & O_ACCMODE) != 0;
        boolean trunc = writable && (flags & O_TRUNC) != 0;
        if (trunc) {
            if (!cache.exists(path) && !view.downloading(path) && !view.isDirectory(path)) {
                view.createEmptyUnlessDownloading(path); // no need to download what is cut away
            }
            view.ensureCached(path); // waits for a download under way
        } else {
            Download d = view.startDownload(path);
            if (d != null) {
                try (StateLock.Held h = lock.hold()) {
                    if (d.cancelled) { // unlinked or replaced since startDownload found it
                        throw new ErrnoException(Errno.ENOENT);
                    }
                    if (!d.finished()) { // reads wait for their bytes, changes for the whole file
                        return files.add(path, d.open(writable), writable, d);
                    }
                }
                d.awaitDone(); // ended meanwhile: EIO when it failed
                view.ensureCached(path);
            }
        }
        if (cache.isDirectory(path)) {
            throw new ErrnoException(Errno.EISDIR);
        }
        int fd = cache.openFile(path, writable);
        try {
            if (trunc) {
                uploader.beforeChange(path);
                try {
                    Host.check(Host.LIBC.ftruncate(fd, 0), "truncate " + path);
                    CrashPoints.reached(CrashPoints.Point.CACHE_TRUNCATE);
                } finally {
                    uploader.afterChange(path);
                }
            }
        } catch (RuntimeException e) {
            Host.close(fd);
            throw e;
        }
        try (StateLock.Held h = lock.hold()) {
            return files.add(path, fd, writable);
        }
    }

    @Override
    public int read(String path, long fh, ByteBuffer dst, long offset) throws IOException {
        OpenFiles.Handle h = files.get(fh);
        Download d = h.download;
        if (d != null) { // still downloading: wait for these bytes only
            d.awaitBytes(offset + dst.remaining());
            if (d.succeeded()) {
                h.download = null;
            }
        }
        return HostFiles.read(h.fd, dst, offset);
    }

    /**
     * An open whose cache copy is complete is served by the kernel from the cache file itself (FUSE passthrough,
     * where the mount allows it: Linux 6.9+, a root daemon): its reads and writes never reach the daemon. An open of
     * a file still being downloaded is served here (its reads wait for their bytes). A writable backed open is
     * journaled "upload pending" now, before the kernel may change the file, and counted as changed at its release
     * ({@link #release}), which then uploads it as after any write.
     */
    @Override
    public BackingFile backingFile(String path, long fh, OpenFlags flags) {
        OpenFiles.Handle h = files.get(fh);
        if (h.download != null) {
            return null;
        }
        if (h.writable) {
            uploader.beforeChange(h.path);
            h.backedWritable = true;
        }
        return BackingFile.ofDescriptor(h.fd);
    }

    /** A change starts from the whole file: waits for a download still filling it (EIO when it failed). */
    private static void awaitWhole(OpenFiles.Handle h) {
        Download d = h.download;
        if (d != null) {
            d.awaitDone();
            if (d.stale()) { // the path got another cache file first: this inode is nobody's, a write would be lost
                throw new ErrnoException(Errno.ESTALE, h.path + " was replaced while it was being fetched");
            }
            h.download = null;
        }
    }

    @Override
    public int write(String path, long fh, ByteBuffer src, long offset) throws IOException {
        OpenFiles.Handle h = files.get(fh);
        if (!h.writable) {
            throw new ErrnoException(Errno.EBADF);
        }
        awaitWhole(h);
        String p = h.path;
        uploader.beforeChange(p);
        try {
            int n = HostFiles.write(h.fd, src, offset);
            CrashPoints.reached(CrashPoints.Point.CACHE_WRITE);
            return n;
        } finally {
            uploader.afterChange(p);
        }
    }

    @Override
    public void truncate(String path, long size) throws IOException {
        if (size == 0 && !cache.exists(path) && !view.downloading(path)) {
            if (view.isDirectory(path)) { // must exist; no need to download what is cut away
                throw new ErrnoException(Errno.EISDIR);
            }
            if (!view.createEmptyUnlessDownloading(path)) {
                view.ensureCached(path); // a download started meanwhile: it may have handles, wait for it
            }
        } else {
            view.ensureCached(path);
        }
        uploader.beforeChange(path);
        try {
            cache.resize(path, size);
            CrashPoints.reached(CrashPoints.Point.CACHE_TRUNCATE);
        } finally {
            uploader.afterChange(path);
        }
        scheduleUnlessOpenForWriting(path); // a truncate(2) by path has no release to wait for
    }

    private void scheduleUnlessOpenForWriting(String path) {
        boolean now;
        try (StateLock.Held h = lock.hold()) {
            now = !files.hasWriters(path);
        }
        if (now) {
            uploader.schedule(path);
        }
    }

    /**
     * The durability point: flushes the cache file and the journal, then uploads the file now, on this handler
     * thread, within the request's deadline; answers 0 only when the backend has every byte written before the
     * call. A failure is logged at WARN and answered EIO; the upload stays pending.
     */
    @Override
    public void fsync(String path, long fh, boolean dataOnly) throws IOException {
        OpenFiles.Handle h = files.get(fh);
        try {
            awaitWhole(h);
            if (files.hasBackedWriter(h.path)) {
                // The kernel writes a backed open's cache file itself (FUSE passthrough), unseen here: whatever
                // the backend confirmed before may be stale, so the file counts as changed and is uploaded below.
                uploader.beforeChange(h.path);
            }
            Host.check(dataOnly ? Host.LIBC.fdatasync(h.fd) : Host.LIBC.fsync(h.fd), "fsync " + h.path);
            uploader.syncJournal(); // the records before this call on disk too (renames that led to this name)
            uploader.uploadNow(h);
        } catch (RuntimeException e) {
            LOG.warn("fsync of {} failed: {}; its upload stays pending", h.path, e.getMessage());
            throw e;
        }
    }

    /**
     * The durability point of a directory's names ({@code fsync(2)} of a directory, the last step of an editor's
     * atomic save and of sqlite's commit): flushes the journal, then carries out on this handler thread, within
     * the request's deadline, every pending upload and delete that changes the names in {@code path} (created,
     * renamed into or out of it, unlinked; a directory renamed in or removed with everything below it). Answers 0
     * only when the backend has them; a failure is logged at WARN and answered EIO, everything staying pending.
     * Changes in other directories (subdirectories that keep their names included) wait for the uploader, as a
     * local filesystem's {@code fsync} of a directory covers that directory's entries only.
     */
    @Override
    public void fsyncdir(String path, boolean dataOnly) throws IOException {
        try {
            uploader.syncJournal(); // renames and unlinks before this call on disk too
            uploader.syncDirectory(path);
        } catch (RuntimeException e) {
            LOG.warn("fsync of the directory {} failed: {}; its changes stay pending", path, e.getMessage());
            throw e;
        }
    }

    /**
     * The after-close hook: hands the file to the uploader and returns at once. The last handle of a file hidden
     * while it was open (unlinked while open) removes it: nothing can reach it any more.
     */
    @Override
    public void release(String path, long fh, OpenFlags flags) {
        OpenFiles.Handle backed = files.find(fh);
        if (backed != null && backed.backedWritable) {
            // the kernel wrote the cache file itself: a change this daemon did not see, so journaled and marked
            // again now (an upload that finished meanwhile may have cleared the entry)
            try {
                uploader.beforeChange(backed.path);
                uploader.afterChange(backed.path);
            } catch (RuntimeException e) {
                LOG.warn("could not journal {} after a write through its cache file: {}", backed.path, e.toString());
            }
        }
        OpenFiles.Handle h;
        boolean upload;
        try (StateLock.Held held = lock.hold()) {
            h = files.remove(fh);
            if (h == null) {
                return;
            }
            upload = h.writable && uploader.putPending(h.path) && !files.hasWriters(h.path);
            if (upload) {
                uploader.resetAttempts(h.path);
            }
            if (h.hidden && UploadPaths.localOnly(h.path) && !files.isOpen(h.path)) {
                removeOrphan(h.path);
            }
        }
        if (Host.LIBC.close(h.fd) < 0) {
            LOG.warn("closing the cache file of {} failed: errno {}", h.path, Host.errno());
        }
        if (upload) {
            uploader.schedule(h.path);
        }
    }

    /**
     * ENAMETOOLONG for a path longer than the backend can store ({@link Backend#maxPathLength()}, S3: 1024
     * bytes of key): refused before anything is written, instead of a file closed fine and parked for good.
     * EPERM for a name the backend keeps for itself ({@link Backend#reserves}, a {@link DirectoryBackend}'s
     * {@code /.incoming}), which could never be uploaded.
     */
    private void requireStorablePath(String path) {
        if (backend.reserves(path)) {
            throw new ErrnoException(Errno.EPERM, path + " is a name the backend reserves for itself");
        }
        // a String has at least as many UTF-8 bytes as chars: count bytes only near the limit
        if (maxPathLength != Integer.MAX_VALUE && path.length() * 3L > maxPathLength
                && path.getBytes(StandardCharsets.UTF_8).length > maxPathLength) {
            throw new ErrnoException(Errno.ENAMETOOLONG, "longer than the backend's " + maxPathLength
                    + " bytes: " + path);
        }
    }

    /** Runs a journal append; a failed one is the operation's errno (ENOSPC stays ENOSPC), nothing changed. */
    private static void journaled(String what, StateLock.IoAction append) {
        try {
            append.run();
        } catch (Journal.JournalException e) {
            throw e.asErrno(what);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "cannot journal " + what + ": " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------- outside the subset

    /**
     * Regular files only: anything else (FIFO, socket, device) is refused with EPERM, as {@code mknod(2)}
     * says for a filesystem that does not support the type. An empty regular file is uploaded at once.
     */
    @Override
    public void mknod(String path, FileType type, int permissions, long rdev) throws IOException {
        if (type != FileType.REGULAR) {
            throw new ErrnoException(Errno.EPERM, type + " files are outside the supported subset");
        }
        requireStorablePath(path);
        view.requireParentDirectory(path);
        if (view.lookup(path).isPresent()) {
            throw new ErrnoException(Errno.EEXIST);
        }
        try (StateLock.Held h = lock.hold()) {
            Journal.Entry previous = uploader.entryOf(path);
            journaled(path, () -> uploader.recordPut(path));
            try {
                Host.close(cache.createFile(path, permissions));
            } catch (RuntimeException e) {
                uploader.restore(path, previous);
                throw e;
            }
            CrashPoints.reached(CrashPoints.Point.CACHE_CREATE);
            uploader.markChanged(path);
        }
        uploader.schedule(path);
    }

    /** Refused with EPERM: symbolic links are outside the supported subset ({@code symlink(2)}). */
    @Override
    public void symlink(String target, String linkPath) {
        throw new ErrnoException(Errno.EPERM, "symbolic links are outside the supported subset");
    }

    /** Refused with EPERM: hard links are outside the supported subset ({@code link(2)}). */
    @Override
    public void link(String existing, String newPath) {
        throw new ErrnoException(Errno.EPERM, "hard links are outside the supported subset");
    }

    /** EINVAL for an existing entry (never a symbolic link), ENOENT otherwise. */
    @Override
    public String readlink(String path) throws IOException {
        view.getattr(path);
        throw new ErrnoException(Errno.EINVAL);
    }

    // ---------------------------------------------------------------- namespace

    @Override
    public void mkdir(String path, int mode) throws IOException {
        requireStorablePath(path); // a directory the backend cannot hold a file in
        view.requireParentDirectory(path);
        if (view.lookup(path).isPresent()) {
            throw new ErrnoException(Errno.EEXIST);
        }
        try (StateLock.Held h = lock.hold()) {
            Journal.Entry previous = uploader.entryOf(path);
            if (UploadPaths.localOnly(path)) {
                journaled(path, () -> uploader.recordLocal(path));
            }
            try {
                cache.createDirectory(path, mode);
            } catch (RuntimeException e) {
                uploader.restore(path, previous);
                throw e;
            }
            CrashPoints.reached(CrashPoints.Point.CACHE_CREATE);
            if (uploader.deletePending(path)) {
                journaled(path, () -> uploader.dropEntry(path)); // re-created before the backend removed it
            }
            view.madeDirectory(path);
        }
    }

    /** Removes an empty directory: empty as the mount shows it (entries with a delete pending are gone). */
    @Override
    public void rmdir(String path) throws IOException {
        if (path.equals("/")) {
            throw new ErrnoException(Errno.EBUSY);
        }
        if (!view.isDirectory(path)) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        if (!view.list(path).isEmpty()) {
            throw new ErrnoException(Errno.ENOTEMPTY);
        }
        removeEntry(path);
        view.removedDirectory(path);
    }

    @Override
    public void unlink(String path) throws IOException {
        boolean dir;
        try {
            dir = view.isDirectory(path);
        } catch (ErrnoException e) {
            if (e.errno() == Errno.ENOENT && UploadPaths.localOnly(path)) {
                return; // a hidden file already removed at its last release (the engine's own unlink of it)
            }
            throw e;
        }
        if (dir) {
            throw new ErrnoException(Errno.EISDIR);
        }
        removeEntry(path);
    }

    /**
     * Removes a hidden file no handle is open on (cache file, then its "local only" entry). Its name was given by
     * the engine for a file unlinked while open; once the last handle is gone nothing can reach it, and the
     * engine, whose RELEASE may have raced with the unlink, may not remove it itself. Caller holds the lock.
     */
    private void removeOrphan(String path) {
        try {
            cache.delete(path);
            CrashPoints.reached(CrashPoints.Point.CACHE_UNLINK);
            uploader.dropEntry(path);
        } catch (IOException | RuntimeException e) {
            LOG.warn("cannot remove {}, a file unlinked while open, at its last close: {}; the next start does",
                    path, e.toString());
        }
    }

    /** Journals the delete of {@code path}, then removes its cache entry; schedules the backend's delete. */
    private void removeEntry(String path) {
        try (StateLock.Held h = lock.hold()) {
            keepParent(path);
            Journal.Entry previous = uploader.entryOf(path);
            journaled(path, () -> uploader.recordDelete(path));
            try {
                cache.delete(path); // ENOTEMPTY for a directory that got an entry meanwhile
            } catch (RuntimeException e) {
                uploader.restore(path, previous);
                throw e;
            }
            CrashPoints.reached(CrashPoints.Point.CACHE_UNLINK);
            view.cancelDownload(path);
            uploader.forgetChanges(path);
        }
        uploader.schedule(path);
    }

    /**
     * Makes the directory holding {@code path} exist in the cache, so a directory known only to the backend
     * stays when its last entry leaves (the backend drops a directory with its last file). Caller holds the lock.
     */
    private void keepParent(String path) {
        String parent = UploadPaths.parentOf(path);
        if (!parent.equals("/") && !view.isLocalDir(parent) && !cache.isDirectory(parent)) {
            cache.ensureDirectory(parent);
        }
    }

    /**
     * Renames in the cache at once and journals the backend side, "upload every moved file under its new name,
     * delete the old names", crash-atomically: the intent is journaled before the cache changes and its outcome
     * (every moved path's entry, one record for a whole directory) after, in one hold of the lock. Everything
     * that moves must be in the cache first: backend-only files are fetched, within half the request's
     * deadline for a directory, or the rename is refused with EIO before anything changed.
     */
    @Override
    public void rename(String from, String to) throws IOException {
        if (from.equals("/") || to.equals("/") || UploadPaths.under(to, from)) {
            throw new ErrnoException(Errno.EINVAL);
        }
        if (from.equals(to)) {
            view.getattr(from); // rename(2) of a name to itself does nothing (ENOENT if it does not exist)
            return;
        }
        requireStorablePath(to);
        boolean dir = view.isDirectory(from);
        view.requireParentDirectory(to);
        boolean replacesDir = checkRenameTarget(dir, to);
        if (dir) {
            List<String> movedFiles = new ArrayList<>();
            List<String> movedDirs = new ArrayList<>();
            view.collect(from, movedFiles, movedDirs);
            for (String f : movedFiles) { // a directory moved deeper may push its files over the limit
                requireStorablePath(UploadPaths.moved(f, from, to));
            }
            cache.ensureDirectory(from);
            for (String d : movedDirs) {
                cache.ensureDirectory(d);
            }
            view.fetchAll(movedFiles, fetchBudget());
        } else if (!view.isLocalDir(UploadPaths.parentOf(from))) { // below a directory made here: cached
            view.ensureCached(from);
        }
        List<String> touched;
        try (StateLock.Held h = lock.hold()) {
            if (!cache.exists(from)) {
                throw new ErrnoException(Errno.ENOENT); // removed meanwhile
            }
            if (!dir && UploadPaths.localOnly(to) && !UploadPaths.localOnly(from) && !files.isOpen(from)) {
                // The engine hides a file it believes open; if its last handle was released meanwhile (RELEASE
                // and UNLINK race in the kernel's queue), the hidden file would have no handle to remove it at
                // its release: it is an unlink.
                removeEntry(from);
                return;
            }
            List<String> relFiles = new ArrayList<>();
            List<String> relDirs = new ArrayList<>();
            if (dir) {
                cache.walk(from, relFiles, relDirs); // what the cache rename moves, exactly
            } else {
                relFiles.add("");
            }
            keepParent(from);
            Journal.Intent intent;
            try {
                intent = uploader.renameIntent(from, to, dir);
            } catch (Journal.JournalException e) {
                throw e.asErrno(from);
            }
            try {
                cache.move(from, to, replacesDir);
            } catch (RuntimeException e) {
                uploader.renameFailed(intent);
                throw e;
            }
            CrashPoints.reached(CrashPoints.Point.CACHE_RENAME);
            if (!replacesDir) {
                view.cancelDownload(to); // the replaced file's download, if any, is not installed over it
            }
            files.renamed(from, to);
            if (dir) {
                view.renamedDirectory(from, to);
            }
            touched = uploader.renameDone(intent, relFiles, relDirs);
        }
        touched.forEach(uploader::schedule);
    }

    /** How long a directory rename may wait for the backend-only files it moves. */
    private static Duration fetchBudget() {
        return RequestContext.current().map(c -> Duration.ofNanos((long) (c.remaining().toNanos()
                * RENAME_FETCH_SHARE))).orElse(RENAME_FETCH_OFF_REQUEST);
    }

    /**
     * Refuses a target that cannot be replaced (rename(2): ENOTDIR, EISDIR, ENOTEMPTY); returns whether an
     * existing (empty) directory is replaced.
     */
    private boolean checkRenameTarget(boolean dir, String to) throws IOException {
        Optional<FileAttributes> dst = view.lookup(to);
        if (dst.isEmpty()) {
            return false;
        }
        boolean dstDir = dst.get().type() == FileType.DIRECTORY;
        if (dir && !dstDir) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        if (!dir && dstDir) {
            throw new ErrnoException(Errno.EISDIR);
        }
        if (dstDir && !view.list(to).isEmpty()) {
            throw new ErrnoException(Errno.ENOTEMPTY);
        }
        return dstDir;
    }

    // ---------------------------------------------------------------- metadata (kept in the cache file)

    @Override
    public void chmod(String path, int mode) throws IOException {
        inCache(path, () -> cache.setMode(path, mode));
    }

    @Override
    public void chown(String path, OptionalLong uid, OptionalLong gid) throws IOException {
        inCache(path, () -> cache.setOwner(path, uid.orElse(-1), gid.orElse(-1)));
    }

    @Override
    public void utimens(String path, Optional<Instant> atime, Optional<Instant> mtime) throws IOException {
        inCache(path, () -> cache.setTimes(path, atime, mtime));
    }

    /**
     * Changes {@code path}'s cache entry; when it has none (known only to the backend, or still downloading),
     * fetches it into the cache first and changes it then.
     */
    private void inCache(String path, Runnable change) throws IOException {
        try {
            change.run();
            return;
        } catch (ErrnoException e) {
            if (e.errno() != Errno.ENOENT) {
                throw e;
            }
        }
        view.materialize(path);
        change.run();
    }

    /**
     * Stops the uploader (uploads in flight are interrupted and stay pending in the journal; the paths still
     * pending are logged at WARN) and closes the cache files still open. Call after the unmount.
     */
    @Override
    public void close() {
        List<OpenFiles.Handle> open;
        try (StateLock.Held h = lock.hold()) {
            open = files.removeAll();
        }
        uploader.close();
        view.close();
        for (OpenFiles.Handle h : open) {
            Host.close(h.fd);
        }
        try (StateLock.Held h = lock.hold()) {
            cache.close(); // after any install still under way (installs run under the lock); refused after
        }
        cacheLock.close(); // last: the journal and the cache are closed, the next filesystem may take them
    }
}
