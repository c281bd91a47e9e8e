package io.fuseguard.internal.tree;

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

    /** Registers a new handle. */
    public Handle add(Node node, long userFh, int flags, boolean directory) {
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
}
