package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The namespace a {@link CachedUploadFs} shows: the cache's entries first, then the backend's that no pending
 * delete hides. Fetches a file known only to the backend into the cache when it is opened or changed.
 */
final class UnionView {
    private final CacheDir cache;
    private final Backend backend;
    private final Uploader uploader;
    private final StateLock lock;

    UnionView(CacheDir cache, Backend backend, Uploader uploader, StateLock lock) {
        this.cache = cache;
        this.backend = backend;
        this.uploader = uploader;
        this.lock = lock;
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

    /** Makes sure the file is in the cache, downloading it from the backend if needed. */
    void ensureCached(String path) {
        if (cache.exists(path)) {
            return;
        }
        requireVisibleInBackend(path);
        Path download = cache.newDownload();
        try {
            fetch(path, download);
            lock.run(() -> {
                if (!uploader.deletePending(path)) {
                    cache.install(download, path);
                }
            });
        } catch (NoSuchFileException e) {
            throw new ErrnoException(Errno.ENOENT);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "fetching " + path + " from the backend: " + e.getMessage());
        } finally {
            try {
                Files.deleteIfExists(download);
            } catch (IOException ignored) {
                // best effort; the next start clears tmp
            }
        }
    }

    private void fetch(String path, Path download) throws IOException {
        Optional<BackendEntry> e = backend.stat(path);
        if (e.isEmpty()) {
            throw new ErrnoException(Errno.ENOENT);
        }
        if (e.get().directory()) {
            throw new ErrnoException(Errno.EISDIR);
        }
        try (InputStream in = backend.get(path)) {
            Files.copy(in, download);
        }
        CacheDir.setModified(download, e.get().modified());
    }
}
