package io.fuseguard.examples.memory;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.RequestContext;
import io.fuseguard.api.XattrMode;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

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
 *       memory and read as zeros, {@code st_blocks} counts what is really allocated.</li>
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
 * <h2>Threads</h2>
 * Handlers run concurrently. One read-write lock guards the namespace (directory structure); each inode has
 * its own lock for its attributes and content. read and write come with the file handle (the inode number)
 * and take only the inode's lock, so I/O on different files runs in parallel and never waits for namespace
 * changes. Every handler runs under the request's deadline: a handler that waited on a lock too long is
 * answered for by the framework, and the caller is not held.
 *
 * <h2>Not supported</h2>
 * File names that are not valid UTF-8 (paths reach the filesystem as Java strings).
 */
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

    private final ReentrantReadWriteLock namespace = new ReentrantReadWriteLock();
    /** Every inode that is linked or open, by number: how file handles find their inode without a path. */
    private final Map<Long, Node> inodes = new ConcurrentHashMap<>();
    private final AtomicLong nextIno = new AtomicLong(1);
    private final SpaceQuota space;
    private final ChunkPool chunkPool;
    private final SpaceQuota inodeQuota;
    private final int chunkSize;
    private final long maxFileSize;
    private final Clock clock;
    private final Node root;

    private MemoryFs(Builder b) {
        this.space = new SpaceQuota(b.capacity);
        this.chunkPool = new ChunkPool(b.chunkSize, b.capacity);
        this.inodeQuota = new SpaceQuota(b.maxInodes);
        this.chunkSize = b.chunkSize;
        this.maxFileSize = b.maxFileSize;
        this.clock = b.clock;
        inodeQuota.reserve(1);
        // The root is its own parent, so ".." of "/" is "/" as POSIX requires.
        this.root = Node.directory(nextIno.getAndIncrement(), b.rootPermissions, b.rootUid, b.rootGid, now());
        root.parent = root;
        inodes.put(root.ino, root);
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
        Lock l = namespace.readLock();
        l.lock();
        try {
            return resolve(path).attributes();
        } finally {
            l.unlock();
        }
    }

    @Override
    public void readdir(String path, DirectorySink sink) {
        Lock l = namespace.readLock();
        l.lock();
        try {
            Node dir = resolve(path);
            if (!dir.isDirectory()) {
                throw new ErrnoException(Errno.ENOTDIR);
            }
            sink.add(".", dir.attributes());
            sink.add("..", dir.parent.attributes());
            for (Map.Entry<String, Node> e : dir.entries.entrySet()) {
                sink.add(e.getKey(), e.getValue().attributes());
            }
            dir.atime = now();
        } finally {
            l.unlock();
        }
    }

    @Override
    public void chmod(String path, int mode) {
        withNode(path, n -> {
            n.perms = mode & 07777;
            n.ctime = now();
        });
    }

    @Override
    public void chown(String path, OptionalLong uid, OptionalLong gid) {
        withNode(path, n -> {
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
        withNode(path, n -> {
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
        return FsStats.ofBytes(space.capacity(), space.used(), inodeQuota.capacity(), inodeQuota.used());
    }

    // ------------------------------------------------------------------------------------------ file data

    @Override
    public long open(String path, OpenFlags flags) {
        Lock l = namespace.readLock();
        l.lock();
        try {
            Node n = resolve(path);
            // Counted under the namespace lock: no unlink can free the node between lookup and count.
            n.lock.writeLock().lock();
            try {
                n.openCount++;
            } finally {
                n.lock.writeLock().unlock();
            }
            return n.ino;
        } finally {
            l.unlock();
        }
    }

    @Override
    public long create(String path, int mode, OpenFlags flags) {
        Caller c = caller();
        Lock l = namespace.writeLock();
        l.lock();
        try {
            Parent p = parentOf(path);
            Node existing = p.dir.entries.get(p.name);
            Node n;
            if (existing != null) {
                // The kernel normally looks a name up before CREATE; this covers a race with another creator.
                if (flags.exclusive()) {
                    throw new ErrnoException(Errno.EEXIST);
                }
                if (existing.isDirectory()) {
                    throw new ErrnoException(Errno.EISDIR);
                }
                n = existing;
            } else {
                long gid = inheritsGroup(p.dir) ? p.dir.gid : c.gid;
                n = Node.file(allocateIno(), mode, c.uid, gid, now(), new ChunkStore(chunkSize, space, chunkPool));
                attach(p, n);
            }
            n.lock.writeLock().lock();
            try {
                n.openCount++;
            } finally {
                n.lock.writeLock().unlock();
            }
            return n.ino;
        } finally {
            l.unlock();
        }
    }

    @Override
    public int read(String path, long fh, ByteBuffer dst, long offset) {
        Node n = byHandle(fh, path);
        if (!n.isRegular()) {
            throw new ErrnoException(n.isDirectory() ? Errno.EISDIR : Errno.EINVAL);
        }
        if (offset < 0) {
            throw new ErrnoException(Errno.EINVAL);
        }
        n.lock.readLock().lock();
        try {
            int r = n.data.read(offset, dst);
            n.atime = now();
            return r;
        } finally {
            n.lock.readLock().unlock();
        }
    }

    @Override
    public int write(String path, long fh, ByteBuffer src, long offset) {
        Node n = byHandle(fh, path);
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
        n.lock.writeLock().lock();
        try {
            int w = n.data.write(offset, data);
            Instant t = now();
            n.mtime = t;
            n.ctime = t;
            return w;
        } finally {
            n.lock.writeLock().unlock();
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
        withNode(path, n -> {
            if (!n.isRegular()) {
                throw new ErrnoException(n.isDirectory() ? Errno.EISDIR : Errno.EINVAL);
            }
            n.data.truncate(size);
            Instant t = now();
            n.mtime = t;
            n.ctime = t;
        });
    }

    @Override
    public void release(String path, long fh, OpenFlags flags) {
        Node n = inodes.get(fh);
        if (n == null) {
            return;
        }
        n.lock.writeLock().lock();
        try {
            if (n.openCount > 0) {
                n.openCount--;
            }
            freeIfGarbage(n);
        } finally {
            n.lock.writeLock().unlock();
        }
    }

    // ------------------------------------------------------------------------------------------ namespace

    @Override
    public void mkdir(String path, int mode) {
        Caller c = caller();
        Lock l = namespace.writeLock();
        l.lock();
        try {
            Parent p = parentOf(path);
            if (p.dir.entries.containsKey(p.name)) {
                throw new ErrnoException(Errno.EEXIST);
            }
            int perms = mode & 07777;
            long gid = c.gid;
            if (inheritsGroup(p.dir)) {
                // BSD group semantics in a set-group-ID directory, propagated to subdirectories.
                gid = p.dir.gid;
                perms |= S_ISGID;
            }
            Node d = Node.directory(allocateIno(), perms, c.uid, gid, now());
            d.parent = p.dir;
            attach(p, d);
        } finally {
            l.unlock();
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
        Lock l = namespace.writeLock();
        l.lock();
        try {
            Parent p = parentOf(path);
            if (p.dir.entries.containsKey(p.name)) {
                throw new ErrnoException(Errno.EEXIST);
            }
            long gid = inheritsGroup(p.dir) ? p.dir.gid : c.gid;
            long ino = allocateIno();
            Node n = type == FileType.REGULAR
                    ? Node.file(ino, permissions, c.uid, gid, now(), new ChunkStore(chunkSize, space, chunkPool))
                    : Node.special(ino, type, permissions, c.uid, gid, now(), rdev);
            attach(p, n);
        } finally {
            l.unlock();
        }
    }

    @Override
    public void rmdir(String path) {
        Caller c = caller();
        Lock l = namespace.writeLock();
        l.lock();
        try {
            Parent p = parentOf(path);
            Node d = p.dir.entries.get(p.name);
            if (d == null) {
                throw new ErrnoException(Errno.ENOENT);
            }
            if (!d.isDirectory()) {
                throw new ErrnoException(Errno.ENOTDIR);
            }
            if (!d.entries.isEmpty()) {
                throw new ErrnoException(Errno.ENOTEMPTY);
            }
            checkSticky(p.dir, d, c);
            unlinkEntry(p.dir, p.name, d);
        } finally {
            l.unlock();
        }
    }

    @Override
    public void unlink(String path) {
        Caller c = caller();
        Lock l = namespace.writeLock();
        l.lock();
        try {
            Parent p = parentOf(path);
            Node n = p.dir.entries.get(p.name);
            if (n == null) {
                throw new ErrnoException(Errno.ENOENT);
            }
            if (n.isDirectory()) {
                throw new ErrnoException(Errno.EISDIR); // what Linux answers to unlink(2) on a directory
            }
            checkSticky(p.dir, n, c);
            unlinkEntry(p.dir, p.name, n);
        } finally {
            l.unlock();
        }
    }

    @Override
    public void rename(String from, String to) {
        Caller c = caller();
        Lock l = namespace.writeLock();
        l.lock();
        try {
            Parent src = parentOf(from);
            Node n = src.dir.entries.get(src.name);
            if (n == null) {
                throw new ErrnoException(Errno.ENOENT);
            }
            Parent dst = parentOf(to);
            Node existing = dst.dir.entries.get(dst.name);
            if (existing == n) {
                return; // same name, or two hard links of one file: POSIX says do nothing
            }
            if (n.isDirectory()) {
                // A directory cannot become its own descendant (the tree would get a cycle and lose a branch).
                for (Node a = dst.dir; ; a = a.parent) {
                    if (a == n) {
                        throw new ErrnoException(Errno.EINVAL);
                    }
                    if (a == root) {
                        break;
                    }
                }
            }
            if (existing != null) {
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
            checkSticky(src.dir, n, c);
            if (existing != null) {
                checkSticky(dst.dir, existing, c);
            }
            // Every check passed: from here on nothing can fail, so the rename is atomic.
            Instant t = now();
            if (existing != null) {
                unlinkEntry(dst.dir, dst.name, existing);
            }
            src.dir.entries.remove(src.name);
            dst.dir.entries.put(dst.name, n);
            if (n.isDirectory() && src.dir != dst.dir) {
                src.dir.subdirs--;
                dst.dir.subdirs++;
                n.parent = dst.dir;
            }
            touchDir(src.dir, t);
            touchDir(dst.dir, t);
            n.lock.writeLock().lock();
            try {
                n.ctime = t; // as Linux filesystems do; POSIX leaves it open
            } finally {
                n.lock.writeLock().unlock();
            }
        } finally {
            l.unlock();
        }
    }

    @Override
    public void symlink(String target, String linkPath) {
        Objects.requireNonNull(target, "target");
        if (target.isEmpty()) {
            throw new ErrnoException(Errno.ENOENT); // as symlink(2) on Linux
        }
        if (utf8Length(target) > PATH_MAX) {
            throw new ErrnoException(Errno.ENAMETOOLONG);
        }
        Caller c = caller();
        Lock l = namespace.writeLock();
        l.lock();
        try {
            Parent p = parentOf(linkPath);
            if (p.dir.entries.containsKey(p.name)) {
                throw new ErrnoException(Errno.EEXIST);
            }
            long gid = inheritsGroup(p.dir) ? p.dir.gid : c.gid;
            attach(p, Node.symlink(allocateIno(), c.uid, gid, now(), target));
        } finally {
            l.unlock();
        }
    }

    @Override
    public String readlink(String path) {
        Lock l = namespace.readLock();
        l.lock();
        try {
            Node n = resolve(path);
            if (n.type != FileType.SYMLINK) {
                throw new ErrnoException(Errno.EINVAL);
            }
            n.atime = now();
            return n.target;
        } finally {
            l.unlock();
        }
    }

    @Override
    public void link(String existing, String newPath) {
        Lock l = namespace.writeLock();
        l.lock();
        try {
            Node n = resolve(existing);
            if (n.isDirectory()) {
                throw new ErrnoException(Errno.EPERM); // hard links to directories are not allowed
            }
            Parent p = parentOf(newPath);
            if (p.dir.entries.containsKey(p.name)) {
                throw new ErrnoException(Errno.EEXIST);
            }
            Instant t = now();
            n.lock.writeLock().lock();
            try {
                if (n.links >= LINK_MAX) {
                    throw new ErrnoException(Errno.EMLINK);
                }
                n.links++;
                n.ctime = t;
            } finally {
                n.lock.writeLock().unlock();
            }
            p.dir.entries.put(p.name, n);
            touchDir(p.dir, t);
        } finally {
            l.unlock();
        }
    }

    // ------------------------------------------------------------------------------------------ xattrs

    @Override
    public void setxattr(String path, String name, byte[] value, XattrMode mode) {
        checkXattrName(name);
        if (value.length > XATTR_SIZE_MAX) {
            throw new ErrnoException(Errno.E2BIG);
        }
        withNode(path, n -> {
            Map<String, byte[]> x = n.xattrsForUpdate();
            byte[] old = x.get(name);
            if (mode == XattrMode.CREATE && old != null) {
                throw new ErrnoException(Errno.EEXIST);
            }
            if (mode == XattrMode.REPLACE && old == null) {
                throw new ErrnoException(Errno.ENODATA);
            }
            // Accounted like file data so that xattrs cannot grow memory past the capacity.
            long cost = xattrCost(name, value);
            long oldCost = old == null ? 0 : xattrCost(name, old);
            space.reserve(cost - oldCost);
            space.release(oldCost - cost);
            x.put(name, value.clone());
            n.ctime = now();
        });
    }

    @Override
    public byte[] getxattr(String path, String name) {
        checkXattrName(name);
        Lock l = namespace.readLock();
        l.lock();
        try {
            Node n = resolve(path);
            n.lock.readLock().lock();
            try {
                byte[] v = n.xattrs == null ? null : n.xattrs.get(name);
                if (v == null) {
                    throw new ErrnoException(Errno.ENODATA);
                }
                return v.clone();
            } finally {
                n.lock.readLock().unlock();
            }
        } finally {
            l.unlock();
        }
    }

    @Override
    public List<String> listxattr(String path) {
        Lock l = namespace.readLock();
        l.lock();
        try {
            Node n = resolve(path);
            n.lock.readLock().lock();
            try {
                return n.xattrs == null ? List.of() : new ArrayList<>(n.xattrs.keySet());
            } finally {
                n.lock.readLock().unlock();
            }
        } finally {
            l.unlock();
        }
    }

    @Override
    public void removexattr(String path, String name) {
        checkXattrName(name);
        withNode(path, n -> {
            byte[] old = n.xattrs == null ? null : n.xattrs.remove(name);
            if (old == null) {
                throw new ErrnoException(Errno.ENODATA);
            }
            space.release(xattrCost(name, old));
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
        return inodeQuota.used();
    }

    // ------------------------------------------------------------------------------------------ internals

    /** Who is calling; the daemon's own in-process calls without a request count as root. */
    private record Caller(long uid, long gid) {
    }

    /** A path split into its (resolved) parent directory and its last name. */
    private record Parent(Node dir, String name) {
    }

    private interface NodeUpdate {
        void apply(Node n);
    }

    private static Caller caller() {
        return RequestContext.current().map(r -> new Caller(r.uid(), r.gid())).orElse(new Caller(0, 0));
    }

    private Instant now() {
        return clock.instant();
    }

    /** Resolves {@code path} under the namespace read lock and applies {@code update} under the node's lock. */
    private void withNode(String path, NodeUpdate update) {
        Lock l = namespace.readLock();
        l.lock();
        try {
            Node n = resolve(path);
            n.lock.writeLock().lock();
            try {
                update.apply(n);
            } finally {
                n.lock.writeLock().unlock();
            }
        } finally {
            l.unlock();
        }
    }

    /** Walks from the root. Caller holds the namespace lock. Symlinks are not followed: the kernel does that. */
    private Node resolve(String path) {
        if (path == null || path.isEmpty() || path.charAt(0) != '/') {
            throw new ErrnoException(Errno.ENOENT, "not an absolute path: " + path);
        }
        Node cur = root;
        int len = path.length();
        int i = 1;
        while (i < len) {
            int j = path.indexOf('/', i);
            if (j < 0) {
                j = len;
            }
            if (j > i) {
                String name = path.substring(i, j);
                checkName(name);
                if (!cur.isDirectory()) {
                    throw new ErrnoException(Errno.ENOTDIR);
                }
                Node next = cur.entries.get(name);
                if (next == null) {
                    throw new ErrnoException(Errno.ENOENT);
                }
                cur = next;
            }
            i = j + 1;
        }
        return cur;
    }

    /** The directory that would hold {@code path}, and its last name. Caller holds the namespace lock. */
    private Parent parentOf(String path) {
        int end = path.length();
        while (end > 1 && path.charAt(end - 1) == '/') {
            end--;
        }
        int slash = path.lastIndexOf('/', end - 1);
        if (slash < 0 || end <= 1) {
            // "/" itself has no parent entry: it can be neither created, removed nor renamed.
            throw new ErrnoException(Errno.EBUSY, "the root: " + path);
        }
        String name = path.substring(slash + 1, end);
        checkName(name);
        Node dir = resolve(slash == 0 ? "/" : path.substring(0, slash));
        if (!dir.isDirectory()) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        return new Parent(dir, name);
    }

    private static void checkName(String name) {
        // A UTF-16 unit never takes more than 3 bytes in UTF-8 (a surrogate pair takes 4 for 2 units): short
        // names need no encoding, long ones in UTF-16 units are long in bytes too.
        if (name.length() > NAME_MAX || (name.length() > NAME_MAX / 3 && utf8Length(name) > NAME_MAX)) {
            throw new ErrnoException(Errno.ENAMETOOLONG);
        }
    }

    private static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    private static boolean inheritsGroup(Node dir) {
        return (dir.perms & S_ISGID) != 0;
    }

    private long allocateIno() {
        inodeQuota.reserve(1);
        return nextIno.getAndIncrement();
    }

    /** Adds a new node under {@code p}. Caller holds the namespace write lock; the node is not shared yet. */
    private void attach(Parent p, Node n) {
        p.dir.entries.put(p.name, n);
        if (n.isDirectory()) {
            p.dir.subdirs++;
        }
        inodes.put(n.ino, n);
        touchDir(p.dir, n.ctime);
    }

    /** Removes the entry {@code name -> n} from {@code dir}. Caller holds the namespace write lock. */
    private void unlinkEntry(Node dir, String name, Node n) {
        Instant t = now();
        dir.entries.remove(name);
        if (n.isDirectory()) {
            dir.subdirs--;
        }
        n.lock.writeLock().lock();
        try {
            n.links = n.isDirectory() ? 0 : n.links - 1;
            n.ctime = t;
            freeIfGarbage(n);
        } finally {
            n.lock.writeLock().unlock();
        }
        touchDir(dir, t);
    }

    /** Frees a node nobody can reach any more. Caller holds the node's write lock. */
    private void freeIfGarbage(Node n) {
        if (n.isGarbage() && inodes.remove(n.ino) != null) {
            if (n.data != null) {
                n.data.clear();
            }
            if (n.xattrs != null) {
                for (Map.Entry<String, byte[]> e : n.xattrs.entrySet()) {
                    space.release(xattrCost(e.getKey(), e.getValue()));
                }
                n.xattrs = null;
            }
            inodeQuota.release(1);
        }
    }

    /** An entry was added or removed: the directory's content changed. */
    private static void touchDir(Node dir, Instant t) {
        dir.lock.writeLock().lock();
        try {
            dir.mtime = t;
            dir.ctime = t;
        } finally {
            dir.lock.writeLock().unlock();
        }
    }

    /** In a sticky directory only the entry's owner, the directory's owner or root may remove an entry. */
    private static void checkSticky(Node dir, Node entry, Caller c) {
        if ((dir.perms & S_ISVTX) != 0 && c.uid != 0 && c.uid != dir.uid && c.uid != entry.uid) {
            throw new ErrnoException(Errno.EPERM, "sticky directory");
        }
    }

    /** Finds an open file by handle; falls back to the path for handles this filesystem did not issue. */
    private Node byHandle(long fh, String path) {
        // Handles are inode numbers and an open inode stays in the table until released.
        Node n = inodes.get(fh);
        if (n != null) {
            return n;
        }
        Lock l = namespace.readLock();
        l.lock();
        try {
            return resolve(path);
        } finally {
            l.unlock();
        }
    }

    private static void checkXattrName(String name) {
        if (name == null || name.isEmpty() || utf8Length(name) > 255) {
            throw new ErrnoException(Errno.ERANGE);
        }
        for (String ns : XATTR_NAMESPACES) {
            if (name.startsWith(ns) && name.length() > ns.length()) {
                return;
            }
        }
        throw new ErrnoException(Errno.ENOTSUP, "xattr namespace of " + name);
    }

    private static long xattrCost(String name, byte[] value) {
        return utf8Length(name) + (long) value.length;
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

        /** The filesystem. */
        public MemoryFs build() {
            return new MemoryFs(this);
        }
    }
}
