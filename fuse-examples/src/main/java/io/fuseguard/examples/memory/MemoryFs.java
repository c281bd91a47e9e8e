package io.fuseguard.examples.memory;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FallocateMode;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.RenameMode;
import io.fuseguard.api.RequestContext;
import io.fuseguard.api.SeekWhence;
import io.fuseguard.api.XattrMode;

import java.nio.ByteBuffer;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A complete in-memory POSIX filesystem: regular files, directories, symlinks, hard links and special files
 * (FIFOs, sockets, device nodes), with owners, permission bits, timestamps, extended attributes, sparse files
 * and a capacity limit.
 *
 * <pre>{@code
 * MemoryFs fs = MemoryFs.builder().capacity(512L << 20).maxInodes(100_000).build();
 * try (FuseMount m = FuseMount.mount(fs, Path.of("/mnt/mem"), FuseguardConfig.builder()
 *         .allowOther(true)            // adds default_permissions: the kernel checks permission bits
 *         .mountOption("use_ino")      // report MemoryFs's inode numbers (hard links share one)
 *         .build())) {
 *     m.awaitUnmount();
 * }
 * }</pre>
 *
 * <h2>What it implements, and what it leaves to the kernel</h2>
 * <ul>
 *   <li>Paths are resolved through directory maps to inodes ({@link Node}); a file's names are entries in
 *       directories, so hard links, link counts (directories: 2 + subdirectories) and files that stay usable
 *       after their last name is gone all follow from that.</li>
 *   <li>Special files ({@code mkfifo}, {@code mknod}, {@code bind} of a unix socket) are nodes with a type and,
 *       for devices, a device number, and no content: the kernel opens them and does their I/O itself (a
 *       pipe, a socket, a driver); the filesystem only keeps their names and attributes. Whether the caller
 *       may create a device node ({@code CAP_MKNOD}) is checked by the kernel too.</li>
 *   <li>Content lives in fixed-size chunks ({@link ChunkStore}): a write costs what it writes, holes cost no
 *       memory and read as zeros, {@code st_blocks} counts what is really allocated, and
 *       {@code lseek(SEEK_DATA/SEEK_HOLE)} finds them (in 4 KiB steps, as a local filesystem's blocks).</li>
 *   <li>Every inode keeps its birth time ({@code statx}'s {@code stx_btime}), across writes and renames
 *       (reported unless built with {@link Builder#birthTime birthTime(false)}, which saves a request per file;
 *       see there).</li>
 *   <li>Extended attributes in the {@code user.}, {@code trusted.} and {@code security.} namespaces, counted
 *       against the capacity (unless built with {@link Builder#xattrs xattrs(false)}, which saves the kernel's
 *       {@code security.capability} question before each write and chown; see there).</li>
 *   <li>{@code O_TMPFILE} files are inodes without a link, known by the name fuseguard reserves for them until
 *       {@code linkat} gives them one or their last descriptor is closed.</li>
 *   <li>Timestamps follow POSIX: write/truncate set mtime and ctime; chmod, chown, link, unlink, rename,
 *       utimens and xattr changes set ctime; adding or removing an entry sets the directory's mtime and ctime;
 *       read and readdir set atime.</li>
 *   <li>New files belong to the calling user ({@link RequestContext}); in a set-group-ID directory they take
 *       the directory's group and new subdirectories inherit the bit.</li>
 *   <li>Sticky directories: only the owner of the entry, the owner of the directory, or root may remove or
 *       replace an entry (checked here too, not only by the kernel, so in-process callers get it as well).</li>
 *   <li>Permission bits are <em>not</em> checked here: mount with {@code default_permissions} (implied by
 *       {@code allowOther(true)}) and the kernel checks them against the attributes this filesystem reports,
 *       which is both faster and exactly what local filesystems do.</li>
 *   <li>Limits: names over {@value #NAME_MAX} bytes get ENAMETOOLONG, symlink targets over
 *       {@value #PATH_MAX} bytes too; writes and truncates past the maximum file size get EFBIG; allocations
 *       past the capacity, and inodes past the inode limit, get ENOSPC. Growing a file with truncate allocates
 *       nothing (the new range is a hole), so as on tmpfs it never fails with ENOSPC.</li>
 *   <li>Extended attributes in the {@code user.}, {@code trusted.} and {@code security.} namespaces, with
 *       {@code XATTR_CREATE}/{@code XATTR_REPLACE}; their bytes count against the capacity. {@code system.}
 *       (POSIX ACLs) is refused with ENOTSUP rather than stored and silently not enforced.</li>
 * </ul>
 *
 * <h2>How it is built</h2>
 * This class is the filesystem's operations: what each call means in POSIX terms (who owns a new file, who may
 * remove an entry, which timestamps change, what is refused). The directory tree they work on, with its inode
 * table, path resolution, link counts and the bookkeeping of link, unlink and rename, is {@link NodeTree};
 * content is {@link ChunkStore}s, capacity {@link SpaceQuota}s.
 *
 * <h2>Threads</h2>
 * Handlers run concurrently. One read-write lock guards the namespace (directory structure); each inode has
 * its own lock for its attributes and content. read and write come with the file handle (the inode number)
 * and take only the inode's lock, so I/O on different files runs in parallel and never waits for namespace
 * changes. Locks are taken with try-with-resources on reusable handles ({@link ScopedLock}): the per-request
 * paths allocate nothing to lock. Every handler runs under the request's deadline: a handler that waited on
 * a lock too long is answered for by the framework, and the caller is not held.
 *
 * <h2>Not supported</h2>
 * File names that are not valid UTF-8 (paths reach the filesystem as Java strings).
 */
@SuppressWarnings("try") // lock handles are only there to be closed
public final class MemoryFs implements FuseFileSystem {
    /** Longest file name, in bytes of UTF-8. */
    public static final int NAME_MAX = 255;
    /** Longest symlink target, in bytes of UTF-8 (PATH_MAX less the terminating NUL). */
    public static final int PATH_MAX = 4095;
    /** Largest extended attribute value (Linux's XATTR_SIZE_MAX). */
    public static final int XATTR_SIZE_MAX = 65536;
    /** Most hard links one file may have (ext4's limit). */
    public static final long LINK_MAX = 65000;

    private static final int S_ISUID = 04000;
    private static final int S_ISGID = 02000;
    private static final int S_ISVTX = 01000;
    private static final int S_IXGRP = 00010;
    private static final String[] XATTR_NAMESPACES = {"user.", "trusted.", "security."};

    private final SpaceQuota space;
    private final ChunkPool chunkPool;
    private final int chunkSize;
    private final long maxFileSize;
    private final Clock clock;
    private final boolean birthTime;
    private final boolean xattrs;
    private final NodeTree tree;

    private MemoryFs(Builder b) {
        this.space = new SpaceQuota(b.capacity);
        this.chunkPool = new ChunkPool(b.chunkSize, b.capacity);
        this.chunkSize = b.chunkSize;
        this.maxFileSize = b.maxFileSize;
        this.clock = b.clock;
        this.birthTime = b.birthTime;
        this.xattrs = b.xattrs;
        this.tree = new NodeTree(b.maxInodes, space, b.rootPermissions, b.rootUid, b.rootGid, now());
    }

    /** A filesystem with the defaults of {@link Builder}. */
    public MemoryFs() {
        this(new Builder());
    }

    /** A builder; see its setters for the defaults. */
    public static Builder builder() {
        return new Builder();
    }

    // ------------------------------------------------------------------------------------------ attributes

    @Override
    public FileAttributes getattr(String path) {
        try (ScopedLock.Held ns = tree.read()) {
            return tree.resolve(path).attributes();
        }
    }

    @Override
    public void readdir(String path, DirectorySink sink) {
        try (ScopedLock.Held ns = tree.read()) {
            Node dir = tree.resolve(path);
            if (!dir.isDirectory()) {
                throw new ErrnoException(Errno.ENOTDIR);
            }
            sink.add(".", dir.attributes());
            sink.add("..", dir.parent.attributes());
            for (Map.Entry<String, Node> e : dir.entries.entrySet()) {
                sink.add(e.getKey(), e.getValue().attributes());
            }
            dir.atime = now();
        }
    }

    @Override
    public void chmod(String path, int mode) {
        tree.update(path, n -> {
            n.perms = mode & 07777;
            n.ctime = now();
        });
    }

    @Override
    public void chown(String path, OptionalLong uid, OptionalLong gid) {
        tree.update(path, n -> {
            uid.ifPresent(u -> n.uid = u);
            gid.ifPresent(g -> n.gid = g);
            // Linux clears set-user-ID (and set-group-ID if group-executable) when a file changes hands, for
            // root too, so a privileged program cannot end up owned by someone else. It does so for every
            // non-directory (chown_common), special files included; on a directory the bits mean something else.
            if (!n.isDirectory() && (uid.isPresent() || gid.isPresent())) {
                n.perms &= ~S_ISUID;
                if ((n.perms & S_IXGRP) != 0) {
                    n.perms &= ~S_ISGID;
                }
            }
            n.ctime = now();
        });
    }

    @Override
    public void utimens(String path, Optional<Instant> atime, Optional<Instant> mtime) {
        tree.update(path, n -> {
            if (atime.isEmpty() && mtime.isEmpty()) {
                return; // both UTIME_OMIT: POSIX says nothing changes, not even ctime
            }
            atime.ifPresent(t -> n.atime = t);
            mtime.ifPresent(t -> n.mtime = t);
            n.ctime = now();
        });
    }

    @Override
    public FsStats statfs(String path) {
        return FsStats.ofBytes(space.capacity(), space.used(), tree.maxInodes(), tree.usedInodes());
    }

    // ------------------------------------------------------------------------------------------ file data

    @Override
    public long open(String path, OpenFlags flags) {
        try (ScopedLock.Held ns = tree.read()) {
            Node n = tree.resolve(path);
            tree.opened(n);
            return n.ino;
        }
    }

    @Override
    public long create(String path, int mode, OpenFlags flags) {
        Caller c = caller();
        try (ScopedLock.Held ns = tree.write()) {
            NodeTree.Parent p = tree.parentOf(path);
            Node n = p.entry();
            if (n != null) {
                // The kernel normally looks a name up before CREATE; this covers a race with another creator.
                if (flags.exclusive()) {
                    throw new ErrnoException(Errno.EEXIST);
                }
                if (n.isDirectory()) {
                    throw new ErrnoException(Errno.EISDIR);
                }
            } else {
                long gid = inheritsGroup(p.dir()) ? p.dir().gid : c.gid;
                n = Node.file(tree.allocateIno(), mode, c.uid, gid, now(), newContent());
                tree.attach(p, n);
            }
            tree.opened(n);
            return n.ino;
        }
    }

    @Override
    public int read(String path, long fh, ByteBuffer dst, long offset) {
        Node n = tree.byHandle(fh, path);
        if (!n.isRegular()) {
            throw new ErrnoException(n.isDirectory() ? Errno.EISDIR : Errno.EINVAL);
        }
        if (offset < 0) {
            throw new ErrnoException(Errno.EINVAL);
        }
        try (ScopedLock.Held h = n.lock.read()) {
            int r = n.data.read(offset, dst);
            n.atime = now();
            return r;
        }
    }

    @Override
    public int write(String path, long fh, ByteBuffer src, long offset) {
        Node n = tree.byHandle(fh, path);
        if (!n.isRegular()) {
            throw new ErrnoException(n.isDirectory() ? Errno.EISDIR : Errno.EINVAL);
        }
        if (offset < 0) {
            throw new ErrnoException(Errno.EINVAL);
        }
        if (!src.hasRemaining()) {
            return 0;
        }
        if (offset >= maxFileSize) {
            throw new ErrnoException(Errno.EFBIG);
        }
        ByteBuffer data = src;
        if (src.remaining() > maxFileSize - offset) {
            // POSIX: write what fits below the limit; the next write then fails with EFBIG.
            data = src.duplicate();
            data.limit(data.position() + (int) (maxFileSize - offset));
        }
        try (ScopedLock.Held h = n.lock.write()) {
            int w = n.data.write(offset, data);
            Instant t = now();
            n.mtime = t;
            n.ctime = t;
            return w;
        }
    }

    @Override
    public void truncate(String path, long size) {
        if (size < 0) {
            throw new ErrnoException(Errno.EINVAL);
        }
        if (size > maxFileSize) {
            throw new ErrnoException(Errno.EFBIG);
        }
        tree.update(path, n -> {
            if (!n.isRegular()) {
                throw new ErrnoException(n.isDirectory() ? Errno.EISDIR : Errno.EINVAL);
            }
            n.data.truncate(size);
            Instant t = now();
            n.mtime = t;
            n.ctime = t;
        });
    }

    /**
     * As on tmpfs: the plain call and {@code KEEP_SIZE} allocate the range, so later writes into it cannot fail
     * with ENOSPC (the plain call also grows the file to the range's end); ENOSPC when the capacity does not
     * hold it. A punched hole ({@code PUNCH_HOLE|KEEP_SIZE}) reads as zeros and gives its whole chunks back.
     * Zeroing, collapsing and inserting ranges answer EOPNOTSUPP, as on filesystems without them.
     */
    @Override
    public void fallocate(String path, long fh, FallocateMode mode, long offset, long length) {
        Node n = tree.byHandle(fh, path);
        if (!n.isRegular()) {
            throw new ErrnoException(n.isDirectory() ? Errno.EISDIR : Errno.ENODEV);
        }
        if (offset < 0 || length <= 0) {
            throw new ErrnoException(Errno.EINVAL);
        }
        if (offset + length > maxFileSize || offset + length < 0) {
            throw new ErrnoException(Errno.EFBIG);
        }
        boolean other = mode.zeroRange() || mode.collapseRange() || mode.insertRange() || mode.unshareRange();
        boolean punch = mode.punchHole() && mode.keepSize() && !other;
        if (other || mode.punchHole() && !punch) {
            throw new ErrnoException(Errno.EOPNOTSUPP);
        }
        try (ScopedLock.Held h = n.lock.write()) {
            long sizeBefore = n.data.size();
            if (punch) {
                n.data.punchHole(offset, length);
            } else {
                n.data.allocate(offset, length, mode.keepSize());
            }
            if (punch || n.data.size() != sizeBefore) {
                Instant t = now();
                n.mtime = t;
                n.ctime = t;
            }
        }
    }

    @Override
    public void release(String path, long fh, OpenFlags flags) {
        tree.released(fh);
    }

    /**
     * {@code SEEK_DATA}/{@code SEEK_HOLE} over the chunks actually written: never-written chunks and the part of
     * a chunk past what was written are holes (found in 4 KiB steps, as a local filesystem's blocks).
     */
    @Override
    public long lseek(String path, long fh, long offset, SeekWhence whence) {
        Node n = tree.byHandle(fh, path);
        if (!n.isRegular()) {
            throw new ErrnoException(n.isDirectory() ? Errno.EISDIR : Errno.EINVAL);
        }
        try (ScopedLock.Held h = n.lock.read()) {
            long at = whence == SeekWhence.DATA ? n.data.nextData(offset) : n.data.nextHole(offset);
            if (at < 0) {
                throw new ErrnoException(Errno.ENXIO);
            }
            return at;
        }
    }

    /**
     * The attributes with the birth time (every inode keeps when it was made); ENOSYS when built with
     * {@link Builder#birthTime birthTime(false)}, so that the kernel stops asking.
     */
    @Override
    public FileAttributes statx(String path) {
        if (!birthTime) {
            throw new ErrnoException(Errno.ENOSYS, "birth time not reported (MemoryFs.Builder.birthTime(false))");
        }
        return getattr(path);
    }

    /**
     * {@code O_TMPFILE}: a regular file with no name and no link, known by the name fuseguard reserved
     * ({@code path}), never listed. {@link #link} gives it a name; the unlink of the reserved name at its last
     * close frees it unless it was linked.
     */
    @Override
    public long tmpfile(String path, int mode, OpenFlags flags) {
        Caller c = caller();
        try (ScopedLock.Held ns = tree.write()) {
            NodeTree.Parent p = tree.parentOf(path);
            if (p.exists()) {
                throw new ErrnoException(Errno.EEXIST);
            }
            long gid = inheritsGroup(p.dir()) ? p.dir().gid : c.gid;
            Node n = Node.file(tree.allocateIno(), mode, c.uid, gid, now(), newContent());
            tree.attachTmpfile(path, n);
            return n.ino;
        }
    }

    // ------------------------------------------------------------------------------------------ namespace

    @Override
    public void mkdir(String path, int mode) {
        Caller c = caller();
        try (ScopedLock.Held ns = tree.write()) {
            NodeTree.Parent p = freeName(path);
            int perms = mode & 07777;
            long gid = c.gid;
            if (inheritsGroup(p.dir())) {
                // BSD group semantics in a set-group-ID directory, propagated to subdirectories.
                gid = p.dir().gid;
                perms |= S_ISGID;
            }
            tree.attach(p, Node.directory(tree.allocateIno(), perms, c.uid, gid, now()));
        }
    }

    /**
     * Creates a FIFO, a socket, a character or block device node, or (type bits 0 or {@code S_IFREG}, as Linux
     * allows) an empty regular file. The node gets the caller's owner and, in a set-group-ID directory, the
     * directory's group, exactly as {@link #create} gives a file; it takes an inode like any file.
     * Directories and symlinks have their own calls: EPERM and EINVAL here, the answers of mknod(2).
     */
    @Override
    public void mknod(String path, FileType type, int permissions, long rdev) {
        if (type == FileType.DIRECTORY) {
            throw new ErrnoException(Errno.EPERM, "mknod of a directory");
        }
        if (type == FileType.SYMLINK) {
            throw new ErrnoException(Errno.EINVAL, "mknod of a symlink");
        }
        Caller c = caller();
        try (ScopedLock.Held ns = tree.write()) {
            NodeTree.Parent p = freeName(path);
            long gid = inheritsGroup(p.dir()) ? p.dir().gid : c.gid;
            long ino = tree.allocateIno();
            Node n = type == FileType.REGULAR
                    ? Node.file(ino, permissions, c.uid, gid, now(), newContent())
                    : Node.special(ino, type, permissions, c.uid, gid, now(), rdev);
            tree.attach(p, n);
        }
    }

    @Override
    public void rmdir(String path) {
        Caller c = caller();
        try (ScopedLock.Held ns = tree.write()) {
            NodeTree.Parent p = tree.parentOf(path);
            Node d = p.entry();
            if (d == null) {
                throw new ErrnoException(Errno.ENOENT);
            }
            if (!d.isDirectory()) {
                throw new ErrnoException(Errno.ENOTDIR);
            }
            if (!d.entries.isEmpty()) {
                throw new ErrnoException(Errno.ENOTEMPTY);
            }
            checkSticky(p.dir(), d, c);
            tree.unlink(p, d, now());
        }
    }

    @Override
    public void unlink(String path) {
        Caller c = caller();
        try (ScopedLock.Held ns = tree.write()) {
            if (tree.dropTmpfile(path)) {
                return; // the reserved name of an O_TMPFILE file: no directory entry to remove
            }
            NodeTree.Parent p = tree.parentOf(path);
            Node n = p.entry();
            if (n == null) {
                throw new ErrnoException(Errno.ENOENT);
            }
            if (n.isDirectory()) {
                throw new ErrnoException(Errno.EISDIR); // what Linux answers to unlink(2) on a directory
            }
            checkSticky(p.dir(), n, c);
            tree.unlink(p, n, now());
        }
    }

    @Override
    public void rename(String from, String to) {
        rename(from, to, RenameMode.REPLACE);
    }

    /**
     * {@code rename(2)}, and {@code renameat2}'s modes: {@link RenameMode#NO_REPLACE} fails with EEXIST on an
     * existing target; {@link RenameMode#EXCHANGE} swaps two existing entries (of any types). Every check comes
     * before the change, under the namespace write lock, so each is atomic.
     */
    @Override
    public void rename(String from, String to, RenameMode mode) {
        Caller c = caller();
        try (ScopedLock.Held ns = tree.write()) {
            NodeTree.Parent src = tree.parentOf(from);
            Node n = src.entry();
            if (n == null) {
                throw new ErrnoException(Errno.ENOENT);
            }
            NodeTree.Parent dst = tree.parentOf(to);
            Node existing = dst.entry();
            if (mode == RenameMode.NO_REPLACE && existing != null) {
                throw new ErrnoException(Errno.EEXIST);
            }
            if (mode == RenameMode.EXCHANGE && existing == null) {
                throw new ErrnoException(Errno.ENOENT);
            }
            if (existing == n) {
                return; // same name, or two hard links of one file: POSIX says do nothing
            }
            if (n.isDirectory() && tree.isAncestorOrSelf(n, dst.dir())
                    || mode == RenameMode.EXCHANGE && existing.isDirectory()
                    && tree.isAncestorOrSelf(existing, src.dir())) {
                throw new ErrnoException(Errno.EINVAL); // a directory cannot become its own descendant
            }
            if (mode == RenameMode.REPLACE && existing != null) {
                checkReplaceable(n, existing);
            }
            checkSticky(src.dir(), n, c);
            if (existing != null) {
                checkSticky(dst.dir(), existing, c);
            }
            // Every check passed: from here on nothing can fail.
            if (mode == RenameMode.EXCHANGE) {
                tree.exchange(src, n, dst, existing, now());
            } else {
                tree.move(src, n, dst, existing, now());
            }
        }
    }

    /** Whether a plain rename may replace {@code existing} with {@code n}: same kind, an empty directory. */
    private static void checkReplaceable(Node n, Node existing) {
        if (n.isDirectory() && !existing.isDirectory()) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        if (!n.isDirectory() && existing.isDirectory()) {
            throw new ErrnoException(Errno.EISDIR);
        }
        if (existing.isDirectory() && !existing.entries.isEmpty()) {
            throw new ErrnoException(Errno.ENOTEMPTY);
        }
    }

    @Override
    public void symlink(String target, String linkPath) {
        Objects.requireNonNull(target, "target");
        if (target.isEmpty()) {
            throw new ErrnoException(Errno.ENOENT); // as symlink(2) on Linux
        }
        if (NodeTree.utf8Length(target) > PATH_MAX) {
            throw new ErrnoException(Errno.ENAMETOOLONG);
        }
        Caller c = caller();
        try (ScopedLock.Held ns = tree.write()) {
            NodeTree.Parent p = freeName(linkPath);
            long gid = inheritsGroup(p.dir()) ? p.dir().gid : c.gid;
            tree.attach(p, Node.symlink(tree.allocateIno(), c.uid, gid, now(), target));
        }
    }

    @Override
    public String readlink(String path) {
        try (ScopedLock.Held ns = tree.read()) {
            Node n = tree.resolve(path);
            if (n.type != FileType.SYMLINK) {
                throw new ErrnoException(Errno.EINVAL);
            }
            n.atime = now();
            return n.target;
        }
    }

    @Override
    public void link(String existing, String newPath) {
        try (ScopedLock.Held ns = tree.write()) {
            Node n = tree.resolve(existing);
            if (n.isDirectory()) {
                throw new ErrnoException(Errno.EPERM); // hard links to directories are not allowed
            }
            tree.link(freeName(newPath), n, now());
        }
    }

    // ------------------------------------------------------------------------------------------ xattrs

    @Override
    public void setxattr(String path, String name, byte[] value, XattrMode mode) {
        checkXattrsOn();
        checkXattrName(name);
        if (value.length > XATTR_SIZE_MAX) {
            throw new ErrnoException(Errno.E2BIG);
        }
        tree.update(path, n -> {
            Map<String, byte[]> x = n.xattrsForUpdate();
            byte[] old = x.get(name);
            if (mode == XattrMode.CREATE && old != null) {
                throw new ErrnoException(Errno.EEXIST);
            }
            if (mode == XattrMode.REPLACE && old == null) {
                throw new ErrnoException(Errno.ENODATA);
            }
            // Accounted like file data so that xattrs cannot grow memory past the capacity.
            long cost = Node.xattrCost(name, value);
            long oldCost = old == null ? 0 : Node.xattrCost(name, old);
            space.reserve(cost - oldCost);
            space.release(oldCost - cost);
            x.put(name, value.clone());
            n.ctime = now();
        });
    }

    @Override
    public byte[] getxattr(String path, String name) {
        checkXattrsOn();
        checkXattrName(name);
        try (ScopedLock.Held ns = tree.read()) {
            Node n = tree.resolve(path);
            try (ScopedLock.Held h = n.lock.read()) {
                byte[] v = n.xattrs == null ? null : n.xattrs.get(name);
                if (v == null) {
                    throw new ErrnoException(Errno.ENODATA);
                }
                return v.clone();
            }
        }
    }

    @Override
    public List<String> listxattr(String path) {
        checkXattrsOn();
        try (ScopedLock.Held ns = tree.read()) {
            Node n = tree.resolve(path);
            try (ScopedLock.Held h = n.lock.read()) {
                return n.xattrs == null ? List.of() : new ArrayList<>(n.xattrs.keySet());
            }
        }
    }

    @Override
    public void removexattr(String path, String name) {
        checkXattrsOn();
        checkXattrName(name);
        tree.update(path, n -> {
            byte[] old = n.xattrs == null ? null : n.xattrs.remove(name);
            if (old == null) {
                throw new ErrnoException(Errno.ENODATA);
            }
            space.release(Node.xattrCost(name, old));
            n.ctime = now();
        });
    }

    // ------------------------------------------------------------------------------------------ inspection

    /** Bytes of capacity in use (file content and extended attributes). */
    public long usedBytes() {
        return space.used();
    }

    /** Inodes in use, the root included, and files that are unlinked but still open. */
    public long usedInodes() {
        return tree.usedInodes();
    }

    // ------------------------------------------------------------------------------------------ internals

    /** Who is calling; the daemon's own in-process calls without a request count as root. */
    private record Caller(long uid, long gid) {
    }

    private static Caller caller() {
        return RequestContext.current().map(r -> new Caller(r.uid(), r.gid())).orElse(new Caller(0, 0));
    }

    private Instant now() {
        return clock.instant();
    }

    /** The empty content of a new regular file. */
    private ChunkStore newContent() {
        return new ChunkStore(chunkSize, space, chunkPool);
    }

    /** Where a new entry {@code path} goes; EEXIST if the name is taken. Caller holds the namespace lock. */
    private NodeTree.Parent freeName(String path) {
        NodeTree.Parent p = tree.parentOf(path);
        if (p.exists()) {
            throw new ErrnoException(Errno.EEXIST);
        }
        return p;
    }

    private static boolean inheritsGroup(Node dir) {
        return (dir.perms & S_ISGID) != 0;
    }

    /** In a sticky directory only the entry's owner, the directory's owner or root may remove an entry. */
    private static void checkSticky(Node dir, Node entry, Caller c) {
        if ((dir.perms & S_ISVTX) != 0 && c.uid != 0 && c.uid != dir.uid && c.uid != entry.uid) {
            throw new ErrnoException(Errno.EPERM, "sticky directory");
        }
    }

    /** ENOSYS when built with {@link Builder#xattrs xattrs(false)}: the kernel then stops asking, for good. */
    private void checkXattrsOn() {
        if (!xattrs) {
            throw new ErrnoException(Errno.ENOSYS, "extended attributes off (MemoryFs.Builder.xattrs(false))");
        }
    }

    private static void checkXattrName(String name) {
        if (name == null || name.isEmpty() || NodeTree.utf8Length(name) > 255) {
            throw new ErrnoException(Errno.ERANGE);
        }
        for (String ns : XATTR_NAMESPACES) {
            if (name.startsWith(ns) && name.length() > ns.length()) {
                return;
            }
        }
        throw new ErrnoException(Errno.ENOTSUP, "xattr namespace of " + name);
    }

    /**
     * Builds a {@link MemoryFs}. Not thread-safe.
     */
    public static final class Builder {
        private long capacity = 1L << 30;
        private long maxInodes = 1L << 20;
        private int chunkSize = 64 * 1024;
        private long maxFileSize = Long.MAX_VALUE;
        private int rootPermissions = 0755;
        private long rootUid = daemonId("unix:uid");
        private long rootGid = daemonId("unix:gid");
        private Clock clock = Clock.systemUTC();
        private boolean birthTime = true;
        private boolean xattrs = true;

        private Builder() {
        }

        /** The daemon process's effective user or group id (the owner of /proc/self); 0 if unknown. */
        private static long daemonId(String attribute) {
            try {
                return ((Number) java.nio.file.Files.getAttribute(java.nio.file.Path.of("/proc/self"), attribute))
                        .longValue();
            } catch (java.io.IOException | RuntimeException e) {
                return 0;
            }
        }

        /** Bytes of content (and xattrs) the filesystem may hold; statfs reports it. Default 1 GiB. */
        public Builder capacity(long bytes) {
            if (bytes < ChunkStore.MIN_ALLOCATION) {
                throw new IllegalArgumentException("capacity must be at least 4096 bytes");
            }
            this.capacity = bytes;
            return this;
        }

        /** Most inodes, the root included. Default 1,048,576. */
        public Builder maxInodes(long n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxInodes must be at least 1 (the root)");
            }
            this.maxInodes = n;
            return this;
        }

        /** Size of a content chunk: a power of two from 4 KiB to 1 GiB. Default 64 KiB. */
        public Builder chunkSize(int bytes) {
            if (bytes < ChunkStore.MIN_ALLOCATION || bytes > (1 << 30) || Integer.bitCount(bytes) != 1) {
                throw new IllegalArgumentException("chunkSize must be a power of two from 4096 to 2^30");
            }
            this.chunkSize = bytes;
            return this;
        }

        /** Largest file size; writes and truncates beyond get EFBIG. Default unlimited (2^63 - 1). */
        public Builder maxFileSize(long bytes) {
            if (bytes < 0) {
                throw new IllegalArgumentException("maxFileSize must not be negative");
            }
            this.maxFileSize = bytes;
            return this;
        }

        /** Permission bits of the root directory (e.g. 01777 for a shared scratch space). Default 0755. */
        public Builder rootPermissions(int perms) {
            this.rootPermissions = perms & 07777;
            return this;
        }

        /**
         * Owner of the root directory. Default: the user and group the daemon runs as, as for a user's own
         * mount (root for a daemon run as root).
         */
        public Builder rootOwner(long uid, long gid) {
            this.rootUid = uid;
            this.rootGid = gid;
            return this;
        }

        /** Source of timestamps (tests use a fixed or stepping clock). Default the system clock. */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock);
            return this;
        }

        /**
         * Whether {@code statx(2)} callers get each file's birth time. Default true. It has a price the kernel
         * sets: no LOOKUP or CREATE answer can carry a birth time, so the first {@code statx} that asks for it on
         * each file (every Java {@code Files.readAttributes}, {@code stat(1)}) costs a second request (STATX)
         * after the LOOKUP; later ones are served from the kernel's cache like any attribute. Without it the
         * filesystem answers STATX with ENOSYS once, the kernel stops asking, and callers see no birth time (Java
         * reports the modification time instead), as on libfuse filesystems without a {@code statx} operation.
         */
        public Builder birthTime(boolean report) {
            this.birthTime = report;
            return this;
        }

        /**
         * Whether the filesystem keeps extended attributes ({@code user.}, {@code trusted.}, {@code security.}).
         * Default true. They have a price the kernel sets: a filesystem that may hold {@code security.capability}
         * is asked for it (a GETXATTR request) before every write and every chown, since either must remove
         * file capabilities, and the kernel keeps no answer for a FUSE file. A {@code tar -x} as root sends
         * about two such requests per file. Without, the filesystem answers the first extended-attribute request
         * with ENOSYS, the kernel stops asking for good, and callers get EOPNOTSUPP, as on libfuse filesystems
         * without xattr operations.
         */
        public Builder xattrs(boolean keep) {
            this.xattrs = keep;
            return this;
        }

        /** The filesystem. */
        public MemoryFs build() {
            return new MemoryFs(this);
        }
    }
}
