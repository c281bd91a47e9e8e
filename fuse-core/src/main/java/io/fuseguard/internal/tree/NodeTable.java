package io.fuseguard.internal.tree;

import java.util.HashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Predicate;

/**
 * The node ids the kernel holds, and the path each one stands for: what libfuse's high-level layer keeps, for
 * filesystems that think in paths. Node ids are {@code slot | reuse << 32}, so a table lookup is an array index
 * and a stale id never reaches a newer node in the same slot.
 *
 * <p>Structural changes (lookup, forget, rename, unlink) take the table lock for microseconds; building a
 * path usually does not (each node caches its path until the next rename anywhere in the tree).
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class NodeTable {
    /** The root directory's node id, fixed by the protocol. */
    public static final long ROOT_ID = 1;
    /** Reserved for the framework's readiness probe file. */
    public static final long PROBE_ID = 2;
    private static final int FIRST_FREE = 3;

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

    /** An empty table with the root directory. */
    public NodeTable() {
        root = new Node(ROOT_ID, null, "");
        root.nlookup = 1;
        root.path = new Node.PathCache("/", Long.MIN_VALUE);
        slots[1] = root;
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
        int slot = (int) id;
        Node[] s = slots;
        if (slot <= 0 || slot >= s.length) {
            return null;
        }
        Node n = s[slot];
        return n != null && n.id == id ? n : null;
    }

    /**
     * The path of a node ({@code "/"} for the root), or null when it was unlinked (it has no name any more).
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
            if (depth > 4096) {
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
        synchronized (lock) {
            Node n = parent.children == null ? null : parent.children.get(name);
            if (n == null) {
                n = allocate(parent, name);
                if (parent.children == null) {
                    parent.children = new HashMap<>();
                }
                parent.children.put(name, n);
            }
            n.nlookup++;
            return n;
        }
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
            if (n.nlookup <= 0) {
                release(n);
            }
        }
    }

    private void release(Node n) {
        if (n.parent != null && n.parent.children != null && n.parent.children.get(n.name) == n) {
            n.parent.children.remove(n.name);
        }
        int slot = (int) n.id;
        slots[slot] = null;
        reuse[slot]++;
        if (freeCount == free.length) {
            free = java.util.Arrays.copyOf(free, free.length * 2);
        }
        free[freeCount++] = slot;
        live--;
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
        long id = ((long) reuse[slot] << 32) | slot;
        Node n = new Node(id, parent, name);
        slots[slot] = n;
        live++;
        return n;
    }

    /** The name was removed: the node keeps its id (the kernel may still hold it) but has no path any more. */
    public void unlinked(Node parent, String name) {
        synchronized (lock) {
            if (parent.children == null) {
                return;
            }
            Node n = parent.children.remove(name);
            if (n != null) {
                n.parent = null;
                epoch++;
            }
        }
    }

    /** A node's own name was removed (a hidden file at its last release). */
    public void unlinked(Node n) {
        synchronized (lock) {
            Node parent = n.parent;
            if (parent != null && parent.children != null && parent.children.get(n.name) == n) {
                parent.children.remove(n.name);
            }
            n.parent = null;
            epoch++;
        }
    }

    /** Counts one more kernel reference to an existing node (a lookup of "." or ".."). */
    public void ref(Node n) {
        synchronized (lock) {
            n.nlookup++;
        }
    }

    /** The parent directory of a node (null for the root or an unlinked node). */
    public Node parentOf(Node n) {
        synchronized (lock) {
            return n.parent;
        }
    }

    /** A successful rename: moves the node (if the kernel holds one) and drops a replaced target's name. */
    public void renamed(Node fromParent, String fromName, Node toParent, String toName) {
        synchronized (lock) {
            Node n = fromParent.children == null ? null : fromParent.children.remove(fromName);
            Node replaced = toParent.children == null ? null : toParent.children.remove(toName);
            if (replaced != null && replaced != n) {
                replaced.parent = null;
            }
            if (n != null) {
                n.parent = toParent;
                n.name = toName;
                if (toParent.children == null) {
                    toParent.children = new HashMap<>();
                }
                toParent.children.put(toName, n);
            }
            epoch++;
        }
    }

    /** A successful {@code RENAME_EXCHANGE}: the two names now lead to each other's node. */
    public void exchanged(Node fromParent, String fromName, Node toParent, String toName) {
        synchronized (lock) {
            Node a = fromParent.children == null ? null : fromParent.children.remove(fromName);
            Node b = toParent.children == null ? null : toParent.children.remove(toName);
            if (a != null) {
                attach(a, toParent, toName);
            }
            if (b != null) {
                attach(b, fromParent, fromName);
            }
            epoch++;
        }
    }

    private static void attach(Node n, Node parent, String name) {
        n.parent = parent;
        n.name = name;
        if (parent.children == null) {
            parent.children = new HashMap<>();
        }
        parent.children.put(name, n);
    }

    /** Marks a node open (a handle was handed out); while open, an unlink hides it instead. */
    public void opened(Node n) {
        synchronized (lock) {
            n.openCount++;
        }
    }

    /**
     * Marks one handle of the node released. Returns true when that was the last one and the node was hidden:
     * the caller must then remove the hidden file (its path is still valid until it does).
     */
    public boolean closed(Node n) {
        synchronized (lock) {
            n.openCount--;
            if (n.openCount <= 0 && n.hidden) {
                n.hidden = false;
                return true;
            }
            return false;
        }
    }

    /** Whether the kernel-visible name {@code name} in {@code parent} is open. */
    public boolean isOpen(Node parent, String name) {
        synchronized (lock) {
            Node n = parent.children == null ? null : parent.children.get(name);
            return n != null && n.openCount > 0;
        }
    }

    /** Whether the node is currently hidden (unlinked while open). */
    public boolean isHidden(Node n) {
        synchronized (lock) {
            return n.hidden;
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
            String name = String.format(".fuse_hidden%08x%08x", (int) n.id, c);
            if (!taken.test(name)) {
                return name;
            }
        }
        return String.format(".fuse_hidden%08x%08x", (int) n.id, ThreadLocalRandom.current().nextInt());
    }

    /** Records that a node was renamed to a hidden name in the same directory. */
    public void hid(Node n, String hiddenName) {
        synchronized (lock) {
            Node parent = n.parent;
            if (parent == null) {
                return;
            }
            if (parent.children != null) {
                parent.children.remove(n.name);
                parent.children.put(hiddenName, n);
            }
            n.name = hiddenName;
            n.hidden = true;
            epoch++;
        }
    }

    /** Paths of the nodes that are hidden right now (left behind if the filesystem stopped with them open). */
    public java.util.List<String> hiddenPaths() {
        java.util.List<String> out = new java.util.ArrayList<>();
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

    /** Nodes the kernel currently holds (the root included). */
    public int size() {
        synchronized (lock) {
            return live + 1;
        }
    }
}
