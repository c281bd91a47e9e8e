package io.fuseguard.testkit;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;

import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * A small in-memory filesystem for the framework's own tests: a map from path to node, one lock. Just enough
 * POSIX to drive real programs through the mount; the complete one is MemoryFs in fuse-examples.
 */
public class SmallFs implements FuseFileSystem {
    /** A file, directory or symlink. */
    static final class Node {
        FileType type;
        int perms;
        byte[] data = new byte[0];
        int size;
        String target;
        long rdev;
        Instant atime = Instant.now();
        Instant mtime = atime;
        Instant ctime = atime;

        Node(FileType type, int perms) {
            this.type = type;
            this.perms = perms;
        }

        FileAttributes attributes(long nlink) {
            return FileAttributes.builder(type).permissions(perms).nlink(nlink)
                    .size(type == FileType.SYMLINK ? target.length() : size).rdev(rdev)
                    .atime(atime).mtime(mtime).ctime(ctime).build();
        }
    }

    protected final Map<String, Node> nodes = new TreeMap<>();

    public SmallFs() {
        nodes.put("/", new Node(FileType.DIRECTORY, 0755));
    }

    /** Adds a file with content (for tests' fixtures). */
    public synchronized SmallFs withFile(String path, byte[] content) {
        Node n = new Node(FileType.REGULAR, 0644);
        n.data = content.clone();
        n.size = content.length;
        nodes.put(path, n);
        return this;
    }

    private Node node(String path) {
        Node n = nodes.get(path);
        if (n == null) {
            throw new ErrnoException(Errno.ENOENT);
        }
        return n;
    }

    private static String parent(String path) {
        int i = path.lastIndexOf('/');
        return i <= 0 ? "/" : path.substring(0, i);
    }

    private void requireParentDir(String path) {
        Node p = node(parent(path));
        if (p.type != FileType.DIRECTORY) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
    }

    private List<String> children(String dir) {
        String prefix = dir.equals("/") ? "/" : dir + "/";
        return nodes.keySet().stream()
                .filter(k -> k.startsWith(prefix) && k.length() > prefix.length()
                        && k.indexOf('/', prefix.length()) < 0)
                .toList();
    }

    @Override
    public synchronized FileAttributes getattr(String path) {
        Node n = node(path);
        long links = n.type == FileType.DIRECTORY
                ? 2 + children(path).stream().filter(c -> nodes.get(c).type == FileType.DIRECTORY).count() : 1;
        return n.attributes(links);
    }

    @Override
    public synchronized void readdir(String path, DirectorySink sink) {
        if (node(path).type != FileType.DIRECTORY) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        for (String c : children(path)) {
            sink.add(c.substring(c.lastIndexOf('/') + 1));
        }
    }

    @Override
    public synchronized long create(String path, int mode, OpenFlags flags) {
        requireParentDir(path);
        if (!nodes.containsKey(path)) {
            nodes.put(path, new Node(FileType.REGULAR, mode));
        }
        return 0;
    }

    @Override
    public synchronized long open(String path, OpenFlags flags) {
        node(path);
        return 0;
    }

    @Override
    public synchronized int read(String path, long fh, ByteBuffer dst, long offset) {
        Node n = node(path);
        if (offset >= n.size) {
            return 0;
        }
        int len = (int) Math.min(dst.remaining(), n.size - offset);
        dst.put(n.data, (int) offset, len);
        n.atime = Instant.now();
        return len;
    }

    @Override
    public synchronized int write(String path, long fh, ByteBuffer src, long offset) {
        Node n = node(path);
        int len = src.remaining();
        long end = offset + len;
        if (end > Integer.MAX_VALUE - 8) {
            throw new ErrnoException(Errno.EFBIG);
        }
        if (end > n.data.length) {
            n.data = Arrays.copyOf(n.data, (int) Math.max(end, n.data.length * 2L));
        }
        src.get(n.data, (int) offset, len);
        n.size = (int) Math.max(n.size, end);
        n.mtime = n.ctime = Instant.now();
        return len;
    }

    @Override
    public synchronized void truncate(String path, long size) {
        Node n = node(path);
        if (n.type == FileType.DIRECTORY) {
            throw new ErrnoException(Errno.EISDIR);
        }
        byte[] d = Arrays.copyOf(n.data, (int) size);
        if (size > n.size) {
            Arrays.fill(d, n.size, (int) size, (byte) 0);
        }
        n.data = d;
        n.size = (int) size;
        n.mtime = n.ctime = Instant.now();
    }

    @Override
    public synchronized void mknod(String path, FileType type, int permissions, long rdev) {
        requireParentDir(path);
        if (nodes.containsKey(path)) {
            throw new ErrnoException(Errno.EEXIST);
        }
        Node n = new Node(type, permissions);
        n.rdev = rdev;
        nodes.put(path, n);
    }

    @Override
    public synchronized void mkdir(String path, int mode) {
        requireParentDir(path);
        if (nodes.containsKey(path)) {
            throw new ErrnoException(Errno.EEXIST);
        }
        nodes.put(path, new Node(FileType.DIRECTORY, mode));
    }

    @Override
    public synchronized void rmdir(String path) {
        Node n = node(path);
        if (n.type != FileType.DIRECTORY) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        if (!children(path).isEmpty()) {
            throw new ErrnoException(Errno.ENOTEMPTY);
        }
        nodes.remove(path);
    }

    @Override
    public synchronized void unlink(String path) {
        Node n = node(path);
        if (n.type == FileType.DIRECTORY) {
            throw new ErrnoException(Errno.EISDIR);
        }
        nodes.remove(path);
    }

    @Override
    public synchronized void rename(String from, String to) {
        Node n = node(from);
        requireParentDir(to);
        Node existing = nodes.get(to);
        if (existing != null && existing.type == FileType.DIRECTORY && !children(to).isEmpty()) {
            throw new ErrnoException(Errno.ENOTEMPTY);
        }
        String prefix = from + "/";
        Map<String, Node> moved = new TreeMap<>();
        nodes.entrySet().removeIf(e -> {
            if (e.getKey().startsWith(prefix)) {
                moved.put(to + e.getKey().substring(from.length()), e.getValue());
                return true;
            }
            return false;
        });
        nodes.remove(from);
        nodes.put(to, n);
        nodes.putAll(moved);
        n.ctime = Instant.now();
    }

    @Override
    public synchronized void symlink(String target, String linkPath) {
        requireParentDir(linkPath);
        if (nodes.containsKey(linkPath)) {
            throw new ErrnoException(Errno.EEXIST);
        }
        Node n = new Node(FileType.SYMLINK, 0777);
        n.target = target;
        nodes.put(linkPath, n);
    }

    @Override
    public synchronized String readlink(String path) {
        Node n = node(path);
        if (n.type != FileType.SYMLINK) {
            throw new ErrnoException(Errno.EINVAL);
        }
        return n.target;
    }

    @Override
    public synchronized void chmod(String path, int mode) {
        Node n = node(path);
        n.perms = mode & 07777;
        n.ctime = Instant.now();
    }

    @Override
    public synchronized void chown(String path, OptionalLong uid, OptionalLong gid) {
        node(path);
    }

    @Override
    public synchronized void utimens(String path, Optional<Instant> atime, Optional<Instant> mtime) {
        Node n = node(path);
        atime.ifPresent(t -> n.atime = t);
        mtime.ifPresent(t -> n.mtime = t);
        n.ctime = Instant.now();
    }

    @Override
    public synchronized FsStats statfs(String path) {
        long used = nodes.values().stream().mapToLong(n -> n.size).sum();
        return FsStats.ofBytes(64L << 20, used, 10_000, nodes.size());
    }
}
