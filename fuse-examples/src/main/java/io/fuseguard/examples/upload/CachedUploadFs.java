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
 * Writes go to the cache file. The first change of a file commits a durable {@link Journal} entry "path X
 * version V pending upload" <em>before</em> the data is written, so whatever the kernel handed to the daemon is
 * either uploaded or still pending after a crash. When the last writer closes the file, {@link #release} (the
 * kernel does not wait for it: RELEASE is asynchronous) hands the path to the {@link Uploader} and returns at
 * once. Upload work is never done in FLUSH (under fuseguard's default policy the kernel never even sends it)
 * and never on a FUSE handler thread, except in {@link #fsync}. Where the mount allows FUSE passthrough, an open of
 * a file whose cache copy is complete is backed by the cache file ({@link #backingFile}): the kernel reads and
 * writes it directly; a writable one is journaled at its open and counted as changed at its release.
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
 * union of both (cache first); a file only in the backend is fetched into the cache from its first
 * {@code open} on, in the background: the open returns at once, a read waits (within its own deadline) only for
 * the bytes it asks for, a write, truncate or fsync for the whole file; concurrent opens share the download, a
 * failed one is EIO for its readers and started again by the next open. Operations that need the whole file by
 * path (truncate, chmod, chown, utimens, rename, which fetch every file a directory rename moves) wait for it
 * within their deadline; the download goes on past it, so a retry finds it done. Paths longer than the backend
 * can store ({@link Backend#maxPathLength()}) are refused with ENAMETOOLONG. {@code unlink}, {@code rmdir} and {@code rename} change the cache at once and journal the
 * backend side (a pending delete hides the backend entry until done; a rename uploads the new name and deletes
 * the old). Directories are implicit in the backend (object-store style): an empty directory lives in the
 * cache only. No eviction of clean cache files (the cache holds everything ever opened).
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
 * </ul>
 * See {@code docs/upload-example.md} for the pjdfstest figures.
 */
public class CachedUploadFs implements FuseFileSystem, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CachedUploadFs.class);
    private static final int O_ACCMODE = 03;
    private static final int O_TRUNC = 01000;

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

    private final CacheDir cache;
    private final StateLock lock = new StateLock();
    private final OpenFiles files = new OpenFiles();
    private final Uploader uploader;
    private final int maxPathLength;
    private final UnionView view;

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
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(settings, "settings");
        this.maxPathLength = backend.maxPathLength();
        this.cache = CacheDir.open(cacheDir);
        try {
            Journal journal = new Journal(cacheDir.resolve("journal"));
            this.uploader = new Uploader(backend, cache, journal, settings, lock, files::hasWriters);
            this.view = new UnionView(cache, backend, uploader, lock);
            uploader.replay();
        } catch (IOException | RuntimeException e) {
            cache.close(); // the descriptor of the cache root
            throw e;
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

    // ---------------------------------------------------------------- attributes and listing

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
            uploader.journalPut(path);
            int fd = cache.createFile(path, mode);
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
        if (trunc) {
            uploader.beforeChange(path);
        }
        if (cache.isDirectory(path)) {
            throw new ErrnoException(Errno.EISDIR);
        }
        int fd = cache.openFile(path, writable);
        try {
            if (trunc) {
                Host.check(Host.LIBC.ftruncate(fd, 0), "truncate " + path);
                uploader.afterChange(path);
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
            return HostFiles.write(h.fd, src, offset);
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
     * The durability point: flushes the cache file and uploads it now, on this handler thread, within the
     * request's deadline. A backend failure is answered EIO; the upload stays pending.
     */
    @Override
    public void fsync(String path, long fh, boolean dataOnly) throws IOException {
        OpenFiles.Handle h = files.get(fh);
        awaitWhole(h);
        Host.check(dataOnly ? Host.LIBC.fdatasync(h.fd) : Host.LIBC.fsync(h.fd), "fsync " + h.path);
        uploader.uploadNow(h.path);
    }

    /** The after-close hook: hands the file to the uploader and returns at once. */
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
     */
    private void requireStorablePath(String path) {
        // a String has at least as many UTF-8 bytes as chars: count bytes only near the limit
        if (maxPathLength != Integer.MAX_VALUE && path.length() * 3L > maxPathLength
                && path.getBytes(StandardCharsets.UTF_8).length > maxPathLength) {
            throw new ErrnoException(Errno.ENAMETOOLONG, "longer than the backend's " + maxPathLength
                    + " bytes: " + path);
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
        lock.run(() -> {
            uploader.journalPut(path);
            Host.close(cache.createFile(path, permissions));
            uploader.markChanged(path);
        });
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
        lock.run(() -> {
            cache.createDirectory(path, mode);
            if (uploader.deletePending(path)) {
                uploader.dropEntry(path); // re-created before the backend removed it: keep it
            }
        });
    }

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
        lock.run(() -> {
            cache.delete(path);
            uploader.journalDelete(path);
        });
        uploader.schedule(path);
    }

    @Override
    public void unlink(String path) throws IOException {
        if (view.isDirectory(path)) {
            throw new ErrnoException(Errno.EISDIR);
        }
        lock.run(() -> {
            cache.delete(path);
            view.cancelDownload(path);
            uploader.forgetChanges(path);
            uploader.journalDelete(path);
        });
        uploader.schedule(path);
    }

    /**
     * Renames in the cache at once; the backend side becomes "upload every moved file under its new name,
     * delete the old names", so everything that moves is fetched into the cache first.
     */
    @Override
    public void rename(String from, String to) throws IOException {
        if (from.equals("/") || to.equals("/") || UploadPaths.under(to, from)) {
            throw new ErrnoException(Errno.EINVAL);
        }
        requireStorablePath(to);
        boolean dir = view.isDirectory(from);
        view.requireParentDirectory(to);
        boolean replacesDir = checkRenameTarget(dir, to);
        List<String> movedFiles = new ArrayList<>();
        List<String> movedDirs = new ArrayList<>();
        collectWhatMoves(from, dir, movedFiles, movedDirs);
        for (String f : movedFiles) { // a directory moved deeper may push its files over the limit
            requireStorablePath(UploadPaths.moved(f, from, to));
        }
        cacheWhatMoves(from, dir, movedFiles, movedDirs);
        List<String> touched = new ArrayList<>();
        lock.run(() -> {
            cache.move(from, to, replacesDir);
            if (!replacesDir) {
                view.cancelDownload(to); // the replaced file's download, if any, is not installed over it
            }
            touched.addAll(journalMovedFiles(from, to, movedFiles));
            touched.addAll(journalRemovedDirs(from, to, dir, movedDirs));
            files.renamed(from, to);
        });
        touched.forEach(uploader::schedule);
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

    /** Lists the files and directories that move with {@code from}. */
    private void collectWhatMoves(String from, boolean dir, List<String> movedFiles, List<String> movedDirs)
            throws IOException {
        if (dir) {
            view.collect(from, movedFiles, movedDirs);
        } else {
            movedFiles.add(from);
        }
    }

    /** Fetches what moves with {@code from} into the cache. */
    private void cacheWhatMoves(String from, boolean dir, List<String> movedFiles, List<String> movedDirs)
            throws IOException {
        if (dir) {
            cache.ensureDirectory(from);
            for (String d : movedDirs) {
                cache.ensureDirectory(d);
            }
        }
        for (String f : movedFiles) {
            view.ensureCached(f);
        }
    }

    /** Journals "upload under the new name, delete the old" for every moved file. Caller holds the lock. */
    private List<String> journalMovedFiles(String from, String to, List<String> movedFiles) throws IOException {
        List<String> touched = new ArrayList<>();
        for (String f : movedFiles) {
            String nf = UploadPaths.moved(f, from, to);
            uploader.moveChanges(f, nf);
            uploader.journalPut(nf);
            if (uploader.putPending(nf)) {
                uploader.markChanged(nf); // a rename onto a pending path must upload again even if one runs
            }
            uploader.journalDelete(f);
            touched.add(nf);
            touched.add(f);
        }
        return touched;
    }

    /** Journals the deletes of the old directory names. Caller holds the lock. */
    private List<String> journalRemovedDirs(String from, String to, boolean dir, List<String> movedDirs)
            throws IOException {
        List<String> touched = new ArrayList<>();
        if (!dir) {
            return touched;
        }
        for (String d : movedDirs) {
            uploader.journalDelete(d);
            touched.add(d);
        }
        uploader.journalDelete(from);
        touched.add(from);
        if (uploader.deletePending(to)) {
            uploader.dropEntry(to);
        }
        return touched;
    }

    // ---------------------------------------------------------------- metadata (kept in the cache file)

    @Override
    public void chmod(String path, int mode) throws IOException {
        view.materialize(path);
        cache.setMode(path, mode);
    }

    @Override
    public void chown(String path, OptionalLong uid, OptionalLong gid) throws IOException {
        view.materialize(path);
        cache.setOwner(path, uid.orElse(-1), gid.orElse(-1));
    }

    @Override
    public void utimens(String path, Optional<Instant> atime, Optional<Instant> mtime) throws IOException {
        view.materialize(path);
        cache.setTimes(path, atime, mtime);
    }

    /**
     * Stops the uploader (uploads in flight are interrupted and stay pending in the journal) and closes the
     * cache files still open. Call after the unmount.
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
    }
}
