package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import org.slf4j.LoggerFactory;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The namespace a {@link CachedUploadFs} shows: the cache's entries first, then the backend's that no pending
 * delete hides. Fetches a file known only to the backend into the cache when it is opened or changed: in the
 * background, one {@link Download} per file shared by its opens, so an open returns at once and a read waits
 * only for its own bytes.
 */
final class UnionView {
    /** Downloads transferring at once; further ones wait in a queue. */
    static final int FETCHERS = 8;
    /** How long {@link #close} waits for the fetchers to end. */
    private static final long CLOSE_WAIT_MILLIS = 2000;
    private final CacheDir cache;
    private final Backend backend;
    private final Uploader uploader;
    private final StateLock lock;
    /** Downloads in progress, by path; guarded by {@link #lock}. */
    private final Map<String, Download> downloads = new HashMap<>();
    /** Downloads whose fetch has not ended (cancelled ones included), for {@link #close}; guarded by {@link #lock}. */
    private final Set<Download> active = new HashSet<>();
    private final ThreadPoolExecutor fetchers;
    /** The fetcher threads made so far: close() joins them, because the pool reports termination before they exit. */
    private final Set<Thread> fetcherThreads = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /** Set under the lock by {@link #close}. */
    private boolean closed;
    /**
     * Directories made through this filesystem since it started ({@code mkdir}, and where renames took them):
     * the backend had nothing there, and everything below them is in the cache, so a look-up or listing below
     * them never asks the backend (a create in a new tree costs no backend call: with S3, no HEAD and no LIST).
     * In memory only: after a restart the backend is asked again. Assumes this filesystem is the backend's only
     * writer, as the rest of the example does.
     */
    private final Set<String> localDirs = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** Told each path whose download was installed in the cache (see CachedUploadFs#notifyKernel). */
    volatile java.util.function.Consumer<String> installed = path -> { };

    UnionView(CacheDir cache, Backend backend, Uploader uploader, StateLock lock) {
        this.cache = cache;
        this.backend = backend;
        this.uploader = uploader;
        this.lock = lock;
        AtomicInteger n = new AtomicInteger();
        // at most FETCHERS transfers at once; the others queue, and their readers wait within their own deadline
        this.fetchers = new ThreadPoolExecutor(FETCHERS, FETCHERS, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                r -> {
                    Thread t = new Thread(() -> {
                        try {
                            r.run();
                        } finally {
                            fetcherThreads.remove(Thread.currentThread());
                        }
                    }, "upload-fetch-" + n.incrementAndGet());
                    t.setDaemon(true);
                    fetcherThreads.add(t);
                    return t;
                });
        fetchers.allowCoreThreadTimeOut(true);
    }

    /**
     * The attributes of {@code path}: its cache file's, else the backend's; ENOENT for a name the backend
     * reserves (hidden even if a cache written before it was refused holds it).
     */
    FileAttributes getattr(String path) throws IOException {
        if (backend.reserves(path)) {
            throw new ErrnoException(Errno.ENOENT);
        }
        try {
            return cache.attributes(path);
        } catch (NoSuchFileException e) {
            // not cached: ask the backend
        }
        if (localDirs.contains(UploadPaths.parentOf(path))) {
            throw new ErrnoException(Errno.ENOENT); // below a directory made here: the cache has everything
        }
        requireVisibleInBackend(path);
        Optional<BackendEntry> b;
        try {
            b = backend.stat(path);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "backend stat " + path + ": " + e.getMessage());
        }
        return b.map(this::attributesOf).orElseThrow(() -> new ErrnoException(Errno.ENOENT));
    }

    /** The attributes of {@code path}, or empty when it does not exist. */
    Optional<FileAttributes> lookup(String path) throws IOException {
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

    /** Whether {@code path} exists and is a directory; ENOENT when it does not exist. */
    boolean isDirectory(String path) throws IOException {
        return getattr(path).type() == FileType.DIRECTORY;
    }

    /** ENOTDIR unless the directory that would hold {@code path} is one (ENOENT when it does not exist). */
    void requireParentDirectory(String path) throws IOException {
        String parent = UploadPaths.parentOf(path);
        if (!parent.equals("/") && !localDirs.contains(parent) && !isDirectory(parent)) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
    }

    /** Whether {@code dir} is a directory made through this filesystem since it started (it is in the cache). */
    boolean isLocalDir(String dir) {
        return localDirs.contains(dir);
    }

    /** Records that {@code dir} was just made here (mkdir): the backend has nothing below it. */
    void madeDirectory(String dir) {
        localDirs.add(dir);
    }

    /** Forgets {@code dir} (removed). */
    void removedDirectory(String dir) {
        localDirs.remove(dir);
    }

    /** Carries the marks of directories made here along a rename of {@code from} to {@code to}. */
    void renamedDirectory(String from, String to) {
        if (localDirs.isEmpty()) {
            return;
        }
        localDirs.remove(to); // replaced
        for (String d : List.copyOf(localDirs)) {
            if (d.equals(from) || UploadPaths.under(d, from)) {
                localDirs.remove(d);
                localDirs.add(UploadPaths.moved(d, from, to));
            }
        }
    }

    /** The entries of directory {@code path}, by name. */
    Map<String, FileAttributes> list(String path) throws IOException {
        Map<String, FileAttributes> out = new LinkedHashMap<>();
        cache.listInto(path, out);
        if (path.equals("/")) { // reserved names are top-level ones (Backend.reserves)
            out.keySet().removeIf(name -> backend.reserves("/" + name));
        }
        if (localDirs.contains(path)) {
            return out;
        }
        List<BackendEntry> remote;
        try {
            remote = backend.list(path);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "backend list " + path + ": " + e.getMessage());
        }
        try (StateLock.Held h = lock.hold()) {
            for (BackendEntry e : remote) {
                if (!out.containsKey(e.name()) && !uploader.deletePending(UploadPaths.child(path, e.name()))) {
                    out.put(e.name(), attributesOf(e));
                }
            }
        }
        return out;
    }

    /** All files and directories below {@code dir}, depth first (a directory before its content). */
    void collect(String dir, List<String> files, List<String> dirs) throws IOException {
        for (Map.Entry<String, FileAttributes> e : list(dir).entrySet()) {
            String p = UploadPaths.child(dir, e.getKey());
            if (e.getValue().type() == FileType.DIRECTORY) {
                dirs.add(p);
                collect(p, files, dirs);
            } else {
                files.add(p);
            }
        }
    }

    private FileAttributes attributesOf(BackendEntry e) {
        long[] owner = cache.rootOwner();
        return FileAttributes.builder(e.directory() ? FileType.DIRECTORY : FileType.REGULAR)
                .size(e.directory() ? 0 : e.size()).owner(owner[0], owner[1]).times(e.modified()).build();
    }

    private void requireVisibleInBackend(String path) {
        if (backend.reserves(path)) {
            throw new ErrnoException(Errno.ENOENT);
        }
        try (StateLock.Held h = lock.hold()) {
            if (uploader.deletePending(path) || UploadPaths.localOnly(path)) {
                throw new ErrnoException(Errno.ENOENT);
            }
        }
    }

    // ---------------------------------------------------------------- cache fill

    /** Makes {@code path} (a file or a directory) exist in the cache, so its metadata can change there. */
    void materialize(String path) throws IOException {
        if (isDirectory(path)) {
            cache.ensureDirectory(path);
        } else {
            ensureCached(path);
        }
    }

    /**
     * Makes sure the file is in the cache: starts or joins its download and waits for the end, within the
     * request's deadline. Past the deadline the download goes on, so the request's retry finds it further.
     */
    void ensureCached(String path) {
        Download d = startDownload(path);
        if (d != null) {
            d.awaitDone();
        }
    }

    /**
     * Makes sure every one of {@code paths} (files) is in the cache, fetching those known only to the backend
     * in parallel (at most {@link #FETCHERS} at once), and waits for them at most {@code budget}.
     *
     * @throws ErrnoException EIO when a download failed or they did not all arrive in time (the downloads go on,
     *                        so a later attempt finds them done); ENOENT when one vanished
     */
    void fetchAll(List<String> paths, java.time.Duration budget) {
        List<Download> waiting = new ArrayList<>();
        for (String p : paths) {
            Download d = startDownload(p);
            if (d != null) {
                waiting.add(d);
            }
        }
        long until = System.nanoTime() + budget.toNanos();
        int late = 0;
        for (Download d : waiting) {
            if (!d.awaitDoneUntil(until)) {
                late++;
            }
        }
        if (late > 0) {
            throw new ErrnoException(Errno.EIO, late + " of the " + paths.size() + " files this rename moves are "
                    + "still downloading from the backend; nothing was renamed (try again when they are cached)");
        }
    }

    /**
     * Creates an empty cache file for {@code path} (a truncate to 0 needs none of its content) unless a download
     * of it is registered: decided under the lock, so no open can have got a handle on a download that this cache
     * file would then keep from being installed. Returns false when a download is under way (wait for it).
     */
    boolean createEmptyUnlessDownloading(String path) throws IOException {
        try (StateLock.Held h = lock.hold()) {
            if (downloads.containsKey(path)) {
                return false;
            }
            cache.createEmpty(path);
            return true;
        }
    }

    /** Whether {@code path} is being downloaded. */
    boolean downloading(String path) {
        try (StateLock.Held h = lock.hold()) {
            return downloads.containsKey(path);
        }
    }

    /**
     * The download of {@code path}, started (one backend {@code stat} on this thread, the transfer in the
     * background) or joined; null when the file is cached.
     *
     * @throws ErrnoException ENOENT when it is nowhere, EISDIR for a directory, EIO when the backend failed
     */
    Download startDownload(String path) {
        if (cache.exists(path)) {
            return null;
        }
        try (StateLock.Held h = lock.hold()) {
            Download d = downloads.get(path);
            if (d != null) {
                return d;
            }
        }
        requireVisibleInBackend(path);
        Optional<BackendEntry> e;
        try {
            e = backend.stat(path);
        } catch (IOException x) {
            throw new ErrnoException(Errno.EIO, "backend stat " + path + ": " + x.getMessage());
        }
        if (e.isEmpty()) {
            throw new ErrnoException(Errno.ENOENT);
        }
        if (e.get().directory()) {
            throw new ErrnoException(Errno.EISDIR);
        }
        Path file = cache.newDownload();
        try {
            Files.createFile(file); // exists before anyone can open it
        } catch (IOException x) {
            throw new ErrnoException(Errno.EIO, "creating a download of " + path + ": " + x.getMessage());
        }
        Download d = new Download(path, file, e.get().size(), e.get().modified());
        try (StateLock.Held h = lock.hold()) {
            boolean cached = cache.exists(path);
            Download other = cached ? null : downloads.putIfAbsent(path, d);
            if (cached || other != null) { // another open was faster
                deleteQuietly(file);
                return other;
            }
            if (closed) {
                throw new RejectedExecutionException("closed");
            }
            active.add(d); // the fetch removes it when it ends (after this hold of the lock)
            fetchers.execute(() -> fetch(d));
        } catch (RejectedExecutionException x) {
            try (StateLock.Held h = lock.hold()) {
                downloads.remove(path, d);
                active.remove(d);
            }
            deleteQuietly(file);
            throw new ErrnoException(Errno.EIO, "filesystem closed");
        }
        return d;
    }

    /** Drops the download of {@code path} (unlinked): it is not installed when it ends. Caller holds the lock. */
    void cancelDownload(String path) {
        Download d = downloads.remove(path);
        if (d != null) {
            d.cancelled = true;
        }
    }

    /**
     * A fetcher thread: streams the object into the temp file, flushes it, renames it into the cache and ends the
     * download in the same hold of the lock (an open sees either the temp file or the cache file). Stops early,
     * closing the stream and deleting the temp file, when the download was cancelled and no handle is open on it,
     * when the filesystem closes, or on an interrupt.
     */
    private void fetch(Download d) {
        try {
            if (d.shouldStop()) {
                throw new IOException("download stopped");
            }
            try (InputStream in = backend.get(d.path);
                 FileOutputStream out = new FileOutputStream(d.file.toFile(), true)) {
                d.streaming(in);
                byte[] buf = new byte[256 << 10];
                for (int n; (n = in.read(buf)) >= 0; ) {
                    out.write(buf, 0, n);
                    d.progress(n); // readers waiting for these bytes go on (same page cache)
                    if (d.shouldStop() || Thread.interrupted()) {
                        throw new IOException("download stopped");
                    }
                }
                out.getFD().sync(); // whole on disk before its name in the cache says it is complete
            }
            CacheDir.setModified(d.file, d.modified);
            lock.run(() -> {
                downloads.remove(d.path, d);
                if (d.cancelled || uploader.deletePending(d.path) || UploadPaths.localOnly(d.path)) {
                    d.finish(null); // unlinked: its handles keep the unlinked inode, as on any filesystem
                } else if (cache.install(d.file, d.path)) {
                    CrashPoints.reached(CrashPoints.Point.CACHE_INSTALL);
                    d.finish(null);
                    installed.accept(d.path); // queues a kernel notification: never waits
                } else {
                    d.finishStale(); // the path got a cache file first: writes through its handles fail
                }
            });
        } catch (IOException | RuntimeException x) {
            IOException failure = x instanceof IOException io ? io : new IOException(x.toString(), x);
            try (StateLock.Held h = lock.hold()) {
                downloads.remove(d.path, d); // the next open starts again
                d.finish(failure);
            }
        } finally {
            deleteQuietly(d.file); // gone after the install; open descriptors keep the inode
            try (StateLock.Held h = lock.hold()) {
                active.remove(d);
            }
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // best effort; the next start clears tmp
        }
    }

    /**
     * Stops the downloads: closes their streams (a socket read ignores interrupts), interrupts the fetchers and
     * waits for them, at most {@link #CLOSE_WAIT_MILLIS}; call before the cache is closed. Temp files left behind
     * are cleared at the next start.
     */
    void close() {
        List<Download> running;
        try (StateLock.Held h = lock.hold()) {
            closed = true;
            running = new ArrayList<>(active);
        }
        running.forEach(Download::abort);
        fetchers.shutdownNow();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CLOSE_WAIT_MILLIS);
        try {
            boolean ended = fetchers.awaitTermination(CLOSE_WAIT_MILLIS, TimeUnit.MILLISECONDS);
            // the pool is "terminated" once its last worker signals, a moment before that thread exits
            for (Thread t : List.copyOf(fetcherThreads)) {
                long left = deadline - System.nanoTime();
                if (left > 0) {
                    t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                }
                ended &= !t.isAlive();
            }
            if (!ended) {
                LoggerFactory.getLogger(UnionView.class).warn("fetchers still running after {} ms",
                        CLOSE_WAIT_MILLIS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
