package io.fuseguard.internal.tree;

import io.fuseguard.internal.state.StateJournal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;

/**
 * The node ids the kernel holds, and the path each one stands for: what libfuse's high-level layer keeps, for
 * filesystems that think in paths. A node id is its slot in the table, so ids stay small (below 2^32 while fewer
 * than 2^32 nodes are live, as 32-bit {@code stat()} callers need) and a lookup is an array index; a reused slot
 * gets the next FUSE generation, which is how the kernel tells a new file from an old one with the same id.
 *
 * <p>Names of one file: when the filesystem reports inode numbers, two names with the same inode number (hard
 * links) are one node, so the kernel keeps one inode and one page cache for them, as it does on a local
 * filesystem. A LINK answers with the node of the file it links.
 *
 * <p>Structural changes (lookup, forget, rename, unlink) take the table lock for microseconds; building a
 * path usually does not (each node caches its path until the next rename anywhere in the tree).
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class NodeTable {
    /** How the names of files hidden while open begin (libfuse's), as {@link #hiddenName} makes them. */
    static final String HIDDEN_PREFIX = ".fuse_hidden";

    /** The root directory's node id, fixed by the protocol. */
    public static final long ROOT_ID = 1;
    /** Reserved for the framework's readiness probe file. */
    public static final long PROBE_ID = 2;
    private static final int FIRST_FREE = 3;
    private static final int MAX_DEPTH = 4096;

    private final Object lock = new Object();
    private volatile Node[] slots = new Node[1024];
    private int[] reuse = new int[1024];
    private int[] free = new int[64];
    private int freeCount;
    private int nextSlot = FIRST_FREE;
    private volatile long epoch;
    private int live;
    private final Node root;
    private int hiddenCounter;
    /** Hard-linked files by the filesystem's inode number (only files with more than one link). */
    private final HashMap<Long, Node> byIno = new HashMap<>();
    /** Where every change is recorded for the next worker of a supervised mount; null when unsupervised. */
    private StateJournal journal;

    /** An empty table with the root directory. */
    public NodeTable() {
        root = new Node(ROOT_ID, 0, null, "");
        root.nlookup = 1;
        root.path = new Node.PathCache("/", Long.MIN_VALUE);
        slots[1] = root;
    }

    /** From now on, records every change in {@code j} (a supervised mount). */
    public void record(StateJournal j) {
        synchronized (lock) {
            journal = j;
        }
    }

    private static long unique() {
        return StateJournal.currentUnique();
    }

    /** The root directory. */
    public Node root() {
        return root;
    }

    /** The node with this id, or null when the kernel sent an id that is no longer (or never was) known. */
    public Node get(long id) {
        if (id == ROOT_ID) {
            return root;
        }
        Node[] s = slots;
        if (id <= 0 || id >= s.length) {
            return null;
        }
        return s[(int) id];
    }

    /**
     * The path of a node ({@code "/"} for the root), or null when it was unlinked (it has no name any more).
     * A hard-linked file has the path of its first name still in place.
     */
    public String path(Node n) {
        if (n == root) {
            return "/";
        }
        Node.PathCache c = n.path;
        long e = epoch;
        if (c != null && c.epoch() == e) {
            return c.path();
        }
        synchronized (lock) {
            String p = build(n);
            if (p != null) {
                n.path = new Node.PathCache(p, epoch);
            }
            return p;
        }
    }

    /** The path of {@code name} in directory {@code parent}, or null when the parent has no path. */
    public String childPath(Node parent, String name) {
        String p = path(parent);
        if (p == null) {
            return null;
        }
        return p.length() == 1 ? "/" + name : p + "/" + name;
    }

    private String build(Node n) {
        int depth = 0;
        int len = 0;
        for (Node x = n; x != root; x = x.parent) {
            if (x == null || x.parent == null) {
                return null; // unlinked, or a directory on the way was
            }
            depth++;
            len += x.name.length() + 1;
            if (depth > MAX_DEPTH) {
                throw new IllegalStateException("node tree loop at " + n.name);
            }
        }
        char[] out = new char[len];
        int at = len;
        for (Node x = n; x != root; x = x.parent) {
            String name = x.name;
            at -= name.length();
            name.getChars(0, name.length(), out, at);
            out[--at] = '/';
        }
        return new String(out);
    }

    /**
     * Counts one more kernel reference to {@code name} in {@code parent}, creating its node if needed. Call it
     * only for an answer that is about to be sent; undo it with {@link #forget} if sending fails.
     */
    public Node lookup(Node parent, String name) {
        return lookup(parent, name, 0, 0);
    }

    /**
     * As {@link #lookup(Node, String)}, for a file the filesystem reports with inode number {@code fsIno} (0 when
     * it reports none) and {@code nlink} links: a file with several links is remembered by its inode number, so
     * that its other names can become the same node ({@link #linkCandidate}).
     */
    public Node lookup(Node parent, String name, long fsIno, long nlink) {
        synchronized (lock) {
            Node n = parent.children == null ? null : parent.children.get(name);
            if (n == null) {
                n = allocate(parent, name);
                putChild(parent, name, n);
            }
            if (fsIno != 0 && nlink > 1 && n.fsIno == 0) {
                n.fsIno = fsIno;
                byIno.putIfAbsent(fsIno, n);
            }
            n.nlookup++;
            if (journal != null) {
                journal.nodeRef(unique(), n.id, n.generation, parent.id, name, n.fsIno);
            }
            return n;
        }
    }

    /**
     * A node with a name that the filesystem reported with inode number {@code fsIno} and several links: the
     * file that a new name with the same inode number may be another link of. Null when there is none.
     */
    public Node linkCandidate(long fsIno) {
        if (fsIno == 0) {
            return null;
        }
        synchronized (lock) {
            Node n = byIno.get(fsIno);
            return n != null && n.parent != null ? n : null;
        }
    }

    /**
     * Makes {@code name} in {@code parent} one more name of file {@code n} (a hard link), counting one more kernel
     * reference to {@code n}. If the name meanwhile leads to another node, that node is counted and returned
     * instead.
     */
    public Node addLink(Node n, Node parent, String name, long fsIno) {
        synchronized (lock) {
            Node existing = parent.children == null ? null : parent.children.get(name);
            if (existing != null) {
                existing.nlookup++;
                if (journal != null) {
                    journal.nodeRef(unique(), existing.id, existing.generation, parent.id, name, existing.fsIno);
                }
                return existing;
            }
            attachName(n, parent, name, fsIno);
            epoch++;
            if (journal != null) {
                journal.nodeLink(unique(), n.id, parent.id, name, n.fsIno);
            }
            return n;
        }
    }

    private static void putChild(Node parent, String name, Node n) {
        if (parent.children == null) {
            parent.children = new HashMap<>();
        }
        parent.children.put(name, n);
    }

    /** The child node of that name, if the kernel holds one. */
    public Node child(Node parent, String name) {
        synchronized (lock) {
            return parent.children == null ? null : parent.children.get(name);
        }
    }

    /** Drops {@code count} kernel references; the node is freed when none is left. */
    public void forget(long id, long count) {
        if (id == ROOT_ID || id == PROBE_ID) {
            return;
        }
        synchronized (lock) {
            Node n = get(id);
            if (n == null) {
                return;
            }
            n.nlookup -= count;
            if (journal != null) {
                journal.forget(id, count);
            }
            if (unused(n)) {
                release(n);
            }
        }
    }

    private void release(Node n) {
        if (n.parent != null && n.parent.children != null && n.parent.children.get(n.name) == n) {
            n.parent.children.remove(n.name);
        }
        for (Node.Alias a = n.aliases; a != null; a = a.next) {
            if (a.parent.children != null && a.parent.children.get(a.name) == n) {
                a.parent.children.remove(a.name);
            }
        }
        n.aliases = null;
        dropIno(n);
        int slot = (int) n.id;
        slots[slot] = null;
        reuse[slot]++;
        if (freeCount == free.length) {
            free = java.util.Arrays.copyOf(free, free.length * 2);
        }
        free[freeCount++] = slot;
        live--;
    }

    private void dropIno(Node n) {
        if (n.fsIno != 0 && byIno.get(n.fsIno) == n) {
            byIno.remove(n.fsIno);
        }
    }

    private Node allocate(Node parent, String name) {
        int slot;
        if (freeCount > 0) {
            slot = free[--freeCount];
        } else {
            slot = nextSlot++;
            if (slot >= slots.length) {
                Node[] bigger = java.util.Arrays.copyOf(slots, slots.length * 2);
                reuse = java.util.Arrays.copyOf(reuse, bigger.length);
                slots = bigger;
            }
        }
        Node n = new Node(slot, reuse[slot], parent, name);
        slots[slot] = n;
        live++;
        return n;
    }

    /**
     * Removes one name of a node (under the lock): its next name becomes the first; with no name left the node
     * keeps its id (the kernel may still hold it) but has no path any more.
     */
    private void dropName(Node n, Node parent, String name) {
        if (n.parent == parent && name.equals(n.name)) {
            Node.Alias a = n.aliases;
            if (a != null) {
                n.parent = a.parent;
                n.name = a.name;
                n.aliases = a.next;
            } else {
                n.parent = null;
                dropIno(n);
            }
            return;
        }
        Node.Alias prev = null;
        for (Node.Alias a = n.aliases; a != null; prev = a, a = a.next) {
            if (a.parent == parent && a.name.equals(name)) {
                if (prev == null) {
                    n.aliases = a.next;
                } else {
                    prev.next = a.next;
                }
                return;
            }
        }
    }

    /** Gives the name {@code (fromParent, fromName)} of {@code n} the new place {@code (toParent, toName)}. */
    private static void moveName(Node n, Node fromParent, String fromName, Node toParent, String toName) {
        if (n.parent == fromParent && fromName.equals(n.name)) {
            n.parent = toParent;
            n.name = toName;
        } else {
            for (Node.Alias a = n.aliases; a != null; a = a.next) {
                if (a.parent == fromParent && a.name.equals(fromName)) {
                    a.parent = toParent;
                    a.name = toName;
                    break;
                }
            }
        }
        putChild(toParent, toName, n);
    }

    /** The name was removed: its node loses that name (and its path, if it was the last one). */
    public void unlinked(Node parent, String name) {
        synchronized (lock) {
            if (parent.children == null) {
                return;
            }
            Node n = parent.children.remove(name);
            if (n != null) {
                dropName(n, parent, name);
                epoch++;
                if (journal != null) {
                    journal.unlink(unique(), parent.id, name);
                }
            }
        }
    }

    /** A node's own (hidden) name was removed: the file at its last release. */
    public void unlinked(Node n) {
        synchronized (lock) {
            Node parent = n.parent;
            if (parent != null) {
                if (parent.children != null && parent.children.get(n.name) == n) {
                    parent.children.remove(n.name);
                }
                dropName(n, parent, n.name);
            }
            n.hidden = false;
            n.anonymous = false;
            epoch++;
            if (journal != null) {
                journal.unlinkNode(n.id);
            }
        }
    }

    /** Counts one more kernel reference to an existing node (a lookup of "." or ".."). */
    public void ref(Node n) {
        synchronized (lock) {
            n.nlookup++;
            if (journal != null) {
                journal.ref(unique(), n.id);
            }
        }
    }

    /** Whether {@code ancestor} is {@code n} or a directory above it. */
    public boolean isAncestorOrSelf(Node ancestor, Node n) {
        synchronized (lock) {
            int depth = 0;
            for (Node x = n; x != null && depth <= MAX_DEPTH; x = x.parent, depth++) {
                if (x == ancestor) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * {@link #find}, and the node found kept from reuse until {@link #unhold}: for a notification, which names the
     * node by id. Without it, the kernel could forget the node between the lookup of its path and the write of
     * the notification, its slot go to a file looked up meanwhile, and the notification land on that file (a
     * STORE put one file's bytes into another's page cache: NotificationLoadTest, 1 run in a few).
     */
    public Node findAndHold(String path) {
        synchronized (lock) {
            return hold(find(path));
        }
    }

    /** {@link #child}, held as by {@link #findAndHold}. */
    public Node childAndHold(Node parent, String name) {
        synchronized (lock) {
            return hold(child(parent, name));
        }
    }

    private Node hold(Node n) {
        if (n != null) {
            n.holds++;
        }
        return n;
    }

    /**
     * Keeps node {@code n} in the table, with its names, until {@link #unhold}, also if the kernel forgets it
     * meanwhile: close-time work holds its file so, because the kernel may forget a file right after its last
     * RELEASE, and a hidden file whose node left the table while its close-time work was still to remove it was
     * invisible to the checks that look for hidden files (an rmdir right after an unlink).
     */
    public void keep(Node n) {
        synchronized (lock) {
            n.holds++;
        }
    }

    /** Ends a hold of {@link #findAndHold} or {@link #keep}; frees the node if the kernel forgot it meanwhile. */
    public void unhold(Node n) {
        synchronized (lock) {
            --n.holds;
            if (unused(n) && n != root && slots[(int) n.id] == n) {
                release(n);
            }
        }
    }

    /**
     * Frees node {@code n} if the kernel forgot it while it was open or hidden (its last release just ended): a
     * FORGET may come before the RELEASE that the kernel queued first (it hands out forgets ahead of requests).
     */
    public void releaseIfForgotten(Node n) {
        synchronized (lock) {
            if (unused(n) && n != root && slots[(int) n.id] == n) {
                release(n);
            }
        }
    }

    /**
     * Whether nothing needs node {@code n} any more: the kernel forgot it, nobody holds it, and it is neither open
     * nor hidden nor has close-time work (those keep it, with its hidden name, known to the checks that look for
     * hidden files until its last release removed that name). Caller holds the lock.
     */
    private static boolean unused(Node n) {
        return n.nlookup <= 0 && n.holds == 0 && n.openCount <= 0 && !n.hidden && n.pendingWork() == 0;
    }

    /** The name a node's path ends in (its first name: a hidden file's hidden name), or null if it has none. */
    public String nameOf(Node n) {
        synchronized (lock) {
            return n.parent == null ? null : n.name;
        }
    }

    /** The parent directory of a node (null for the root or an unlinked node). */
    public Node parentOf(Node n) {
        synchronized (lock) {
            return n.parent;
        }
    }

    /** A successful rename: moves the name (if the kernel holds its node) and drops a replaced target's name. */
    public void renamed(Node fromParent, String fromName, Node toParent, String toName) {
        synchronized (lock) {
            Node n = fromParent.children == null ? null : fromParent.children.get(fromName);
            Node replaced = toParent.children == null ? null : toParent.children.get(toName);
            if (n != null && n == replaced) {
                return; // two links of one file: rename(2) does nothing
            }
            if (n != null) {
                fromParent.children.remove(fromName);
            }
            if (replaced != null) {
                toParent.children.remove(toName);
                dropName(replaced, toParent, toName);
            }
            if (n != null) {
                moveName(n, fromParent, fromName, toParent, toName);
            }
            epoch++;
            if (journal != null) {
                journal.rename(unique(), fromParent.id, fromName, toParent.id, toName, false);
            }
        }
    }

    /** A successful {@code RENAME_EXCHANGE}: the two names now lead to each other's node. */
    public void exchanged(Node fromParent, String fromName, Node toParent, String toName) {
        synchronized (lock) {
            Node a = fromParent.children == null ? null : fromParent.children.remove(fromName);
            Node b = toParent.children == null ? null : toParent.children.remove(toName);
            if (a != null && a == b) {
                putChild(fromParent, fromName, a);
                putChild(toParent, toName, a);
                return;
            }
            if (a != null) {
                moveName(a, fromParent, fromName, toParent, toName);
            }
            if (b != null) {
                moveName(b, toParent, toName, fromParent, fromName);
            }
            epoch++;
            if (journal != null) {
                journal.rename(unique(), fromParent.id, fromName, toParent.id, toName, true);
            }
        }
    }

    /**
     * Marks a node open (a handle was handed out); while open, removing its last name hides it instead. Undone by
     * {@link #released}.
     */
    public void opened(Node n) {
        synchronized (lock) {
            n.openCount++;
            if (journal != null) {
                journal.opened(n.id);
            }
        }
    }

    /**
     * One handle of the file was released by the kernel: counted at once, when the RELEASE is read, so that an
     * unlink that follows a close sees the file closed (the kernel sends RELEASE asynchronously, just before).
     */
    public void released(Node n) {
        synchronized (lock) {
            n.openCount--;
            if (journal != null) {
                journal.released(n.id);
            }
        }
    }

    /**
     * At the end of close-time work of a file (its release ran): whether the caller must now remove its hidden
     * name, because it was unlinked while open, no handle is open any more and no other close-time work of it is
     * left ({@code ownWork}: the pieces of work the caller itself counts as pending, 1 for a queued job, 0
     * inline). Claimed once.
     */
    public boolean lastCloseOfHidden(Node n, int ownWork) {
        synchronized (lock) {
            if (n.hidden && n.openCount <= 0 && n.pendingWork() <= ownWork) {
                n.hidden = false;
                if (journal != null) {
                    journal.hiddenClaimed(n.id);
                }
                return true;
            }
            return false;
        }
    }

    /**
     * A piece of close-time work of {@code n} ended: counts it down and, in the same step, tells whether the caller
     * must now remove the file's hidden name ({@code mayRemove}: the work released a handle), claimed once. One
     * step, so that of two pieces of work ending together (or a work and an inline release) one always sees the
     * other's end: checked apart, each could see the other still pending and neither remove the hidden file.
     */
    public boolean workDoneAndLastCloseOfHidden(Node n, boolean mayRemove) {
        synchronized (lock) {
            n.workDone();
            return mayRemove && lastCloseOfHidden(n, 0);
        }
    }

    /**
     * The node that removing {@code name} from {@code parent} must hide instead (libfuse's hide_node): the
     * name's node while it is open and this is its last name; else null (a plain removal).
     */
    public Node toHide(Node parent, String name) {
        synchronized (lock) {
            Node n = parent.children == null ? null : parent.children.get(name);
            return n != null && n.openCount > 0 && n.aliases == null && n.parent == parent ? n : null;
        }
    }

    /**
     * Whether directory {@code dir} holds a hidden file (one unlinked while open, until its last release has
     * removed it).
     */
    public boolean hasHiddenChild(Node dir) {
        synchronized (lock) {
            if (dir == null || dir.children == null) {
                return false;
            }
            for (Map.Entry<String, Node> e : dir.children.entrySet()) {
                // also one whose last release claimed it and is removing it right now
                if (e.getValue().hidden || e.getKey().startsWith(HIDDEN_PREFIX)) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Whether the node is currently hidden (unlinked while open). */
    public boolean isHidden(Node n) {
        synchronized (lock) {
            return n.hidden;
        }
    }

    /**
     * Whether the node's hidden name is one of the links the filesystem counts (a file unlinked while open and
     * renamed to a hidden name), so that callers must be shown one link less; not so for an O_TMPFILE file,
     * whose reserved name is no link.
     */
    public boolean hidesLink(Node n) {
        synchronized (lock) {
            return n.hidden && !n.anonymous;
        }
    }

    /** A name to reserve for an O_TMPFILE file in a directory: never one of a file the kernel knows there. */
    public String tmpfileName(Node dir) {
        while (true) {
            String name;
            synchronized (lock) {
                name = String.format(".fuse_tmpfile%08x%08x", (int) dir.id, ++hiddenCounter);
            }
            if (child(dir, name) == null) {
                return name;
            }
        }
    }

    /**
     * Marks a node made by O_TMPFILE: hidden from birth under its reserved name, which its last release removes
     * (unless the file is linked meanwhile, the name then drops and its real names stay).
     */
    public void bornHidden(Node n) {
        synchronized (lock) {
            n.hidden = true;
            n.anonymous = true;
            if (journal != null) {
                journal.bornHidden(n.id);
            }
        }
    }

    /** Whether the node is an O_TMPFILE file still known only by its reserved name (or linked since). */
    public boolean isAnonymous(Node n) {
        synchronized (lock) {
            return n.anonymous;
        }
    }

    /**
     * The node the kernel holds for {@code path} ({@code "/"}-separated, absolute), found by walking the names
     * the kernel looked up; null when the kernel holds no node for it (then it has nothing of it cached). Never
     * waits for a request: it only takes the table's lock for the walk.
     */
    public Node find(String path) {
        if (path == null || path.isEmpty() || path.charAt(0) != '/') {
            return null;
        }
        synchronized (lock) {
            Node n = root;
            int at = 1;
            while (at < path.length()) {
                int next = path.indexOf('/', at);
                if (next < 0) {
                    next = path.length();
                }
                if (next > at) {
                    Node c = n.children == null ? null : n.children.get(path.substring(at, next));
                    if (c == null) {
                        return null;
                    }
                    n = c;
                }
                at = next + 1;
            }
            return n;
        }
    }

    /**
     * A name libfuse would give an open file that is unlinked ({@code .fuse_hiddenXXXXXXXXYYYYYYYY}), not
     * currently taken according to {@code taken}.
     */
    public String hiddenName(Node n, Predicate<String> taken) {
        for (int i = 0; i < 10; i++) {
            int c;
            synchronized (lock) {
                c = ++hiddenCounter;
            }
            String name = String.format(HIDDEN_PREFIX + "%08x%08x", (int) n.id, c);
            if (!taken.test(name)) {
                return name;
            }
        }
        return String.format(HIDDEN_PREFIX + "%08x%08x", (int) n.id, ThreadLocalRandom.current().nextInt());
    }

    /**
     * Records that a node was renamed to a hidden name in the same directory. Decided in one step with
     * {@link #lastCloseOfHidden}: returns true when the file is still open or has close-time work left (the last
     * of it removes the hidden file), false when all of that ended while it was being hidden (the caller removes
     * the hidden file now).
     */
    /**
     * Undoes {@link #hid}: the hidden file got its name {@code name} back (the rename it made way for failed).
     */
    public void unhid(Node n, String name) {
        synchronized (lock) {
            Node parent = n.parent;
            if (parent != null) {
                if (parent.children != null && parent.children.get(n.name) == n) {
                    parent.children.remove(n.name);
                }
                n.name = name;
                putChild(parent, name, n);
            }
            epoch++;
            n.hidden = false;
            if (journal != null) {
                journal.hide(n.id, name, false);
            }
        }
    }

    public boolean hid(Node n, String hiddenName) {
        synchronized (lock) {
            Node parent = n.parent;
            if (parent != null) {
                if (parent.children != null && parent.children.get(n.name) == n) {
                    parent.children.remove(n.name);
                }
                n.name = hiddenName;
                putChild(parent, hiddenName, n);
            }
            epoch++;
            boolean stillOpen = n.openCount > 0 || n.pendingWork() > 0;
            n.hidden = stillOpen;
            if (journal != null) {
                journal.hide(n.id, hiddenName, stillOpen);
            }
            return stillOpen;
        }
    }

    /** Paths of the nodes that are hidden right now (left behind if the filesystem stopped with them open). */
    public List<String> hiddenPaths() {
        List<String> out = new ArrayList<>();
        synchronized (lock) {
            for (Node n : slots) {
                if (n != null && n.hidden) {
                    String p = build(n);
                    if (p != null) {
                        out.add(p);
                    }
                }
            }
        }
        return out;
    }

    /** The hidden nodes right now, with their paths (to remove what is left at unmount). */
    public List<Node> hiddenNodes() {
        List<Node> out = new ArrayList<>();
        synchronized (lock) {
            for (Node n : slots) {
                if (n != null && n.hidden) {
                    out.add(n);
                }
            }
        }
        return out;
    }

    // ---- a supervised mount's next worker ----------------------------------------------------------------------

    /**
     * Writes the whole table into {@code j} as records (a snapshot for compaction): every node, then every name,
     * then the slots' reuse counters. The caller holds the journal's and the handle table's locks.
     */
    public void snapshot(StateJournal j) {
        synchronized (lock) {
            Node[] s = slots;
            for (int slot = FIRST_FREE; slot < nextSlot && slot < s.length; slot++) {
                Node n = s[slot];
                if (n != null) {
                    j.append(StateJournal.NODE_STATE).l(n.id).i(n.generation).l(n.nlookup).l(n.fsIno)
                            .i(n.openCount).i((n.hidden ? 1 : 0) | (n.anonymous ? 2 : 0)).commit();
                } else if (reuse[slot] > 0) {
                    j.append(StateJournal.SLOT_REUSE).l(slot).i(reuse[slot]).commit();
                }
            }
            // names, parents first (a name needs its directory): breadth first from the root
            ArrayDeque<Node> queue = new ArrayDeque<>();
            queue.add(root);
            java.util.Set<Node> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            seen.add(root);
            while (!queue.isEmpty()) {
                Node dir = queue.poll();
                if (dir.children == null) {
                    continue;
                }
                for (java.util.Map.Entry<String, Node> e : dir.children.entrySet()) {
                    Node c = e.getValue();
                    boolean primary = c.parent == dir && e.getKey().equals(c.name);
                    j.append(StateJournal.NAME_STATE).l(c.id).l(dir.id).i(primary ? 1 : 0).s(e.getKey()).commit();
                    if (seen.add(c)) {
                        queue.add(c);
                    }
                }
            }
        }
    }

    /** Applies one record of a journal to this (fresh) table; {@link #restored()} ends the replay. */
    public void restore(StateJournal.Entry e) {
        synchronized (lock) {
            switch (e.type()) {
                case StateJournal.NODE_STATE -> {
                    long id = e.l();
                    Node n = place(id, e.i());
                    n.nlookup = e.l();
                    n.fsIno = e.l();
                    n.openCount = e.i();
                    int flags = e.i();
                    n.hidden = (flags & 1) != 0;
                    n.anonymous = (flags & 2) != 0;
                    if (n.fsIno != 0) {
                        byIno.putIfAbsent(n.fsIno, n);
                    }
                }
                case StateJournal.NAME_STATE -> {
                    Node n = get(e.l());
                    Node dir = get(e.l());
                    boolean primary = e.i() == 1;
                    String name = e.s();
                    if (primary) {
                        n.parent = dir;
                        n.name = name;
                    } else {
                        n.aliases = new Node.Alias(dir, name, n.aliases);
                    }
                    putChild(dir, name, n);
                }
                case StateJournal.SLOT_REUSE -> {
                    int slot = (int) e.l();
                    grow(slot);
                    reuse[slot] = e.i();
                    nextSlot = Math.max(nextSlot, slot + 1);
                }
                case StateJournal.NODE_REF -> {
                    e.l(); // unique
                    long id = e.l();
                    int gen = e.i();
                    Node dir = get(e.l());
                    long fsIno = e.l();
                    String name = e.s();
                    Node n = dir.children == null ? null : dir.children.get(name);
                    if (n == null) {
                        n = place(id, gen);
                        n.parent = dir;
                        n.name = name;
                        putChild(dir, name, n);
                    }
                    if (fsIno != 0 && n.fsIno == 0) {
                        n.fsIno = fsIno;
                        byIno.putIfAbsent(fsIno, n);
                    }
                    n.nlookup++;
                }
                case StateJournal.NODE_LINK -> {
                    e.l();
                    Node n = get(e.l());
                    Node dir = get(e.l());
                    long fsIno = e.l();
                    String name = e.s();
                    attachName(n, dir, name, fsIno);
                }
                case StateJournal.REF -> {
                    e.l();
                    get(e.l()).nlookup++;
                }
                case StateJournal.FORGET -> {
                    Node n = get(e.l());
                    if (n != null) {
                        n.nlookup -= e.l();
                        if (n.nlookup <= 0) {
                            release(n);
                        }
                    }
                }
                case StateJournal.UNLINK -> {
                    e.l();
                    Node dir = get(e.l());
                    String name = e.s();
                    Node n = dir.children == null ? null : dir.children.remove(name);
                    if (n != null) {
                        dropName(n, dir, name);
                    }
                }
                case StateJournal.UNLINK_NODE -> {
                    Node n = get(e.l());
                    if (n != null && n.parent != null) {
                        if (n.parent.children != null && n.parent.children.get(n.name) == n) {
                            n.parent.children.remove(n.name);
                        }
                        dropName(n, n.parent, n.name);
                    }
                    if (n != null) {
                        n.hidden = false;
                        n.anonymous = false;
                    }
                }
                case StateJournal.BORN_HIDDEN -> {
                    Node n = get(e.l());
                    n.hidden = true;
                    n.anonymous = true;
                }
                case StateJournal.RENAME, StateJournal.EXCHANGE -> {
                    e.l();
                    Node from = get(e.l());
                    Node to = get(e.l());
                    String fromName = e.s();
                    String toName = e.s();
                    StateJournal saved = journal;
                    journal = null;
                    if (e.type() == StateJournal.RENAME) {
                        renamed(from, fromName, to, toName);
                    } else {
                        exchanged(from, fromName, to, toName);
                    }
                    journal = saved;
                }
                case StateJournal.HIDE -> {
                    Node n = get(e.l());
                    boolean hidden = e.i() == 1;
                    String hiddenName = e.s();
                    Node parent = n.parent;
                    if (parent != null) {
                        if (parent.children != null && parent.children.get(n.name) == n) {
                            parent.children.remove(n.name);
                        }
                        n.name = hiddenName;
                        putChild(parent, hiddenName, n);
                    }
                    n.hidden = hidden;
                }
                case StateJournal.OPENED -> get(e.l()).openCount++;
                case StateJournal.RELEASED -> get(e.l()).openCount--;
                case StateJournal.HIDDEN_CLAIMED -> get(e.l()).hidden = false;
                default -> {
                    // a handle record, or a result: not the node table's
                }
            }
            epoch++;
        }
    }

    /** A node restored in slot {@code id} with generation {@code gen} (no name yet). */
    private Node place(long id, int gen) {
        int slot = (int) id;
        grow(slot);
        Node n = new Node(slot, gen, null, "");
        slots[slot] = n;
        reuse[slot] = gen;
        nextSlot = Math.max(nextSlot, slot + 1);
        live++;
        return n;
    }

    private void grow(int slot) {
        while (slot >= slots.length) {
            Node[] bigger = java.util.Arrays.copyOf(slots, slots.length * 2);
            reuse = java.util.Arrays.copyOf(reuse, bigger.length);
            slots = bigger;
        }
    }

    /** Ends a replay: the free slots are known from the restored ones. */
    public void restored() {
        synchronized (lock) {
            freeCount = 0;
            for (int slot = nextSlot - 1; slot >= FIRST_FREE; slot--) {
                if (slots[slot] == null) {
                    if (freeCount == free.length) {
                        free = java.util.Arrays.copyOf(free, free.length * 2);
                    }
                    free[freeCount++] = slot;
                }
            }
            epoch++;
        }
    }

    /** Every node the kernel holds (the root excluded), for a new worker's checks. */
    public List<Node> nodes() {
        List<Node> out = new ArrayList<>();
        synchronized (lock) {
            for (Node n : slots) {
                if (n != null && n != root) {
                    out.add(n);
                }
            }
        }
        return out;
    }

    /** Nodes the kernel currently holds (the root included). */
    public int size() {
        synchronized (lock) {
            return live + 1;
        }
    }

    /** Runs {@code r} with the table held still (no change can happen meanwhile). */
    public void frozen(Runnable r) {
        synchronized (lock) {
            r.run();
        }
    }

    /**
     * Gives node {@code n} one more name ({@code parent}/{@code name}) and counts the kernel's lookup of it: a file
     * that lost its last name meanwhile takes it as its only one, else it becomes an alias (a hard link). Shared by
     * a live lookup of a link and the replay of one from the state journal. Caller holds the table's lock.
     */
    private void attachName(Node n, Node parent, String name, long fsIno) {
        if (n.parent == null) {
            n.parent = parent;
            n.name = name;
        } else {
            n.aliases = new Node.Alias(parent, name, n.aliases);
        }
        putChild(parent, name, n);
        if (fsIno != 0 && n.fsIno == 0) {
            n.fsIno = fsIno;
            byIno.putIfAbsent(fsIno, n);
        }
        n.nlookup++;
    }
}
