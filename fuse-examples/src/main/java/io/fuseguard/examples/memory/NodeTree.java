package io.fuseguard.examples.memory;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The directory tree of a {@link MemoryFs}: the inode table, directory entries, path resolution, link counts,
 * the bookkeeping of link, unlink and rename, when an inode's memory goes, and the namespace lock that guards
 * the structure. It knows nothing of POSIX permissions, owners or the calling user: deciding whether an
 * operation is allowed is {@link MemoryFs}'s job, carrying it out on the structure is this one's.
 *
 * <h2>Locking</h2>
 * One read-write lock, {@link #read()} and {@link #write()}, guards the structure ({@link Node#entries},
 * {@link Node#parent}, {@link Node#subdirs}); each node's own lock guards the rest of it (see {@link Node}).
 * Methods that walk or change the structure say that their caller holds the namespace lock: an operation
 * takes it once, resolves, checks and changes under it, so what it checked still holds when it changes.
 * The inode table itself is concurrent, so a file handle finds its inode ({@link #byHandle}) without the
 * namespace lock, and I/O never waits for a namespace change.
 */
@SuppressWarnings("try") // lock handles are only there to be closed
final class NodeTree {
    private final ScopedLock namespace = new ScopedLock();
    /** Every inode that is linked or open, by number: how file handles find their inode without a path. */
    private final Map<Long, Node> inodes = new ConcurrentHashMap<>();
    private final AtomicLong nextIno = new AtomicLong(1);
    private final SpaceQuota inodeQuota;
    /** Where the extended attributes of a freed inode give their bytes back (the content does it itself). */
    private final SpaceQuota space;
    private final Node root;
    /**
     * O_TMPFILE files by the name fuseguard reserved for each: no directory lists them, but calls about them use
     * that name until the last descriptor is closed (see {@link MemoryFs#tmpfile}).
     */
    private final Map<String, Node> tmpfiles = new ConcurrentHashMap<>();

    /**
     * A tree with only its root directory, which takes the first inode.
     *
     * @param maxInodes most inodes, the root included
     * @param space     the capacity that content and extended attributes are accounted against
     */
    NodeTree(long maxInodes, SpaceQuota space, int rootPermissions, long rootUid, long rootGid, Instant now) {
        this.inodeQuota = new SpaceQuota(maxInodes);
        this.space = space;
        this.root = Node.directory(allocateIno(), rootPermissions, rootUid, rootGid, now);
        // The root is its own parent, so ".." of "/" is "/" as POSIX requires.
        root.parent = root;
        inodes.put(root.ino, root);
    }

    /** A path split into its (resolved) parent directory and its last name. */
    record Parent(Node dir, String name) {
        /** The node the name refers to now, or null. Caller holds the namespace lock. */
        Node entry() {
            return dir.entries.get(name);
        }

        /** Whether the name exists in the directory. Caller holds the namespace lock. */
        boolean exists() {
            return dir.entries.containsKey(name);
        }
    }

    /** A change of one node, applied under its write lock. */
    @FunctionalInterface
    interface NodeUpdate {
        /** Changes {@code n}; may throw an {@link ErrnoException} to refuse. */
        void apply(Node n);
    }

    // ------------------------------------------------------------------------------------------ locking

    /** Takes the namespace lock shared: for operations that only look the structure up. */
    ScopedLock.Held read() {
        return namespace.read();
    }

    /** Takes the namespace lock exclusively: for operations that add, remove or move entries. */
    ScopedLock.Held write() {
        return namespace.write();
    }

    /**
     * Resolves {@code path} under the namespace read lock and applies {@code update} under the node's write
     * lock. For the attribute changes (chmod, utimens, xattrs, ...), which are not on the I/O path: the lambda
     * they pass may cost an allocation per call, the hot paths take their locks with handles instead.
     */
    void update(String path, NodeUpdate update) {
        try (ScopedLock.Held ns = namespace.read()) {
            Node n = resolve(path);
            try (ScopedLock.Held h = n.lock.write()) {
                update.apply(n);
            }
        }
    }

    // ------------------------------------------------------------------------------------------ look-ups

    /** Walks from the root. Caller holds the namespace lock. Symlinks are not followed: the kernel does that. */
    Node resolve(String path) {
        if (path == null || path.isEmpty() || path.charAt(0) != '/') {
            throw new ErrnoException(Errno.ENOENT, "not an absolute path: " + path);
        }
        if (!tmpfiles.isEmpty()) {
            Node t = tmpfiles.get(path);
            if (t != null) {
                return t;
            }
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
    Parent parentOf(String path) {
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

    /** Finds an open file by handle; falls back to the path for handles this filesystem did not issue. */
    Node byHandle(long fh, String path) {
        // Handles are inode numbers and an open inode stays in the table until released.
        Node n = inodes.get(fh);
        if (n != null) {
            return n;
        }
        try (ScopedLock.Held ns = namespace.read()) {
            return resolve(path);
        }
    }

    /**
     * Whether {@code dir} is {@code n} or lies below it: moving {@code n} there would make a cycle and cut a
     * branch off the tree. Caller holds the namespace lock.
     */
    boolean isAncestorOrSelf(Node n, Node dir) {
        for (Node a = dir; ; a = a.parent) {
            if (a == n) {
                return true;
            }
            if (a == root) {
                return false;
            }
        }
    }

    // ------------------------------------------------------------------------------------------ changes

    /**
     * A new inode number, counted against the inode limit.
     *
     * @throws ErrnoException ENOSPC when the limit is reached
     */
    long allocateIno() {
        inodeQuota.reserve(1);
        return nextIno.getAndIncrement();
    }

    /** Adds a new node under {@code p}. Caller holds the namespace write lock; the node is not shared yet. */
    void attach(Parent p, Node n) {
        if (n.isDirectory()) {
            n.parent = p.dir;
            p.dir.subdirs++;
        }
        p.dir.entries.put(p.name, n);
        inodes.put(n.ino, n);
        touchDir(p.dir, n.ctime);
    }

    /**
     * Gives the existing non-directory {@code n} one more name, {@code p}. Caller holds the namespace write
     * lock and has checked that the name is free.
     *
     * @throws ErrnoException EMLINK when {@code n} already has {@link MemoryFs#LINK_MAX} links
     */
    void link(Parent p, Node n, Instant t) {
        try (ScopedLock.Held h = n.lock.write()) {
            if (n.links >= MemoryFs.LINK_MAX) {
                throw new ErrnoException(Errno.EMLINK);
            }
            n.links++;
            n.ctime = t;
        }
        p.dir.entries.put(p.name, n);
        touchDir(p.dir, t);
    }

    /** Removes the entry {@code p -> n}. Caller holds the namespace write lock. */
    void unlink(Parent p, Node n, Instant t) {
        p.dir.entries.remove(p.name);
        if (n.isDirectory()) {
            p.dir.subdirs--;
        }
        try (ScopedLock.Held h = n.lock.write()) {
            n.links = n.isDirectory() ? 0 : n.links - 1;
            n.ctime = t;
            freeIfGarbage(n);
        }
        touchDir(p.dir, t);
    }

    /**
     * Moves {@code n} from {@code src} to {@code dst}, first unlinking {@code replaced} (the node {@code dst}
     * named, or null). Caller holds the namespace write lock and has made every check: nothing here fails,
     * which is what makes a rename atomic.
     */
    void move(Parent src, Node n, Parent dst, Node replaced, Instant t) {
        if (replaced != null) {
            unlink(dst, replaced, t);
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
        try (ScopedLock.Held h = n.lock.write()) {
            n.ctime = t; // as Linux filesystems do; POSIX leaves it open
        }
    }

    /**
     * Swaps the entries {@code src} ({@code a}) and {@code dst} ({@code b}): {@code RENAME_EXCHANGE}. Caller holds
     * the namespace write lock and has made every check.
     */
    void exchange(Parent src, Node a, Parent dst, Node b, Instant t) {
        src.dir.entries.put(src.name, b);
        dst.dir.entries.put(dst.name, a);
        if (src.dir != dst.dir) {
            reparent(a, src.dir, dst.dir);
            reparent(b, dst.dir, src.dir);
        }
        touchDir(src.dir, t);
        touchDir(dst.dir, t);
        for (Node n : new Node[] {a, b}) {
            try (ScopedLock.Held h = n.lock.write()) {
                n.ctime = t;
            }
        }
    }

    private static void reparent(Node n, Node from, Node to) {
        if (n.isDirectory()) {
            from.subdirs--;
            to.subdirs++;
            n.parent = to;
        }
    }

    /**
     * Registers a new file that has no name ({@code O_TMPFILE}) under the name reserved for it; it has no link
     * and one open handle. Caller holds the namespace write lock; the node is not shared yet.
     */
    void attachTmpfile(String reservedPath, Node n) {
        n.links = 0;
        n.openCount = 1;
        inodes.put(n.ino, n);
        tmpfiles.put(reservedPath, n);
    }

    /**
     * Drops the reserved name of an {@code O_TMPFILE} file (its last descriptor was closed): the file goes unless
     * it was linked meanwhile. False when {@code path} is no such name. Caller holds the namespace write lock.
     */
    boolean dropTmpfile(String path) {
        Node n = tmpfiles.isEmpty() ? null : tmpfiles.remove(path);
        if (n == null) {
            return false;
        }
        try (ScopedLock.Held h = n.lock.write()) {
            freeIfGarbage(n);
        }
        return true;
    }

    /**
     * Counts an open file handle on {@code n}. Caller holds the namespace lock: no unlink can free the node
     * between its look-up and this count.
     */
    void opened(Node n) {
        try (ScopedLock.Held h = n.lock.write()) {
            n.openCount++;
        }
    }

    /** Ends the file handle {@code fh}; frees its inode if that was its last reference. Unknown handles: no-op. */
    void released(long fh) {
        Node n = inodes.get(fh);
        if (n == null) {
            return;
        }
        try (ScopedLock.Held h = n.lock.write()) {
            if (n.openCount > 0) {
                n.openCount--;
            }
            freeIfGarbage(n);
        }
    }

    // ------------------------------------------------------------------------------------------ accounting

    /** Inodes in use, the root included, and files that are unlinked but still open. */
    long usedInodes() {
        return inodeQuota.used();
    }

    /** Most inodes. */
    long maxInodes() {
        return inodeQuota.capacity();
    }

    /** Bytes of a name in UTF-8, as the kernel counts them. */
    static int utf8Length(String s) {
        return s.getBytes(StandardCharsets.UTF_8).length;
    }

    // ------------------------------------------------------------------------------------------ internals

    private static void checkName(String name) {
        // A UTF-16 unit never takes more than 3 bytes in UTF-8 (a surrogate pair takes 4 for 2 units): short
        // names need no encoding, long ones in UTF-16 units are long in bytes too.
        if (name.length() > MemoryFs.NAME_MAX
                || (name.length() > MemoryFs.NAME_MAX / 3 && utf8Length(name) > MemoryFs.NAME_MAX)) {
            throw new ErrnoException(Errno.ENAMETOOLONG);
        }
    }

    /**
     * Frees a node nobody can reach any more: last name gone and last handle released, whichever came second.
     * Caller holds the node's write lock.
     */
    private void freeIfGarbage(Node n) {
        if (n.isGarbage() && inodes.remove(n.ino) != null) {
            n.discardContent(space);
            inodeQuota.release(1);
        }
    }

    /** An entry was added or removed: the directory's content changed. */
    private static void touchDir(Node dir, Instant t) {
        try (ScopedLock.Held h = dir.lock.write()) {
            dir.mtime = t;
            dir.ctime = t;
        }
    }
}
