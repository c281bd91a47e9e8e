package io.fuseguard.testkit;

import io.fuseguard.api.BackingFile;
import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * A flat directory of a host filesystem served through FUSE for the passthrough tests: each open is a
 * {@link FileChannel} of the host file, named as the open's backing file when {@link #backs} says so. Counts the
 * reads and writes that reach it (a backed open's never should) and the channels it has open.
 */
public class BackedDirFs implements FuseFileSystem {
    private final Path dir;
    private final Map<Long, FileChannel> open = new ConcurrentHashMap<>();
    private final AtomicLong next = new AtomicLong(1);
    /** READ requests that reached the filesystem. */
    public final AtomicLong reads = new AtomicLong();
    /** WRITE requests that reached the filesystem. */
    public final AtomicLong writes = new AtomicLong();
    /** backingFile calls. */
    public final AtomicLong asked = new AtomicLong();
    /** Which paths' opens are backed (all by default). */
    public volatile Predicate<String> backs = p -> true;

    /** Serves the regular files of {@code dir} (no subdirectories). */
    public BackedDirFs(Path dir) {
        this.dir = dir;
    }

    private Path host(String path) {
        if (path.equals("/")) {
            return dir;
        }
        String name = path.substring(1);
        if (name.isEmpty() || name.contains("/")) {
            throw new ErrnoException(Errno.ENOENT);
        }
        return dir.resolve(name);
    }

    @Override
    public FileAttributes getattr(String path) throws IOException {
        Path p = host(path);
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            throw new ErrnoException(Errno.ENOENT);
        }
        PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        int perms = 0;
        for (PosixFilePermission x : a.permissions()) {
            perms |= 1 << (8 - x.ordinal());
        }
        return FileAttributes.builder(a.isDirectory() ? FileType.DIRECTORY : FileType.REGULAR).permissions(perms)
                .size(a.size()).mtime(a.lastModifiedTime().toInstant()).atime(a.lastAccessTime().toInstant())
                .ctime(a.lastModifiedTime().toInstant()).build();
    }

    @Override
    public void readdir(String path, DirectorySink sink) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                sink.add(p.getFileName().toString());
            }
        }
    }

    private long register(FileChannel ch) {
        long fh = next.getAndIncrement();
        open.put(fh, ch);
        return fh;
    }

    private static Set<StandardOpenOption> options(OpenFlags flags) {
        Set<StandardOpenOption> o = EnumSet.noneOf(StandardOpenOption.class);
        if (flags.readable()) {
            o.add(StandardOpenOption.READ);
        }
        if (flags.writable()) {
            o.add(StandardOpenOption.WRITE);
        }
        if (flags.append()) {
            o.add(StandardOpenOption.APPEND);
        }
        return o;
    }

    @Override
    public long open(String path, OpenFlags flags) throws IOException {
        return register(FileChannel.open(host(path), options(flags)));
    }

    @Override
    public long create(String path, int mode, OpenFlags flags) throws IOException {
        Set<StandardOpenOption> o = options(flags);
        o.add(StandardOpenOption.CREATE);
        return register(FileChannel.open(host(path), o));
    }

    @Override
    public BackingFile backingFile(String path, long fh, OpenFlags flags) {
        asked.incrementAndGet();
        FileChannel ch = open.get(fh);
        return ch != null && backs.test(path) ? BackingFile.of(ch) : null;
    }

    @Override
    public int read(String path, long fh, ByteBuffer dst, long offset) throws IOException {
        reads.incrementAndGet();
        FileChannel ch = channel(fh);
        int total = 0;
        while (dst.hasRemaining()) {
            int n = ch.read(dst, offset + total);
            if (n <= 0) {
                break;
            }
            total += n;
        }
        return total;
    }

    @Override
    public int write(String path, long fh, ByteBuffer src, long offset) throws IOException {
        writes.incrementAndGet();
        FileChannel ch = channel(fh);
        int total = 0;
        while (src.hasRemaining()) {
            total += ch.write(src, offset + total);
        }
        return total;
    }

    @Override
    public void truncate(String path, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(host(path), StandardOpenOption.WRITE)) {
            ch.truncate(size);
        }
    }

    @Override
    public void unlink(String path) throws IOException {
        Files.delete(host(path));
    }

    @Override
    public void release(String path, long fh, OpenFlags flags) throws IOException {
        FileChannel ch = open.remove(fh);
        if (ch != null) {
            ch.close();
        }
    }

    private FileChannel channel(long fh) {
        FileChannel ch = open.get(fh);
        if (ch == null) {
            throw new ErrnoException(Errno.EBADF);
        }
        return ch;
    }

    /** Channels open now (handles not yet released). */
    public int openChannels() {
        return open.size();
    }
}
