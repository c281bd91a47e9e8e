package io.fuseguard.internal.tree;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * Keeps the path a handler works on from changing while it runs, as libfuse's high-level layer does with its
 * tree locks: a handler that writes through an open file of {@code /d/a} never has {@code /d} renamed under it
 * (its bytes would land in whatever is called {@code /d/a} next), and a lookup of a name never pairs the
 * attributes of the file that had the name with the node that has it after a concurrent rename.
 *
 * <p>Two kinds of holders:
 * <ul>
 *   <li>A <b>pin</b>, held by every request that turns a node into a path for the filesystem (reads, writes,
 *       attributes, lookups and creations of a name, close-time work): the node it resolves (for requests on a
 *       name, the directory and the name). Taking one is a volatile write and a volatile read while no change
 *       is in progress: no lock, no allocation.</li>
 *   <li>A <b>write lock</b>, held by a request that moves or removes names (rename, unlink, rmdir): the names
 *       it changes and the nodes behind them. It waits until no pin depends on what it locks (a pinned node at
 *       or below a locked node, or a pinned name that it changes), and pins wait while it holds.</li>
 * </ul>
 * Every wait ends at the waiter's deadline (the caller then answers as at a missed deadline), so a stuck handler
 * delays conflicting changes but cannot wedge the mount. A holder that waits holds nothing meanwhile, so two
 * waiters never wait on each other.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class PathLocks {
    /**
     * One thread's hold. Owned by a thread that runs handlers (request and close-time threads each have one) and
     * written only by it; read by changes that check what they would disturb.
     */
    public static final class Pin {
        /** The pinned node (for a request on a name: its directory); null when nothing is held. */
        volatile Node node;
        /** The pinned name in {@link #node}, or null. Written before {@link #node}. */
        String name;
        /** A second pinned node and name (a link's source; a rename's other directory), or null. */
        Node node2;
        String name2;
        /** The write lock this pin belongs to, if its owner is a change. */
        Write own;

        /** Whether this thread holds anything now. */
        public boolean held() {
            return node != null;
        }
    }

    /** What a change holds: the names it changes and the nodes behind them. */
    private static final class Write {
        final Node dir1;
        final String name1;
        final Node dir2;
        final String name2;
        final Node[] nodes;

        Write(Node dir1, String name1, Node dir2, String name2, Node[] nodes) {
            this.dir1 = dir1;
            this.name1 = name1;
            this.dir2 = dir2;
            this.name2 = name2;
            this.nodes = nodes;
        }
    }

    private final NodeTable table;
    private final Object monitor = new Object();
    private final CopyOnWriteArrayList<Pin> pins = new CopyOnWriteArrayList<>();
    private final List<Write> writes = new ArrayList<>();
    /** Changes holding or waiting for their lock; while 0, pins take nothing but their own two writes. */
    private volatile int writers;

    /** Locks over the paths of {@code table}. */
    public PathLocks(NodeTable table) {
        this.table = table;
    }

    /** Makes a thread's pin visible to changes (once, when the thread starts serving this mount). */
    public void register(Pin p) {
        pins.addIfAbsent(p);
    }

    /** Forgets a thread's pin (when the thread ends). */
    public void unregister(Pin p) {
        p.node = null;
        pins.remove(p);
    }

    // ---- pins ----------------------------------------------------------------------------------------------

    /**
     * Pins {@code node} (and {@code name} in it, when the request is about a name) for the running request;
     * waits while a change holds a conflicting lock. Returns false when {@code deadlineNanos} passed (or the
     * thread was interrupted) first; then nothing is held.
     */
    public boolean pin(Pin p, Node node, String name, long deadlineNanos) {
        return pin(p, node, name, null, null, deadlineNanos);
    }

    /** As {@link #pin(Pin, Node, String, long)}, with a second node and name. */
    public boolean pin(Pin p, Node node, String name, Node node2, String name2, long deadlineNanos) {
        p.name = name;
        p.node2 = node2;
        p.name2 = name2;
        p.own = null;
        p.node = node;
        if (writers == 0) {
            return true; // the common case: no change anywhere (the write above and this read pair with lock())
        }
        return pinSlowly(p, node, deadlineNanos);
    }

    private boolean pinSlowly(Pin p, Node node, long deadlineNanos) {
        synchronized (monitor) {
            if (!blockedByWrite(p)) {
                return true;
            }
            // Hold nothing while waiting: a change may be waiting for this very pin, set on the fast path. From
            // here on the pin is set and checked only under the monitor, so no change ever waits for it again
            // (and waiters need not wake each other: only a change's end does).
            p.node = null;
            monitor.notifyAll();
            while (true) {
                if (!await(deadlineNanos)) {
                    return false;
                }
                p.node = node;
                if (!blockedByWrite(p)) {
                    return true;
                }
                p.node = null;
            }
        }
    }

    /**
     * Releases what {@code p} holds (a pin or a write lock); nothing when it holds nothing. The engine calls it
     * just before a request's answer is written, as libfuse's high-level layer frees its path locks before it
     * replies: the kernel sends the next request the moment it has the answer (an UNLINK right after its
     * LOOKUP), and a holder still between its answer and its release would make that request wait (a futex
     * wait and wake each time: measured, one unlink in four waited). What the pin guards is done by then: the
     * filesystem has answered, and the node table records what the answer says.
     */
    public void unpin(Pin p) {
        Write w = p.own;
        if (w == null && p.node == null) {
            return;
        }
        p.node = null;
        if (w != null) {
            p.own = null;
            synchronized (monitor) {
                writes.remove(w);
                writers--;
                monitor.notifyAll();
            }
        } else if (writers != 0) {
            synchronized (monitor) {
                monitor.notifyAll(); // a change may be waiting for this pin
            }
        }
    }

    // ---- write locks ---------------------------------------------------------------------------------------

    /**
     * Locks name {@code name1} in {@code dir1} (and {@code name2} in {@code dir2}, for a rename) together with
     * the nodes the kernel holds for them, once no other change conflicts and no pin depends on them. Returns
     * false when {@code deadlineNanos} passed (or the thread was interrupted) first; then nothing is held.
     * Release it with {@link #unpin}.
     */
    public boolean lock(Pin p, Node dir1, String name1, Node dir2, String name2, long deadlineNanos) {
        synchronized (monitor) {
            writers++;
            Write w = null;
            try {
                while (true) {
                    Node[] nodes = {table.child(dir1, name1), dir2 == null ? null : table.child(dir2, name2)};
                    Write candidate = new Write(dir1, name1, dir2, name2, nodes);
                    if (!conflictsWithWrites(candidate)) {
                        w = candidate;
                        break;
                    }
                    if (!await(deadlineNanos)) {
                        return false;
                    }
                }
                writes.add(w);
                p.name = name1;
                p.node2 = dir2;
                p.name2 = name2;
                p.own = w;
                p.node = dir1;
                while (pinDependsOn(w, p)) {
                    if (!await(deadlineNanos)) {
                        writes.remove(w);
                        p.own = null;
                        p.node = null;
                        w = null;
                        return false;
                    }
                }
                return true;
            } finally {
                if (w == null) {
                    writers--;
                    monitor.notifyAll();
                }
            }
        }
    }

    private boolean await(long deadlineNanos) {
        long left = deadlineNanos - System.nanoTime();
        if (left <= 0) {
            return false;
        }
        try {
            TimeUnit.NANOSECONDS.timedWait(monitor, Math.min(left, TimeUnit.MILLISECONDS.toNanos(50)));
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    // ---- conflicts (under the monitor) ---------------------------------------------------------------------

    private boolean blockedByWrite(Pin p) {
        for (Write w : writes) {
            if (pinConflicts(p.node, p.name, w) || p.node2 != null && pinConflicts(p.node2, p.name2, w)) {
                return true;
            }
        }
        return false;
    }

    private boolean pinDependsOn(Write w, Pin self) {
        for (Pin p : pins) {
            if (p == self) {
                continue;
            }
            Node n = p.node;
            if (n == null || p.own != null) {
                continue; // holds nothing, or is a change: changes were checked against each other
            }
            if (pinConflicts(n, p.name, w) || p.node2 != null && pinConflicts(p.node2, p.name2, w)) {
                return true;
            }
        }
        return false;
    }

    private boolean conflictsWithWrites(Write c) {
        for (Write w : writes) {
            if (pinConflicts(c.dir1, c.name1, w) || c.dir2 != null && pinConflicts(c.dir2, c.name2, w)
                    || pinConflicts(w.dir1, w.name1, c) || w.dir2 != null && pinConflicts(w.dir2, w.name2, c)) {
                return true;
            }
            for (Node a : c.nodes) {
                for (Node b : w.nodes) {
                    if (a != null && a == b) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /** Whether a holder of {@code node} (and {@code name} in it) depends on what change {@code w} locks. */
    private boolean pinConflicts(Node node, String name, Write w) {
        if (name != null && (node == w.dir1 && name.equals(w.name1) || node == w.dir2 && name.equals(w.name2))) {
            return true;
        }
        for (Node locked : w.nodes) {
            if (locked != null && table.isAncestorOrSelf(locked, node)) {
                return true;
            }
        }
        return false;
    }
}
