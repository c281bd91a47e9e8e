package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.RequestContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The local side of a {@link CachedUploadFs}: the cache directory's {@code data} tree, which mirrors the
 * filesystem's namespace, and its {@code tmp} directory for downloads in progress.
 *
 * <p>Mode, owner and times of an entry are those of its cache file (the daemon runs as root and sets them): they
 * survive a daemon restart with the cache and are never sent to the backend, which keeps content and mtime only.
 * A new entry belongs to the caller, with the group of its directory when that directory is set-group-ID, as
 * {@code open(2)} and {@code mkdir(2)} describe.
 */
final class CacheDir {
    private static final Logger LOG = LoggerFactory.getLogger(CacheDir.class);
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;
    private static final String ATTRIBUTES = "unix:mode,nlink,uid,gid,size,lastAccessTime,lastModifiedTime,ctime";
    private static final int S_ISGID = 02000;

    private final Path data;
    private final Path tmp;

    private CacheDir(Path data, Path tmp) {
        this.data = data;
        this.tmp = tmp;
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
        return new CacheDir(data, tmp);
    }

    /** The cache file of a filesystem path; refuses relative paths and {@code .}/{@code ..} components. */
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

    boolean exists(String path) {
        return Files.exists(fileOf(path), NOFOLLOW);
    }

    boolean isDirectory(String path) {
        return Files.isDirectory(fileOf(path), NOFOLLOW);
    }

    /**
     * The attributes of a cached entry.
     *
     * @throws NoSuchFileException when the path is not in the cache
     */
    FileAttributes attributes(String path) throws IOException {
        return attributesOf(fileOf(path));
    }

    /** Puts the cached entries of directory {@code path} into {@code out}, by name; nothing if not cached. */
    void listInto(String path, Map<String, FileAttributes> out) throws IOException {
        Path c = fileOf(path);
        if (!Files.isDirectory(c, NOFOLLOW)) {
            return;
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(c)) {
            for (Path p : s) {
                try {
                    out.put(p.getFileName().toString(), attributesOf(p));
                } catch (NoSuchFileException gone) {
                    // removed while listed
                }
            }
        }
    }

    private static FileAttributes attributesOf(Path p) throws IOException {
        Map<String, Object> a = Files.readAttributes(p, ATTRIBUTES, NOFOLLOW);
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

    /** Owner and group of the cache's root: what a file known only to the backend shows. */
    long[] rootOwner() {
        try {
            Map<String, Object> a = Files.readAttributes(data, "unix:uid,gid", NOFOLLOW);
            return new long[] {((Number) a.get("uid")).longValue(), ((Number) a.get("gid")).longValue()};
        } catch (IOException | UnsupportedOperationException e) {
            return new long[] {0, 0};
        }
    }

    // ---------------------------------------------------------------- new entries

    /** Creates (or opens) the regular cache file of {@code path}, read-write, owned by the caller. */
    FileChannel createFile(String path, int mode) throws IOException {
        Path c = fileOf(path);
        Files.createDirectories(c.getParent());
        FileChannel ch = FileChannel.open(c, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE, NOFOLLOW);
        try {
            giveToCaller(c, mode & 07777, false);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        return ch;
    }

    /** Creates an empty cache file for a path whose content is about to be replaced (a truncate to 0). */
    void createEmpty(String path) throws IOException {
        Path c = fileOf(path);
        Files.createDirectories(c.getParent());
        Files.newByteChannel(c, StandardOpenOption.CREATE, StandardOpenOption.WRITE, NOFOLLOW).close();
    }

    /** Creates the directory {@code path} (its missing parents too), owned by the caller. */
    void createDirectory(String path, int mode) throws IOException {
        Path c = fileOf(path);
        Files.createDirectories(c.getParent());
        Files.createDirectory(c);
        giveToCaller(c, mode & 07777, true);
    }

    /** Makes a directory known only to the backend exist in the cache too. */
    void ensureDirectory(String path) throws IOException {
        Files.createDirectories(fileOf(path));
    }

    /**
     * Sets a new entry's mode and owner: the calling user, and the group of a set-group-ID parent (a new
     * directory inheriting the bit) or else the caller's group. The daemon creates as root, so without this
     * every entry would be root's.
     */
    private static void giveToCaller(Path c, int mode, boolean directory) throws IOException {
        Optional<RequestContext> ctx = RequestContext.current();
        Map<String, Object> parent = Files.readAttributes(c.getParent(), "unix:mode,gid", NOFOLLOW);
        boolean inherit = ((Integer) parent.get("mode") & S_ISGID) != 0;
        if (inherit && directory) {
            mode |= S_ISGID;
        }
        if (ctx.isPresent()) {
            int gid = inherit ? ((Number) parent.get("gid")).intValue() : (int) ctx.get().gid();
            try {
                Files.setAttribute(c, "unix:uid", (int) ctx.get().uid(), NOFOLLOW);
                Files.setAttribute(c, "unix:gid", gid, NOFOLLOW);
            } catch (IOException | UnsupportedOperationException e) {
                // a daemon not running as root keeps its own entries, as before
                LOG.debug("cannot give {} to uid {}: {}", c, ctx.get().uid(), e.toString());
            }
        }
        Files.setAttribute(c, "unix:mode", mode, NOFOLLOW); // after the chown, which may clear set-id bits
    }

    // ---------------------------------------------------------------- changes

    /** A fresh temp file name for a download; {@link #install} moves it into place. */
    Path newDownload() {
        return tmp.resolve(UUID.randomUUID() + ".download");
    }

    /**
     * Moves a finished download into the cache as {@code path}, unless the path got a cache file meanwhile.
     * The caller deletes {@code download} afterwards in any case.
     */
    void install(Path download, String path) throws IOException {
        Path c = fileOf(path);
        if (!Files.exists(c, NOFOLLOW)) {
            Files.createDirectories(c.getParent());
            Files.move(download, c, StandardCopyOption.ATOMIC_MOVE);
        }
    }

    /** Moves {@code from} to {@code to} atomically, replacing a file or empty directory there. */
    void move(String from, String to, boolean createEmptyTargetDir) throws IOException {
        Path cd = fileOf(to);
        Files.createDirectories(cd.getParent());
        if (createEmptyTargetDir && !Files.exists(cd, NOFOLLOW)) {
            Files.createDirectory(cd); // an empty target directory known only to the backend
        }
        Files.move(fileOf(from), cd, StandardCopyOption.ATOMIC_MOVE);
    }

    void delete(String path) throws IOException {
        Files.deleteIfExists(fileOf(path));
    }

    void setMode(String path, int mode) throws IOException {
        Files.setAttribute(fileOf(path), "unix:mode", mode & 07777, NOFOLLOW);
    }

    void setOwner(String path, long uid, long gid) throws IOException {
        Path c = fileOf(path);
        if (uid >= 0) {
            Files.setAttribute(c, "unix:uid", (int) uid, NOFOLLOW);
        }
        if (gid >= 0) {
            Files.setAttribute(c, "unix:gid", (int) gid, NOFOLLOW);
        }
    }

    /** Sets access and modification times; an empty one stays as it is. */
    void setTimes(String path, Optional<Instant> atime, Optional<Instant> mtime) throws IOException {
        Files.getFileAttributeView(fileOf(path), BasicFileAttributeView.class, NOFOLLOW).setTimes(
                mtime.map(FileTime::from).orElse(null), atime.map(FileTime::from).orElse(null), null);
    }

    /** Sets the modification time of a downloaded file to the backend's. */
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
}
