package io.fuseguard.internal.tree;

import io.fuseguard.internal.state.StateJournal;

import java.util.ArrayList;
import java.util.List;

/**
 * The open handles, by the number the kernel holds ({@code slot | reuse << 32}: an array index, and a number
 * that is never handed out twice for the life of the mount, so a late request can never reach a newer file).
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class HandleTable {
    private final Object lock = new Object();
    private volatile Handle[] slots = new Handle[256];
    private int[] reuse = new int[256];
    private int[] free = new int[64];
    private int freeCount;
    private int nextSlot = 1;
    private int open;
    private StateJournal journal;

    /** From now on, records every change in {@code j} (a supervised mount). */
    public void record(StateJournal j) {
        synchronized (lock) {
            journal = j;
        }
    }

    /** Registers a new handle, opened by the caller {@code uid}/{@code gid}/{@code pid}. */
    public Handle add(Node node, long userFh, int flags, boolean directory, int uid, int gid, int pid) {
        synchronized (lock) {
            Handle h = add(node, userFh, flags, directory);
            h.opener(uid, gid, pid);
            if (journal != null) {
                journal.handleAdd(StateJournal.currentUnique(), h.id(), node.id(), flags, directory, uid, gid, pid);
            }
            return h;
        }
    }

    /**
     * Marks a handle released by the kernel (once; its close-time work may still be to do): true the first
     * time.
     */
    public boolean released(Handle h) {
        synchronized (lock) {
            if (!h.markReleased()) {
                return false;
            }
            if (journal != null) {
                journal.handleReleased(StateJournal.currentUnique(), h.id());
            }
            return true;
        }
    }

    /** Registers a new handle. */
    private Handle add(Node node, long userFh, int flags, boolean directory) {
        synchronized (lock) {
            int slot;
            if (freeCount > 0) {
                slot = free[--freeCount];
            } else {
                slot = nextSlot++;
                if (slot >= slots.length) {
                    Handle[] bigger = java.util.Arrays.copyOf(slots, slots.length * 2);
                    reuse = java.util.Arrays.copyOf(reuse, bigger.length);
                    slots = bigger;
                }
            }
            long id = ((long) reuse[slot] << 32) | slot;
            Handle h = new Handle(id, node, userFh, flags, directory);
            slots[slot] = h;
            open++;
            return h;
        }
    }

    /** The handle with this number, or null. */
    public Handle get(long id) {
        int slot = (int) id;
        Handle[] s = slots;
        if (slot <= 0 || slot >= s.length) {
            return null;
        }
        Handle h = s[slot];
        return h != null && h.id() == id ? h : null;
    }

    /** Forgets a handle (after its release ran). */
    public void remove(Handle h) {
        synchronized (lock) {
            int slot = (int) h.id();
            if (slots[slot] == h) {
                if (journal != null) {
                    journal.handleRemoved(h.id());
                }
                slots[slot] = null;
                reuse[slot]++;
                if (freeCount == free.length) {
                    free = java.util.Arrays.copyOf(free, free.length * 2);
                }
                free[freeCount++] = slot;
                open--;
            }
        }
    }

    /** Every handle not yet removed. */
    public List<Handle> all() {
        synchronized (lock) {
            List<Handle> out = new ArrayList<>();
            for (Handle h : slots) {
                if (h != null) {
                    out.add(h);
                }
            }
            return out;
        }
    }

    /** How many handles are open. */
    public int size() {
        synchronized (lock) {
            return open;
        }
    }

    /** Writes every handle into {@code j} (a snapshot for compaction). */
    public void snapshot(StateJournal j) {
        synchronized (lock) {
            for (int slot = 1; slot < nextSlot && slot < slots.length; slot++) {
                Handle h = slots[slot];
                if (h != null) {
                    j.append(StateJournal.HANDLE_STATE).l(h.id()).l(h.node().id()).i(h.flags())
                            .i(h.isDirectory() ? 1 : 0).i(h.openerUid()).i(h.openerGid()).i(h.openerPid())
                            .i(h.isReleased() ? 1 : 0).commit();
                } else if (reuse[slot] > 0) {
                    j.append(StateJournal.HANDLE_SLOT_REUSE).l(slot).i(reuse[slot]).commit();
                }
            }
        }
    }

    /**
     * Applies one record of a journal to this (fresh) table; nodes come from {@code nodes}. Restored handles
     * have no filesystem handle yet ({@link Handle#reopened}); {@link #restored()} ends the replay.
     */
    public void restore(StateJournal.Entry e, NodeTable nodes) {
        synchronized (lock) {
            switch (e.type()) {
                case StateJournal.HANDLE_ADD -> {
                    e.l();
                    long id = e.l();
                    Node n = nodes.get(e.l());
                    int flags = e.i();
                    boolean dir = e.i() == 1;
                    place(id, n, flags, dir).opener(e.i(), e.i(), e.i());
                }
                case StateJournal.HANDLE_STATE -> {
                    long id = e.l();
                    Node n = nodes.get(e.l());
                    int flags = e.i();
                    boolean dir = e.i() == 1;
                    Handle h = place(id, n, flags, dir);
                    h.opener(e.i(), e.i(), e.i());
                    if (e.i() == 1) {
                        h.markReleased();
                    }
                }
                case StateJournal.HANDLE_RELEASED -> {
                    e.l();
                    Handle h = get(e.l());
                    if (h != null) {
                        h.markReleased();
                    }
                }
                case StateJournal.HANDLE_REMOVED -> {
                    Handle h = get(e.l());
                    if (h != null) {
                        remove(h);
                    }
                }
                case StateJournal.HANDLE_SLOT_REUSE -> {
                    int slot = (int) e.l();
                    grow(slot);
                    reuse[slot] = e.i();
                    nextSlot = Math.max(nextSlot, slot + 1);
                }
                default -> {
                    // a node record, or a result
                }
            }
        }
    }

    private Handle place(long id, Node node, int flags, boolean directory) {
        int slot = (int) id;
        grow(slot);
        Handle h = new Handle(id, node, -1, flags, directory);
        slots[slot] = h;
        reuse[slot] = (int) (id >>> 32);
        nextSlot = Math.max(nextSlot, slot + 1);
        open++;
        return h;
    }

    private void grow(int slot) {
        while (slot >= slots.length) {
            Handle[] bigger = java.util.Arrays.copyOf(slots, slots.length * 2);
            reuse = java.util.Arrays.copyOf(reuse, bigger.length);
            slots = bigger;
        }
    }

    /** Ends a replay: the free slots are known from the restored ones. */
    public void restored() {
        synchronized (lock) {
            freeCount = 0;
            for (int slot = nextSlot - 1; slot >= 1; slot--) {
                if (slots[slot] == null) {
                    if (freeCount == free.length) {
                        free = java.util.Arrays.copyOf(free, free.length * 2);
                    }
                    free[freeCount++] = slot;
                }
            }
        }
    }

    /** Runs {@code r} with the table held still (no change can happen meanwhile). */
    public void frozen(Runnable r) {
        synchronized (lock) {
            r.run();
        }
    }
}
