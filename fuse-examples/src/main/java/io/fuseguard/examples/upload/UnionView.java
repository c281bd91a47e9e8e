package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The namespace a {@link CachedUploadFs} shows: the cache's entries first, then the backend's that no pending
 * delete hides. Fetches a file known only to the backend into the cache when it is opened or changed: in the
 * background, one {@link Download} per file shared by its opens, so an open returns at once and a read waits
 * only for its own bytes.
 */
final class UnionView {
    private final CacheDir cache;
    private final Backend backend;
    private final Uploader uploader;
    private final StateLock lock;
    /** Downloads in progress, by path; guarded by {@link #lock}. */
    private final Map<String, Download> downloads = new HashMap<>();
    private final ExecutorService fetchers;

    UnionView(CacheDir cache, Backend backend, Uploader uploader, StateLock lock) {
        this.cache = cache;
        this.backend = backend;
        this.uploader = uploader;
        this.lock = lock;
        AtomicInteger n = new AtomicInteger();
        this.fetchers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "upload-fetch-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** The attributes of {@code path}: its cache file's, else the backend's. */
    FileAttributes getattr(String path) throws IOException {
        try {
            return cache.attributes(path);
        } catch (NoSuchFileException e) {
            // not cached: ask the backend
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

    /** ENOTDIR unless the directory that would hold {@code path} is one. */
    void requireParentDirectory(String path) throws IOException {
        if (!isDirectory(UploadPaths.parentOf(path))) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
    }

    /** The entries of directory {@code path}, by name. */
    Map<String, FileAttributes> list(String path) throws IOException {
        Map<String, FileAttributes> out = new LinkedHashMap<>();
        cache.listInto(path, out);
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
            fetchers.execute(() -> fetch(d));
        } catch (RejectedExecutionException x) {
            try (StateLock.Held h = lock.hold()) {
                downloads.remove(path, d);
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

    /** A fetcher thread: streams the object into the temp file, flushes it, renames it into the cache. */
    private void fetch(Download d) {
        IOException failure = null;
        try {
            try (InputStream in = backend.get(d.path);
                 FileOutputStream out = new FileOutputStream(d.file.toFile(), true)) {
                byte[] buf = new byte[256 << 10];
                for (int n; (n = in.read(buf)) >= 0; ) {
                    out.write(buf, 0, n);
                    d.progress(n); // readers waiting for these bytes go on (same page cache)
                }
                out.getFD().sync(); // whole on disk before its name in the cache says it is complete
            }
            CacheDir.setModified(d.file, d.modified);
            lock.run(() -> {
                downloads.remove(d.path, d);
                if (!d.cancelled && !uploader.deletePending(d.path)) {
                    cache.install(d.file, d.path);
                }
            });
        } catch (IOException | RuntimeException x) {
            failure = x instanceof IOException io ? io : new IOException(x.toString(), x);
            try (StateLock.Held h = lock.hold()) {
                downloads.remove(d.path, d); // the next open starts again
            }
        } finally {
            d.finish(failure);
            deleteQuietly(d.file); // gone after the install; open descriptors keep the inode
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // best effort; the next start clears tmp
        }
    }

    /** Stops the downloads (their temp files are cleared at the next start). */
    void close() {
        fetchers.shutdownNow();
    }
}
