package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.examples.host.BeneathResolver;
import io.fuseguard.examples.host.Entry;
import io.fuseguard.examples.host.Host;
import io.fuseguard.examples.host.HostFiles;
import io.fuseguard.examples.host.HostStat;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * A {@link Backend} kept in a directory of the local disk. Wrap it in a {@link FaultInjectingBackend} for
 * latency, stalls and failures in drills and benchmarks.
 *
 * <pre>{@code
 * DirectoryBackend backend = new DirectoryBackend(Path.of("/srv/backend"));
 * }</pre>
 *
 * <p>A put writes to a temp file under {@value #INCOMING} (never listed, and {@linkplain #reserves reserved}:
 * nothing can be stored there) and renames it into place, so readers never see half a file; each chunk is
 * written through at once, so the temp file is the visible sign of an upload in flight (a stalled one
 * included). Temp files left by a killed process are removed when a backend is created.
 *
 * <p>{@link #putSparse} copies by position (no stream): a cache file comes this way, and one with holes is stored
 * with the same holes, only its data extents read and written.
 *
 * <p>The stored tree is reached through a descriptor of {@code root} with {@code *at} calls (the
 * {@code io.fuseguard.examples.host} layer), never by a host path built from a stored path: a path that fits
 * the filesystem in front of it (up to, and past, PATH_MAX) fits here too.
 */
public final class DirectoryBackend implements Backend {
    /** Name of the top-level directory holding uploads in progress. */
    public static final String INCOMING = ".incoming";
    private static final int CHUNK = 64 * 1024;
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    /** Mode of the implicit directories (the process umask applies, as with Files.createDirectories). */
    private static final int DIR_MODE = 0777;

    private final Path root;
    private final Path incoming;
    private final int rootFd;
    private final BeneathResolver resolver;
    private final AtomicLong puts = new AtomicLong();
    /** Temp names: a random prefix per instance and a counter (a UUID per put costs a SecureRandom call). */
    private final String tempPrefix = UUID.randomUUID().toString().substring(0, 8) + "-";
    private final AtomicLong temps = new AtomicLong();
    /** One chunk buffer per uploading thread, for the positional copy of {@link #putSparse}. */
    private static final ThreadLocal<ByteBuffer> CHUNK_BUFFER = ThreadLocal.withInitial(
            () -> ByteBuffer.allocateDirect(CHUNK));
    /** Serialises directory creation (puts) with the pruning of empty directories (deletes). */
    private final Object structure = new Object();

    /** A backend storing files under {@code root} (created if missing). */
    public DirectoryBackend(Path root) throws IOException {
        Files.createDirectories(root);
        this.root = root.toRealPath();
        this.incoming = this.root.resolve(INCOMING);
        Files.createDirectories(incoming);
        try (Stream<Path> s = Files.list(incoming)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Files.deleteIfExists(p);
            }
        }
        this.rootFd = Host.LIBC.openat(Host.AT_FDCWD, this.root.toString(),
                Host.O_PATH | Host.O_DIRECTORY | Host.O_CLOEXEC, 0);
        if (rootFd < 0) {
            throw new IOException("cannot open " + this.root + ": errno " + Host.errno());
        }
        this.resolver = new BeneathResolver(rootFd);
    }

    /** The directory holding the stored files. */
    public Path root() {
        return root;
    }

    /** {@value #INCOMING} at the top, and everything below it: where uploads in progress are written. */
    @Override
    public boolean reserves(String path) {
        return path.startsWith(RESERVED) && (path.length() == RESERVED.length()
                || path.charAt(RESERVED.length()) == '/');
    }

    private static final String RESERVED = "/" + INCOMING;

    /** Puts completed since creation. */
    public long completedPuts() {
        return puts.get();
    }

    /** Uploads in progress right now (temp files under {@value #INCOMING}). */
    public int uploadsInFlight() {
        try (Stream<Path> s = Files.list(incoming)) {
            return (int) s.count();
        } catch (IOException e) {
            return 0;
        }
    }

    /** The host file holding {@code path} (for tests and tools: it may be longer than PATH_MAX). */
    public Path fileOf(String path) {
        if (path.equals("/")) {
            return root;
        }
        if (!path.startsWith("/")) {
            throw new IllegalArgumentException("not absolute: " + path);
        }
        Path p = root;
        for (String c : path.substring(1).split("/", -1)) {
            if (c.isEmpty() || c.equals(".") || c.equals("..")) {
                throw new IllegalArgumentException("bad path: " + path);
            }
            p = p.resolve(c);
        }
        if (p.getNameCount() > root.getNameCount() && p.getName(root.getNameCount()).toString().equals(INCOMING)) {
            throw new IllegalArgumentException("reserved name: " + path);
        }
        return p;
    }

    @Override
    public void put(String path, InputStream data, long size) throws IOException {
        Path target = fileOf(path);
        Path tmp = newTemp();
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                 OutputStream out = java.nio.channels.Channels.newOutputStream(ch)) {
                byte[] buf = new byte[CHUNK];
                long copied = 0;
                int n;
                while ((n = data.read(buf)) >= 0) {
                    out.write(buf, 0, n); // unbuffered: the temp file shows the upload in flight
                    copied += n;
                    if (Thread.currentThread().isInterrupted()) {
                        throw new InterruptedIOException("upload of " + path + " interrupted");
                    }
                }
                if (copied != size) {
                    throw new IOException("short upload of " + path + ": " + copied + " of " + size + " bytes");
                }
                ch.force(true);
            }
            store(path, tmp);
            done = true;
            puts.incrementAndGet();
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /**
     * Stores the data extents of {@code content} only: the temp file is given the content's size first (one
     * hole), then each extent is written at its offset, so holes stay holes and are never read or written.
     */
    @Override
    public void putSparse(String path, SparseContent content) throws IOException {
        fileOf(path);
        Path tmp = newTemp();
        boolean done = false;
        int fd = Host.LIBC.openat(Host.AT_FDCWD, tmp.toString(),
                Host.O_WRONLY | Host.O_CREAT | Host.O_EXCL | Host.O_CLOEXEC, 0666);
        if (fd < 0) {
            throw new IOException("cannot create " + tmp + ": errno " + Host.errno());
        }
        try {
            try {
                List<SparseContent.Extent> extents = content.extents();
                SparseContent.Extent last = extents.isEmpty() ? null : extents.get(extents.size() - 1);
                if (last == null || last.offset() + last.length() < content.size()) {
                    Host.check(Host.LIBC.ftruncate(fd, content.size()), "truncate " + tmp); // a hole at the end
                }
                ByteBuffer buf = CHUNK_BUFFER.get();
                for (SparseContent.Extent e : extents) {
                    long pos = e.offset();
                    long end = e.offset() + e.length();
                    while (pos < end) {
                        buf.clear().limit((int) Math.min(CHUNK, end - pos));
                        if (content.read(buf, pos) <= 0) {
                            throw new IOException("short upload of " + path + " at offset " + pos);
                        }
                        buf.flip();
                        pos += HostFiles.write(fd, buf, pos);
                        if (Thread.currentThread().isInterrupted()) {
                            throw new InterruptedIOException("upload of " + path + " interrupted");
                        }
                    }
                }
                Host.check(Host.LIBC.fsync(fd), "fsync " + tmp);
            } catch (ErrnoException x) {
                throw new IOException(x.getMessage(), x);
            } finally {
                Host.LIBC.close(fd);
            }
            store(path, tmp);
            done = true;
            puts.incrementAndGet();
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    private Path newTemp() {
        return incoming.resolve(tempPrefix + temps.incrementAndGet() + ".part");
    }

    /** Moves a complete temp file into place at {@code path}, making its parent directories. */
    private void store(String path, Path tmp) throws IOException {
        synchronized (structure) { // a concurrent delete must not prune the parent in between
            try (Entry e = HostFiles.resolveMakingParents(resolver, path, DIR_MODE)) {
                if (isDirectory(e)) {
                    throw new IOException("is a directory in the backend: " + path);
                }
                // the temp file is a short path of our own; the target is reached through its parent
                Host.check(Host.LIBC.renameat(Host.AT_FDCWD, tmp.toString(), e.dirfd(), e.name()),
                        "store " + path);
            } catch (ErrnoException x) {
                throw ioFailure(x);
            }
        }
    }

    @Override
    public InputStream get(String path) throws IOException {
        checked(path);
        try (Entry e = resolver.resolve(path)) {
            if (isDirectory(e)) {
                throw new IOException("is a directory: " + path);
            }
            return HostFiles.inputStream(Host.check(Host.LIBC.openat(e.dirfd(), e.name(),
                    Host.O_RDONLY | Host.O_NOFOLLOW | Host.O_CLOEXEC, 0), "open " + path));
        } catch (ErrnoException x) {
            throw ioFailure(x);
        }
    }

    @Override
    public List<BackendEntry> list(String dir) throws IOException {
        checked(dir);
        List<BackendEntry> out = new ArrayList<>();
        try (Entry d = resolver.resolve(dir)) {
            HostFiles.list(d, (name, fd) -> {
                if (dir.equals("/") && name.equals(INCOMING)) {
                    return;
                }
                try {
                    entryOf(name, HostStat.of(fd, name, Host.AT_SYMLINK_NOFOLLOW)).ifPresent(out::add);
                } catch (ErrnoException gone) {
                    // removed while listed
                }
            });
        } catch (ErrnoException x) {
            if (x.errno() == Errno.ENOENT || x.errno() == Errno.ENOTDIR) {
                return out; // no such directory: an empty one, as object stores answer
            }
            throw ioFailure(x);
        }
        out.sort(Comparator.comparing(BackendEntry::name));
        return out;
    }

    @Override
    public void delete(String path) throws IOException {
        checked(path);
        if (path.equals("/")) {
            return;
        }
        synchronized (structure) {
            try (Entry e = resolver.resolve(path)) {
                if (Host.LIBC.unlinkat(e.dirfd(), e.name(), 0) < 0) {
                    int errno = Host.errno();
                    if (errno == Errno.EISDIR.code() && Host.LIBC.unlinkat(e.dirfd(), e.name(), Host.AT_REMOVEDIR) < 0) {
                        errno = Host.errno();
                        if (errno == Errno.ENOTEMPTY.code() || errno == Errno.EEXIST.code()) {
                            throw new IOException("directory not empty in the backend: " + path);
                        }
                    }
                    if (errno != Errno.EISDIR.code() && errno != Errno.ENOENT.code()) {
                        throw new IOException("delete " + path + ": errno " + errno);
                    }
                }
            } catch (ErrnoException x) {
                if (x.errno() == Errno.ENOENT || x.errno() == Errno.ENOTDIR) {
                    return; // nothing there
                }
                throw ioFailure(x);
            }
            // Directories are implicit: drop parents that became empty.
            for (String parent = UploadPaths.parentOf(path); !parent.equals("/");
                 parent = UploadPaths.parentOf(parent)) {
                try (Entry e = resolver.resolve(parent)) {
                    if (Host.LIBC.unlinkat(e.dirfd(), e.name(), Host.AT_REMOVEDIR) < 0) {
                        break;
                    }
                } catch (ErrnoException x) {
                    break;
                }
            }
        }
    }

    @Override
    public Optional<BackendEntry> stat(String path) throws IOException {
        checked(path);
        try (Entry e = resolver.resolve(path)) {
            String name = path.equals("/") ? "/" : e.name();
            return entryOf(name, HostStat.of(e.dirfd(), e.name(), e.atFlags()));
        } catch (ErrnoException x) {
            if (x.errno() == Errno.ENOENT || x.errno() == Errno.ENOTDIR) {
                return Optional.empty();
            }
            throw ioFailure(x);
        }
    }

    /** Closes the descriptor of the root; the backend is unusable after. */
    @Override
    public void close() {
        Host.close(rootFd);
    }

    /** Refuses what {@link #fileOf} refuses (relative paths, empty/dot components, the incoming directory). */
    private void checked(String path) {
        fileOf(path);
    }

    private static boolean isDirectory(Entry e) {
        try {
            return (HostStat.mode(e.dirfd(), e.name()) & Host.S_IFMT) == Host.S_IFDIR;
        } catch (ErrnoException x) {
            if (x.errno() == Errno.ENOENT) {
                return false;
            }
            throw x;
        }
    }

    private static Optional<BackendEntry> entryOf(String name, FileAttributes a) {
        if (a.type() == FileType.DIRECTORY) {
            return Optional.of(new BackendEntry(name, true, 0, a.mtime()));
        }
        if (a.type() == FileType.REGULAR) {
            return Optional.of(new BackendEntry(name, false, a.size(), a.mtime()));
        }
        return Optional.empty();
    }

    /** A host failure as the Backend contract has them: an IOException (NoSuchFileException for ENOENT). */
    private static IOException ioFailure(ErrnoException x) {
        if (x.errno() == Errno.ENOENT) {
            return new NoSuchFileException(x.getMessage());
        }
        return new IOException(x.getMessage(), x);
    }
}
