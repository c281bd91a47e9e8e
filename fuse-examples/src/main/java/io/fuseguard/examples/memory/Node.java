package io.fuseguard.examples.memory;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An inode of {@link MemoryFs}: a regular file, a directory, a symlink or a special file (FIFO, socket,
 * character or block device). Names live in the directories that point to it, not here, which is what makes
 * hard links possible.
 *
 * <p>A special file is only a name with a type, attributes and (for a device) a device number: opening it, and
 * all I/O through it, happens in the kernel (the pipe, the socket, the device driver), which never sends the
 * filesystem an open, read or write for it. So it has no content and reports size 0, as on tmpfs.
 *
 * <h2>Locking</h2>
 * Two locks guard a node, always taken in this order: the namespace lock of its {@link NodeTree}, then
 * {@link #lock}.
 * <ul>
 *   <li>Under the namespace lock: {@link #entries}, {@link #parent}, {@link #subdirs} (directory structure).</li>
 *   <li>Under {@link #lock}: permissions, owner, times, {@link #links}, {@link #openCount}, xattrs and the
 *       file content. Data requests come with a file handle and take only this lock, so readers and writers
 *       of different files never contend, and a write never waits for a directory listing.</li>
 * </ul>
 * {@link #links} and {@link #openCount} are both changed under {@link #lock} so that "last link gone" and
 * "last descriptor closed" cannot race past each other: whichever comes second frees the node.
 */
final class Node {
    /** Inode number; also the file handle returned by open/create. Never reused. */
    final long ino;
    final FileType type;
    final ScopedLock lock = new ScopedLock();

    int perms;
    long uid;
    long gid;
    /** Hard links to a non-directory; for a directory 1 while it is in the tree, 0 once removed. */
    long links = 1;
    /** Open file handles (open/create not yet released). */
    int openCount;
    /** Volatile: a read updates it under the read lock, concurrently with other readers. */
    volatile Instant atime;
    Instant mtime;
    Instant ctime;
    /** When the inode was made (statx's birth time). */
    final Instant btime;
    /** Extended attributes, created on first use (most files have none). */
    Map<String, byte[]> xattrs;

    /** Directory only: name to child. Insertion-ordered so listings are stable. */
    final Map<String, Node> entries;
    /** Directory only: the directory containing it (itself for the root); directories have exactly one. */
    Node parent;
    /** Directory only: number of child directories (each one's ".." is a link to this one). */
    long subdirs;

    /** Regular file only. */
    final ChunkStore data;
    /** Symlink only. */
    final String target;
    private final long targetBytes;
    /** Character and block devices only: the device number ({@code makedev(major, minor)}); 0 otherwise. */
    final long rdev;

    private Node(long ino, FileType type, int perms, long uid, long gid, Instant now, ChunkStore data,
                 String target, long rdev) {
        this.ino = ino;
        this.type = type;
        this.perms = perms & 07777;
        this.uid = uid;
        this.gid = gid;
        this.atime = now;
        this.mtime = now;
        this.ctime = now;
        this.btime = now;
        this.entries = type == FileType.DIRECTORY ? new LinkedHashMap<>() : null;
        this.data = data;
        this.target = target;
        this.targetBytes = target == null ? 0 : target.getBytes(StandardCharsets.UTF_8).length;
        this.rdev = rdev;
    }

    static Node directory(long ino, int perms, long uid, long gid, Instant now) {
        return new Node(ino, FileType.DIRECTORY, perms, uid, gid, now, null, null, 0);
    }

    static Node file(long ino, int perms, long uid, long gid, Instant now, ChunkStore data) {
        return new Node(ino, FileType.REGULAR, perms, uid, gid, now, data, null, 0);
    }

    static Node symlink(long ino, long uid, long gid, Instant now, String target) {
        return new Node(ino, FileType.SYMLINK, 0777, uid, gid, now, null, target, 0);
    }

    /**
     * A FIFO, socket or device node. {@code rdev} is kept for devices only: like Linux's
     * {@code init_special_inode}, which ignores the device number of a FIFO or socket.
     */
    static Node special(long ino, FileType type, int perms, long uid, long gid, Instant now, long rdev) {
        if (!isSpecial(type)) {
            throw new IllegalArgumentException("not a special file type: " + type);
        }
        boolean device = type == FileType.CHARACTER_DEVICE || type == FileType.BLOCK_DEVICE;
        return new Node(ino, type, perms, uid, gid, now, null, null, device ? rdev : 0);
    }

    /** Whether {@code type} is one whose I/O the kernel does without the filesystem. */
    static boolean isSpecial(FileType type) {
        return switch (type) {
            case FIFO, SOCKET, CHARACTER_DEVICE, BLOCK_DEVICE -> true;
            case REGULAR, DIRECTORY, SYMLINK -> false;
        };
    }

    boolean isDirectory() {
        return type == FileType.DIRECTORY;
    }

    boolean isRegular() {
        return type == FileType.REGULAR;
    }

    /** Whether no name and no open handle refers to it any more: its memory can go. */
    boolean isGarbage() {
        return links == 0 && openCount == 0;
    }

    /** xattrs, created when first needed. Caller holds the write lock. */
    Map<String, byte[]> xattrsForUpdate() {
        if (xattrs == null) {
            xattrs = new HashMap<>();
        }
        return xattrs;
    }

    /** What an extended attribute costs against the capacity: its name's and its value's bytes. */
    static long xattrCost(String name, byte[] value) {
        return name.getBytes(StandardCharsets.UTF_8).length + (long) value.length;
    }

    /**
     * Gives back the memory of a node nobody can reach any more: its content and its extended attributes.
     * Caller holds the write lock.
     */
    void discardContent(SpaceQuota space) {
        if (data != null) {
            data.clear();
        }
        if (xattrs != null) {
            for (Map.Entry<String, byte[]> e : xattrs.entrySet()) {
                space.release(xattrCost(e.getKey(), e.getValue()));
            }
            xattrs = null;
        }
    }

    /**
     * A snapshot of the attributes. Caller holds the namespace lock (directory sizes and link counts come from
     * the structure); this takes the node's read lock for the rest.
     */
    @SuppressWarnings("try") // the handle is only there to be closed
    FileAttributes attributes() {
        try (ScopedLock.Held h = lock.read()) {
            long size;
            long blocks = 0;
            long nlink;
            switch (type) {
                case REGULAR -> {
                    size = data.size();
                    blocks = data.allocatedBytes() / 512;
                    nlink = links;
                }
                case DIRECTORY -> {
                    // What tmpfs reports: 20 bytes per entry, "." and ".." included.
                    size = 20L * (entries.size() + 2);
                    nlink = links == 0 ? 0 : 2 + subdirs;
                }
                case SYMLINK -> {
                    size = targetBytes;
                    nlink = links;
                }
                case FIFO, SOCKET, CHARACTER_DEVICE, BLOCK_DEVICE -> {
                    size = 0; // no content here: the data lives in a pipe, a socket or a driver
                    nlink = links;
                }
                default -> throw new IllegalStateException("unknown type " + type);
            }
            return FileAttributes.builder(type).permissions(perms).nlink(nlink).owner(uid, gid).size(size)
                    .blocks(blocks).inode(ino).atime(atime).mtime(mtime).ctime(ctime).rdev(rdev).birthTime(btime)
                    .build();
        }
    }
}
