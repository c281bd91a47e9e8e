package io.fuseguard.internal.session;

import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.tree.NodeTable;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;

import java.util.concurrent.TimeUnit;

import static io.fuseguard.internal.sys.Syscalls.EINTR;
import static io.fuseguard.internal.sys.Syscalls.EEXIST;
import static io.fuseguard.internal.sys.Syscalls.ENOENT;
import static io.fuseguard.internal.sys.Syscalls.ENOSYS;

/**
 * Requests about names: LOOKUP, the requests that create a name (MKNOD, MKDIR, SYMLINK, LINK) and those that
 * remove or move one (UNLINK, RMDIR, RENAME, RENAME2), with libfuse's hiding of files unlinked while open.
 *
 * <p>A request about a name pins the directory and the name while the filesystem works on it; a removal or
 * rename locks the names it changes ({@link io.fuseguard.internal.tree.PathLocks}), so a lookup never pairs one
 * file's attributes with another file's node, and nothing running on a file below a renamed directory has its
 * path changed under it.
 */
final class EntryRequests extends Requests {

    EntryRequests(Requests.Shared shared) {
        super(shared);
    }

    void lookup(Worker w, Request r, long deadline) {
        Node parent = node(r);
        if (parent == null) {
            reply(w, r, ENOENT);
            return;
        }
        String name = r.string(0);
        if (parent == nodes.root() && name.equals(s.probe.name)) {
            probeLookup(w, r);
            return;
        }
        Node target = null;
        if (name.equals(".")) {
            target = parent;
        } else if (name.equals("..")) {
            target = parent == nodes.root() ? parent : nodes.parentOf(parent);
            if (target == null) {
                reply(w, r, ENOENT);
                return;
            }
        }
        String path = target != null ? nodes.path(target) : nodes.childPath(parent, name);
        if (path == null) {
            reply(w, r, NO_PATH);
            return;
        }
        if (!begin(w, r, Operation.LOOKUP, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        if (!(target != null ? pin(w, r, target, null) : pin(w, r, parent, name))) {
            return;
        }
        path = target != null ? pinnedPath(w, target) : pinnedPath(w, parent, name);
        if (path == null) {
            if (end(w, r, -NO_PATH)) {
                reply(w, r, NO_PATH);
            }
            return;
        }
        Attr a = w.context.attr;
        a.clear();
        int rc = ops.getattr(w.context, path, 0, false, a);
        Node link = rc >= 0 && target == null ? otherLinkOf(w, parent, name, a) : null;
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            if (rc == -ENOENT && negativeCaching) {
                a.clear();
                encodeEntry(w.out, 0, 0, a, negativeSec, negativeNsec);
                replyOk(w, r, Fuse.ENTRY_OUT);
            } else {
                reply(w, r, -rc);
            }
            return;
        }
        Node n;
        if (target != null) {
            nodes.ref(target);
            n = target;
        } else {
            n = entryNode(parent, name, a, link);
        }
        sendEntry(w, r, n, a, 0);
    }

    /**
     * For a name the kernel does not hold yet whose file the filesystem reports with several links: a node the
     * kernel holds for another name of the same file (same inode number, and the other name still leads to it),
     * so both names become one kernel inode with one page cache. Null otherwise. Runs inside the guarded part:
     * it may ask the filesystem.
     */
    private Node otherLinkOf(Worker w, Node parent, String name, Attr a) {
        if (!reportsIno || a.ino == 0 || Integer.toUnsignedLong(a.nlink) < 2 || (a.mode & S_IFMT) == S_IFDIR
                || nodes.child(parent, name) != null) {
            return null;
        }
        Node m = nodes.linkCandidate(a.ino);
        return m != null && isFile(w, m, a.ino) ? m : null;
    }

    /** Whether the path of node {@code m} still leads to the file with inode number {@code ino}. */
    private boolean isFile(Worker w, Node m, long ino) {
        String p = nodes.path(m);
        if (p == null) {
            return false;
        }
        Attr b = w.context.attr2;
        b.clear();
        Operation op = w.context.operation;
        w.context.operation = Operation.GETATTR;
        int rc = ops.getattr(w.context, p, 0, false, b);
        w.context.operation = op;
        return rc >= 0 && b.ino == ino;
    }

    /** The node to answer for {@code name} in {@code parent} with attributes {@code a}; counted once more. */
    private Node entryNode(Node parent, String name, Attr a, Node link) {
        if (link != null) {
            return nodes.addLink(link, parent, name, a.ino);
        }
        return nodes.lookup(parent, name, reportsIno ? a.ino : 0, Integer.toUnsignedLong(a.nlink));
    }

    void probeLookup(Worker w, Request r) {
        if (!s.probe.visibleTo(r.pid)) {
            reply(w, r, ENOENT); // the name is reserved and invisible to everybody but the probing thread
            return;
        }
        Attr a = probeAttr(w);
        encodeEntry(w.out, NodeTable.PROBE_ID, 0, a, 0, 0);
        replyOk(w, r, Fuse.ENTRY_OUT);
    }

    /**
     * The guarded start of a request that creates {@code name} in {@code parent}: registered with the watchdog,
     * the directory and name pinned. Returns the new path, or null (answered) when the request ends here.
     */
    private String beginCreate(Worker w, Request r, Operation op, Node parent, String name, long deadline,
                               int umask) {
        String path = newPath(w, r, parent, name);
        if (path == null || !begin(w, r, op, OperationKind.METADATA, path, null, deadline, umask)
                || !pin(w, r, parent, name)) {
            return null;
        }
        path = pinnedPath(w, parent, name);
        if (path == null) {
            if (end(w, r, -NO_PATH)) {
                reply(w, r, NO_PATH);
            }
        }
        return path;
    }

    /** After a successful creation: the new name's attributes (libfuse's lookup_path), answered as an entry. */
    void created(Worker w, Request r, Node parent, String name, String path, int rc) {
        Attr a = w.context.attr;
        if (rc == -EEXIST && begunBefore(r)) {
            rc = 0; // a supervised mount's previous worker made it and died before it said so
        }
        if (rc >= 0) {
            Operation op = w.context.operation;
            w.context.operation = Operation.GETATTR;
            a.clear();
            rc = ops.getattr(w.context, path, 0, false, a);
            w.context.operation = op;
        }
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        sendEntry(w, r, entryNode(parent, name, a, null), a, 0);
    }

    void mknod(Worker w, Request r, long deadline) {
        Node parent = node(r);
        int mode = r.i32(0);
        int rdev = r.i32(4);
        int umask = r.i32(8);
        String name = r.string(16);
        String path = beginCreate(w, r, Operation.MKNOD, parent, name, deadline, umask);
        if (path == null) {
            return;
        }
        OpContext c = w.context;
        int rc = -ENOSYS;
        intent(r);
        if ((mode & S_IFMT) == S_IFREG) {
            // as libfuse: a regular file is made with create (and released at once) when the filesystem has it
            c.operation = Operation.CREATE;
            c.open.clear();
            rc = ops.create(c, path, mode, O_CREAT_EXCL_WRONLY, c.open);
            if (rc >= 0) {
                c.operation = Operation.RELEASE;
                ops.release(c, path, c.open.fh, O_CREAT_EXCL_WRONLY);
            }
        }
        if (rc == -ENOSYS) {
            c.operation = Operation.MKNOD;
            rc = ops.mknod(c, path, mode, rdev);
        }
        created(w, r, parent, name, path, rc);
    }

    void mkdir(Worker w, Request r, long deadline) {
        Node parent = node(r);
        int mode = r.i32(0);
        int umask = r.i32(4);
        String name = r.string(8);
        String path = beginCreate(w, r, Operation.MKDIR, parent, name, deadline, umask);
        if (path == null) {
            return;
        }
        intent(r);
        int rc = ops.mkdir(w.context, path, mode);
        created(w, r, parent, name, path, rc);
    }

    void symlink(Worker w, Request r, long deadline) {
        Node parent = node(r);
        String name = r.string(0);
        String target = r.string(r.after(0));
        String path = beginCreate(w, r, Operation.SYMLINK, parent, name, deadline, 0);
        if (path == null) {
            return;
        }
        intent(r);
        int rc = ops.symlink(w.context, target, path);
        created(w, r, parent, name, path, rc);
    }

    /**
     * LINK: when the filesystem reports inode numbers and the new name is the same file, it is answered with the
     * node of the linked file (one kernel inode for both names, as on a local filesystem); otherwise, as libfuse
     * does, with a node of its own.
     */
    void link(Worker w, Request r, long deadline) {
        Node from = nodes.get(r.i64(0));
        Node parent = node(r);
        String name = r.string(8);
        if (from == null || nodes.path(from) == null) {
            reply(w, r, from == null ? ENOENT : NO_PATH);
            return;
        }
        String path = newPath(w, r, parent, name);
        if (path == null || !begin(w, r, Operation.LINK, OperationKind.METADATA, path, null, deadline, 0)
                || !pin(w, r, parent, name, from)) {
            return;
        }
        path = pinnedPath(w, parent, name);
        String fromPath = nodes.path(from);
        if (path == null || fromPath == null) {
            if (end(w, r, -NO_PATH)) {
                reply(w, r, NO_PATH);
            }
            return;
        }
        OpContext c = w.context;
        intent(r);
        int rc = ops.link(c, fromPath, path);
        if (rc == -EEXIST && begunBefore(r)) {
            rc = 0; // a supervised mount's previous worker made it and died before it said so
        }
        Attr a = c.attr;
        boolean oneFile = false;
        if (rc >= 0) {
            c.operation = Operation.GETATTR;
            a.clear();
            rc = ops.getattr(c, path, 0, false, a);
            oneFile = rc >= 0 && reportsIno && a.ino != 0 && isFile(w, from, a.ino);
        }
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        sendEntry(w, r, entryNode(parent, name, a, oneFile ? from : null), a, 0);
    }

    /**
     * The guarded start of a removal or rename: registered with the watchdog, close-time work of the files it
     * touches done, the names locked. False (answered) when the request ends here.
     */
    private boolean beginChange(Worker w, Request r, Operation op, String path, long deadline, Node dir1,
                                String name1, Node dir2, String name2) {
        if (!begin(w, r, op, OperationKind.METADATA, path, null, deadline, 0)) {
            return false;
        }
        afterCloseWork(w, nodes.child(dir1, name1));
        if (dir2 != null) {
            afterCloseWork(w, nodes.child(dir2, name2));
        }
        if (Thread.currentThread().isInterrupted()) {
            if (end(w, r, -EINTR)) {
                reply(w, r, EINTR); // interrupted before it started: nothing was changed
            }
            return false;
        }
        return lockNames(w, r, dir1, name1, dir2, name2);
    }

    void unlink(Worker w, Request r, long deadline) {
        Node parent = node(r);
        String name = r.string(0);
        String path = newPath(w, r, parent, name);
        if (path == null || !beginChange(w, r, Operation.UNLINK, path, deadline, parent, name, null, null)) {
            return;
        }
        path = pinnedPath(w, parent, name);
        if (path == null) {
            if (end(w, r, -NO_PATH)) {
                reply(w, r, NO_PATH);
            }
            return;
        }
        OpContext c = w.context;
        Node victim = opt.hardRemove() ? null : toHide(w, r, parent, name);
        intent(r);
        int rc = victim != null ? hide(c, parent, victim, path) : ops.unlink(c, path);
        if (rc == -ENOENT && begunBefore(r)) {
            rc = 0; // a supervised mount's previous worker removed it and died before it said so
        }
        if (rc >= 0 && victim == null) {
            nodes.unlinked(parent, name); // it happened, answered or not: keep the table true to the filesystem
        }
        if (end(w, r, rc)) {
            replyResult(w, r, rc);
        }
    }

    /** The open file whose last name this removal takes, to hide instead, after a racing RELEASE was counted. */
    private Node toHide(Worker w, Request r, Node parent, String name) {
        if (nodes.toHide(parent, name) == null) {
            return null;
        }
        s.awaitEarlierReads(r.unique, w);
        return nodes.toHide(parent, name);
    }

    /**
     * libfuse's hide_node: renames an open file whose last name is being removed to a hidden name in its
     * directory, removed at its last release. If that release came while it was being hidden, the hidden file is
     * removed right here, so none is ever left behind.
     */
    private int hide(OpContext c, Node parent, Node victim, String path) {
        String dir = nodes.path(parent);
        Attr scratch = c.attr2;
        String hidden = nodes.hiddenName(victim, candidate -> {
            scratch.clear();
            return ops.getattr(c, childPath(dir, candidate), 0, false, scratch) >= 0;
        });
        String hiddenPath = childPath(dir, hidden);
        Operation op = c.operation;
        c.operation = Operation.RENAME;
        int rc = ops.rename(c, path, hiddenPath, 0);
        if (rc >= 0 && !nodes.hid(victim, hidden)) {
            c.operation = Operation.UNLINK;
            int u = ops.unlink(c, hiddenPath);
            if (u < 0) {
                LOG.warn("Could not remove {} (a file unlinked while it was being closed): errno {}", hiddenPath,
                        -u);
            }
            nodes.unlinked(victim);
        }
        c.operation = op;
        return rc;
    }

    /**
     * Before removing directory {@code dir}: a file in it unlinked just after its last close may have been hidden
     * because the kernel sends that close's RELEASE later (it waits for the file's last read-ahead answer), and
     * its hidden name would make the directory look not empty: rmdir failed ENOTEMPTY right after
     * {@code unlink(d/f)}, which no local filesystem does (7 in 1,000 rmdirs with 3 processes). Such a RELEASE
     * comes within moments, so a directory holding hidden files gets up to 200 ms for them to go; a file that is
     * really still open keeps its hidden name and the rmdir fails as with libfuse. Nothing waits when the directory
     * holds no hidden file. Waited for before any lock is taken: the releases' close-time work needs the names.
     */
    private void awaitHiddenChildren(Node dir) {
        if (dir == null || !nodes.hasHiddenChild(dir)) {
            return;
        }
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
        while (nodes.hasHiddenChild(dir) && System.nanoTime() < end) {
            java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
        }
    }

    private static String childPath(String dir, String name) {
        return dir.length() == 1 ? "/" + name : dir + "/" + name;
    }

    void rmdir(Worker w, Request r, long deadline) {
        Node parent = node(r);
        String name = r.string(0);
        awaitHiddenChildren(parent == null ? null : nodes.child(parent, name));
        String path = newPath(w, r, parent, name);
        if (path == null || !beginChange(w, r, Operation.RMDIR, path, deadline, parent, name, null, null)) {
            return;
        }
        path = pinnedPath(w, parent, name);
        if (path != null) {
            intent(r);
        }
        int rc = path == null ? -NO_PATH : ops.rmdir(w.context, path);
        if (rc == -ENOENT && begunBefore(r)) {
            rc = 0; // a supervised mount's previous worker removed it and died before it said so
        }
        if (rc >= 0) {
            nodes.unlinked(parent, name);
        }
        if (end(w, r, rc)) {
            replyResult(w, r, rc);
        }
    }

    /**
     * A rename over a file that is still open: the open file must keep its data under a hidden name (libfuse's
     * hide_node), and the target's name must never be missing nor lost. When the filesystem has hard links, the
     * hidden name is a link made first and the rename then replaces the target in one step: no other process ever
     * sees the name missing, and a crash at any point leaves the target whole under its name (old or new content)
     * plus at most a stray hidden link. Otherwise the target is renamed to the hidden name, then the rename is
     * made, and if that fails the target gets its name back. Returns the rename's result.
     */
    private int renameOverOpen(OpContext c, Node from, String oldName, String oldPath, Node to, String newName,
                               String newPath, Node victim) {
        String dir = nodes.path(to);
        Attr scratch = c.attr2;
        Operation op = c.operation;
        try {
            String hidden = nodes.hiddenName(victim, candidate -> {
                scratch.clear();
                c.operation = Operation.GETATTR;
                return ops.getattr(c, childPath(dir, candidate), 0, false, scratch) >= 0;
            });
            String hiddenPath = childPath(dir, hidden);
            c.operation = Operation.LINK;
            int linked = ops.link(c, newPath, hiddenPath);
            if (linked >= 0) {
                c.operation = Operation.RENAME;
                int rc = ops.rename(c, oldPath, newPath, 0);
                if (rc < 0) {
                    c.operation = Operation.UNLINK;
                    ops.unlink(c, hiddenPath); // nothing changed: the extra name goes
                    return rc;
                }
                if (!nodes.hid(victim, hidden)) {
                    c.operation = Operation.UNLINK;
                    ops.unlink(c, hiddenPath); // its last release came meanwhile
                    nodes.unlinked(victim);
                }
                return rc;
            }
            c.operation = Operation.RENAME;
            int rc = ops.rename(c, newPath, hiddenPath, 0);
            if (rc < 0) {
                return rc;
            }
            boolean stillOpen = nodes.hid(victim, hidden);
            rc = ops.rename(c, oldPath, newPath, 0);
            if (rc < 0) {
                // the rename failed: the target gets its name back, as if nothing had been tried
                int back = ops.rename(c, hiddenPath, newPath, 0);
                if (back >= 0) {
                    nodes.unhid(victim, newName);
                } else {
                    LOG.warn("A rename over the open file {} failed (errno {}), and giving the file its name back "
                            + "failed too (errno {}): it stays as {} until it is closed", newPath, -rc, -back,
                            hiddenPath);
                }
                return rc;
            }
            if (!stillOpen) {
                c.operation = Operation.UNLINK;
                int u = ops.unlink(c, hiddenPath);
                if (u < 0) {
                    LOG.warn("Could not remove {} (a file replaced while it was being closed): errno {}", hiddenPath,
                            -u);
                }
                nodes.unlinked(victim);
            }
            return rc;
        } finally {
            c.operation = op;
        }
    }

    /** Whether the old name is gone and the new one is there: what a rename the previous worker made leaves. */
    private boolean renamedBefore(OpContext c, String oldPath, String newPath) {
        Attr scratch = c.attr2;
        Operation op = c.operation;
        c.operation = Operation.GETATTR;
        try {
            scratch.clear();
            if (ops.getattr(c, oldPath, 0, false, scratch) != -ENOENT) {
                return false;
            }
            scratch.clear();
            return ops.getattr(c, newPath, 0, false, scratch) >= 0;
        } finally {
            c.operation = op;
        }
    }

    /** RENAME, or RENAME2 with its flags (RENAME_NOREPLACE, RENAME_EXCHANGE; the filesystem decides). */
    void rename(Worker w, Request r, long deadline, long newDir, int namesAt, int flags) {
        Node from = node(r);
        Node to = nodes.get(newDir);
        String oldName = r.string(namesAt);
        String newName = r.string(r.after(namesAt));
        if (from == null || to == null) {
            reply(w, r, ENOENT);
            return;
        }
        String oldPath = newPath(w, r, from, oldName);
        if (oldPath == null) {
            return;
        }
        String newPath = newPath(w, r, to, newName);
        if (newPath == null
                || !beginChange(w, r, Operation.RENAME, oldPath, deadline, from, oldName, to, newName)) {
            return;
        }
        oldPath = pinnedPath(w, from, oldName);
        newPath = nodes.childPath(to, newName);
        if (oldPath == null || newPath == null) {
            if (end(w, r, -NO_PATH)) {
                reply(w, r, NO_PATH);
            }
            return;
        }
        OpContext c = w.context;
        int rc = 0;
        intent(r);
        // Only a plain rename removes its target: NOREPLACE fails if there is one, EXCHANGE keeps it.
        Node victim = null;
        if (flags == 0 && !opt.hardRemove()) {
            victim = toHide(w, r, to, newName);
            if (victim == nodes.child(from, oldName)) {
                victim = null;
            }
        }
        if (victim != null) {
            rc = renameOverOpen(c, from, oldName, oldPath, to, newName, newPath, victim);
        } else {
            rc = ops.rename(c, oldPath, newPath, flags);
            if ((rc == -ENOENT || rc == -EEXIST) && flags != Fuse.RENAME_EXCHANGE && begunBefore(r)
                    && renamedBefore(c, oldPath, newPath)) {
                rc = 0; // a supervised mount's previous worker renamed it and died before it said so
            }
        }
        if (rc >= 0) {
            if (flags == Fuse.RENAME_EXCHANGE) {
                nodes.exchanged(from, oldName, to, newName);
            } else {
                nodes.renamed(from, oldName, to, newName);
            }
        }
        if (end(w, r, rc)) {
            replyResult(w, r, rc);
        }
    }
}
