package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.examples.host.BeneathResolver;
import io.fuseguard.examples.host.Entry;
import io.fuseguard.examples.host.Host;
import io.fuseguard.examples.host.HostFiles;
import io.fuseguard.examples.host.HostStat;
import io.fuseguard.examples.host.NewEntryOwner;
import jnr.ffi.Pointer;

import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The local side of a {@link CachedUploadFs}: the cache directory's {@code data} tree, which mirrors the
 * filesystem's namespace, and its {@code tmp} directory for downloads in progress.
 *
 * <p>The {@code data} tree is reached only through a descriptor of its root: each call resolves the entry's
 * parent beneath that descriptor ({@link BeneathResolver}) and acts on the last name with an {@code *at} system
 * call. No host path is built from a filesystem path, because the cache directory in front of a path just under
 * PATH_MAX inside the mount would push it over (ENAMETOOLONG), and a tree deeper than PATH_MAX is as valid here
 * as on any filesystem. Only {@code tmp} (short, fixed names) is used by path.
 *
 * <p>Mode, owner and times of an entry are those of its cache file (the daemon runs as root and sets them): they
 * survive a daemon restart with the cache and are never sent to the backend, which keeps content and mtime only.
 * A new entry belongs to the caller, with the group of its directory when that directory is set-group-ID, as
 * {@code open(2)} and {@code mkdir(2)} describe ({@link NewEntryOwner}).
 */
final class CacheDir implements AutoCloseable {
    /** Mode of directories the cache makes on its own (as {@code Files.createDirectories} did: umask applies). */
    private static final int IMPLICIT_DIR_MODE = 0777;

    private final Path data;
    private final Path tmp;
    private final int rootFd;
    private volatile boolean closed;
    private final BeneathResolver resolver;

    private CacheDir(Path data, Path tmp, int rootFd) {
        this.data = data;
        this.tmp = tmp;
        this.rootFd = rootFd;
        this.resolver = new BeneathResolver(rootFd);
    }

    /** Opens (or creates) the cache in {@code cacheDir} and drops downloads a crash interrupted. */
    static CacheDir open(Path cacheDir) throws IOException {
        Path data = Files.createDirectories(cacheDir.resolve("data")).toRealPath();
        Path tmp = Files.createDirectories(cacheDir.resolve("tmp")).toRealPath();
        try (Stream<Path> s = Files.list(tmp)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Files.deleteIfExists(p);
            }
        }
        int fd = Host.LIBC.openat(Host.AT_FDCWD, data.toString(), Host.O_PATH | Host.O_DIRECTORY | Host.O_CLOEXEC, 0);
        if (fd < 0) {
            throw new IOException("cannot open " + data + ": errno " + Host.errno());
        }
        return new CacheDir(data, tmp, fd);
    }

    /**
     * The host path of a filesystem path's cache file, for tests and tools only (the cache itself never uses
     * it: it may be longer than PATH_MAX); refuses relative paths and {@code .}/{@code ..} components.
     */
    Path fileOf(String path) {
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

    /** Whether {@code path} has a cache entry (false too when the host cannot look it up, as Files.exists). */
    boolean exists(String path) {
        return lookup(path) != null;
    }

    boolean isDirectory(String path) {
        FileAttributes a = lookup(path);
        return a != null && a.type() == FileType.DIRECTORY;
    }

    /** The cached entry's attributes, or null; EINVAL (a refused path) is thrown. */
    private FileAttributes lookup(String path) {
        try (Entry e = resolver.resolve(path)) {
            return HostStat.of(e.dirfd(), e.name(), e.atFlags());
        } catch (ErrnoException x) {
            if (x.errno() == Errno.EINVAL) {
                throw x;
            }
            return null;
        }
    }

    /**
     * The attributes of a cached entry.
     *
     * @throws NoSuchFileException when the path is not in the cache
     */
    FileAttributes attributes(String path) throws IOException {
        try (Entry e = resolver.resolve(path)) {
            return HostStat.of(e.dirfd(), e.name(), e.atFlags());
        } catch (ErrnoException x) {
            if (x.errno() == Errno.ENOENT) {
                throw new NoSuchFileException(path);
            }
            throw x;
        }
    }

    /** Puts the cached entries of directory {@code path} into {@code out}, by name; nothing if not cached. */
    void listInto(String path, Map<String, FileAttributes> out) {
        try (Entry dir = resolver.resolve(path)) {
            HostFiles.list(dir, (name, fd) -> {
                try {
                    out.put(name, HostStat.of(fd, name, Host.AT_SYMLINK_NOFOLLOW));
                } catch (ErrnoException gone) {
                    // removed while listed
                }
            });
        } catch (ErrnoException x) {
            if (x.errno() != Errno.ENOENT && x.errno() != Errno.ENOTDIR) {
                throw x;
            }
        }
    }

    /** Owner and group of the cache's root: what a file known only to the backend shows. */
    long[] rootOwner() {
        try {
            FileAttributes a = HostStat.of(rootFd);
            return new long[] {a.uid(), a.gid()};
        } catch (ErrnoException e) {
            return new long[] {0, 0};
        }
    }

    // ---------------------------------------------------------------- new entries

    /**
     * Creates (or opens) the regular cache file of {@code path}, read-write, owned by the caller.
     *
     * @return its descriptor, which the caller closes
     */
    int createFile(String path, int mode) {
        try (Entry e = resolveCreatingParents(path)) {
            int fd = Host.check(Host.LIBC.openat(e.dirfd(), e.name(),
                    Host.O_RDWR | Host.O_CREAT | Host.O_NOFOLLOW | Host.O_CLOEXEC, 0600), "create " + path);
            try {
                NewEntryOwner owner = NewEntryOwner.forCaller(e.dirfd());
                if (owner.giveAway()) {
                    Host.check(Host.LIBC.fchown(fd, owner.uid(), owner.gid()), "chown " + path);
                }
                // after the chown, which may clear set-ID bits; undoes the daemon's umask
                Host.check(Host.LIBC.fchmod(fd, owner.modeFor(mode & 07777, false)), "chmod " + path);
            } catch (RuntimeException ex) {
                Host.close(fd);
                throw ex;
            }
            return fd;
        }
    }

    /** Creates an empty cache file for a path whose content is about to be replaced (a truncate to 0). */
    void createEmpty(String path) {
        try (Entry e = resolveCreatingParents(path)) {
            Host.close(Host.check(Host.LIBC.openat(e.dirfd(), e.name(),
                    Host.O_WRONLY | Host.O_CREAT | Host.O_NOFOLLOW | Host.O_CLOEXEC, 0666), "create " + path));
        }
    }

    /** Creates the directory {@code path} (its missing parents too), owned by the caller. */
    void createDirectory(String path, int mode) {
        try (Entry e = resolveCreatingParents(path)) {
            Host.check(Host.LIBC.mkdirat(e.dirfd(), e.name(), mode & 07777), "mkdir " + path);
            NewEntryOwner owner = NewEntryOwner.forCaller(e.dirfd());
            if (owner.giveAway()) {
                Host.check(Host.LIBC.fchownat(e.dirfd(), e.name(), owner.uid(), owner.gid(),
                        Host.AT_SYMLINK_NOFOLLOW), "chown " + path);
            }
            Host.check(Host.LIBC.fchmodat(e.dirfd(), e.name(), owner.modeFor(mode & 07777, true),
                    Host.AT_SYMLINK_NOFOLLOW), "chmod " + path);
        }
    }

    /** Makes a directory known only to the backend exist in the cache too (its missing parents as well). */
    void ensureDirectory(String path) {
        HostFiles.mkdirs(resolver, path, IMPLICIT_DIR_MODE);
    }

    /** The entry of {@code path}, its missing parent directories made first (a parent known to the backend). */
    private Entry resolveCreatingParents(String path) {
        return HostFiles.resolveMakingParents(resolver, path, IMPLICIT_DIR_MODE);
    }

    // ---------------------------------------------------------------- open files

    /**
     * Opens the cache file of {@code path}, read-write or read-only, never through a symlink.
     *
     * @return its descriptor, which the caller closes
     */
    int openFile(String path, boolean writable) {
        try (Entry e = resolver.resolve(path)) {
            return Host.check(Host.LIBC.openat(e.dirfd(), e.name(),
                    (writable ? Host.O_RDWR : Host.O_RDONLY) | Host.O_NOFOLLOW | Host.O_CLOEXEC, 0), "open " + path);
        }
    }

    /** A read-only descriptor of {@code path}'s cache file for its upload, or -1 when it is gone. */
    int openForUpload(String path) {
        try {
            return openFile(path, false);
        } catch (ErrnoException x) {
            if (x.errno() == Errno.ENOENT || x.errno() == Errno.ENOTDIR) {
                return -1;
            }
            throw x;
        }
    }

    /** Sets the size of {@code path}'s cache file (a hole when it grows). */
    void resize(String path, long size) {
        int fd = openFile(path, true);
        try {
            Host.check(Host.LIBC.ftruncate(fd, size), "truncate " + path);
        } finally {
            Host.close(fd);
        }
    }

    // ---------------------------------------------------------------- changes

    /** A fresh temp file name for a download; {@link #install} moves it into place. */
    Path newDownload() {
        return tmp.resolve(UUID.randomUUID() + ".download");
    }

    /**
     * Moves a finished download into the cache as {@code path}, unless the path got a cache file meanwhile
     * (then false). The caller deletes {@code download} afterwards in any case. Refused (EIO) after
     * {@link #close}; the caller serializes the two (the filesystem's lock).
     */
    boolean install(Path download, String path) {
        if (closed) { // the root descriptor may be closed, its number reused
            throw new ErrnoException(Errno.EIO, "cache closed: not installing " + path);
        }
        try (Entry e = resolveCreatingParents(path)) {
            if (present(e)) {
                return false;
            }
            // tmp is a short path of our own; the target is reached through its parent's descriptor
            Host.check(Host.LIBC.renameat(Host.AT_FDCWD, download.toString(), e.dirfd(), e.name()),
                    "install " + path);
            return true;
        }
    }

    /** Moves {@code from} to {@code to} atomically, replacing a file or empty directory there. */
    void move(String from, String to, boolean createEmptyTargetDir) {
        try (Entry dst = resolveCreatingParents(to); Entry src = resolver.resolve(from)) {
            if (createEmptyTargetDir && !present(dst)) {
                // an empty target directory known only to the backend
                Host.check(Host.LIBC.mkdirat(dst.dirfd(), dst.name(), IMPLICIT_DIR_MODE), "mkdir " + to);
            }
            Host.check(Host.LIBC.renameat(src.dirfd(), src.name(), dst.dirfd(), dst.name()), "rename " + from);
        }
    }

    /** Removes {@code path}'s cache file or (empty) directory; nothing when it is not cached. */
    void delete(String path) {
        try (Entry e = resolver.resolve(path)) {
            if (Host.LIBC.unlinkat(e.dirfd(), e.name(), 0) == 0) {
                return;
            }
            int errno = Host.errno();
            if (errno == Errno.EISDIR.code()) {
                if (Host.LIBC.unlinkat(e.dirfd(), e.name(), Host.AT_REMOVEDIR) == 0) {
                    return;
                }
                errno = Host.errno();
            }
            if (errno != Errno.ENOENT.code()) {
                Errno known = Errno.of(errno);
                throw new ErrnoException(known == null ? Errno.EIO : known, "delete " + path + ": errno " + errno);
            }
        } catch (ErrnoException x) {
            if (x.errno() != Errno.ENOENT && x.errno() != Errno.ENOTDIR) {
                throw x;
            }
        }
    }

    /**
     * Removes {@code path}'s cache file, or its directory when empty. Returns false for a directory that holds
     * entries (left as it is); true when removed or not there.
     */
    boolean deleteIfEmpty(String path) {
        try {
            delete(path);
            return true;
        } catch (ErrnoException x) {
            if (x.errno() == Errno.ENOTEMPTY || x.errno() == Errno.EEXIST) {
                return false;
            }
            throw x;
        }
    }

    /** Removes {@code path} and, for a directory, everything below it; nothing when it is not cached. */
    void deleteTree(String path) {
        if (isDirectory(path)) {
            Map<String, FileAttributes> children = new java.util.LinkedHashMap<>();
            listInto(path, children);
            for (String name : children.keySet()) {
                deleteTree(UploadPaths.child(path, name));
            }
        }
        delete(path);
    }

    /**
     * Adds the files and directories below directory {@code dir} to {@code files} and {@code dirs}, as paths
     * relative to it ({@code "/a"}, {@code "/sub/b"}), a directory before its content.
     */
    void walk(String dir, List<String> files, List<String> dirs) {
        walk(dir, "", files, dirs);
    }

    private void walk(String base, String rel, List<String> files, List<String> dirs) {
        Map<String, FileAttributes> children = new java.util.LinkedHashMap<>();
        listInto(rel.isEmpty() ? base : base.equals("/") ? rel : base + rel, children);
        for (Map.Entry<String, FileAttributes> c : children.entrySet()) {
            String r = rel + "/" + c.getKey();
            if (c.getValue().type() == FileType.DIRECTORY) {
                dirs.add(r);
                walk(base, r, files, dirs);
            } else {
                files.add(r);
            }
        }
    }

    /** Calls {@code each} with the path and ctime (ms) of every regular file in the cache. */
    void forEachFile(java.util.function.ObjLongConsumer<String> each) {
        forEachFile("/", each);
    }

    private void forEachFile(String dir, java.util.function.ObjLongConsumer<String> each) {
        Map<String, FileAttributes> children = new java.util.LinkedHashMap<>();
        listInto(dir, children);
        for (Map.Entry<String, FileAttributes> c : children.entrySet()) {
            String p = UploadPaths.child(dir, c.getKey());
            if (c.getValue().type() == FileType.DIRECTORY) {
                forEachFile(p, each);
            } else if (c.getValue().type() == FileType.REGULAR) {
                each.accept(p, c.getValue().ctime().toEpochMilli());
            }
        }
    }

    void setMode(String path, int mode) {
        try (Entry e = resolver.resolve(path)) {
            Host.check(Host.LIBC.fchmodat(e.dirfd(), e.name(), mode & 07777, e.atFlags()), "chmod " + path);
        }
    }

    void setOwner(String path, long uid, long gid) {
        try (Entry e = resolver.resolve(path)) {
            Host.check(Host.LIBC.fchownat(e.dirfd(), e.name(), (int) uid, (int) gid, e.atFlags()),
                    "chown " + path);
        }
    }

    /** Sets access and modification times; an empty one stays as it is. */
    void setTimes(String path, Optional<Instant> atime, Optional<Instant> mtime) {
        Pointer times = Host.buffer(32);
        putTime(times, 0, atime);
        putTime(times, 16, mtime);
        try (Entry e = resolver.resolve(path)) {
            Host.check(Host.LIBC.utimensat(e.dirfd(), e.name(), times, e.atFlags()), "utimens " + path);
        }
    }

    private static void putTime(Pointer times, int offset, Optional<Instant> t) {
        times.putLong(offset, t.map(Instant::getEpochSecond).orElse(0L));
        times.putLong(offset + 8, t.map(i -> (long) i.getNano()).orElse(Host.UTIME_OMIT));
    }

    private static boolean present(Entry e) {
        try {
            HostStat.of(e.dirfd(), e.name(), e.atFlags());
            return true;
        } catch (ErrnoException x) {
            if (x.errno() == Errno.ENOENT) {
                return false;
            }
            throw x;
        }
    }

    /** Sets the modification time of a downloaded file (in {@code tmp}) to the backend's. */
    static void setModified(Path file, Instant modified) throws IOException {
        Files.setLastModifiedTime(file, FileTime.from(modified));
    }

    /** The statistics of the filesystem holding the cache. */
    FsStats stats() throws IOException {
        FileStore s = Files.getFileStore(data);
        long bs = Math.max(512, s.getBlockSize());
        return new FsStats(bs, s.getTotalSpace() / bs, s.getUnallocatedSpace() / bs, s.getUsableSpace() / bs,
                0, 0, 255);
    }

    /** Closes the descriptor of the cache root; the instance is unusable after. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        Host.close(rootFd);
    }
}
