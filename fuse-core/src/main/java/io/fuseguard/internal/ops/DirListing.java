package io.fuseguard.internal.ops;

import java.util.Arrays;

/**
 * The entries of one directory listing, collected when READDIR starts at offset 0 and served from there at
 * whatever offsets the kernel asks (the entry index is the offset). Sealed once the handler returned, so a
 * handler that keeps adding entries after its deadline changes nothing.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class DirListing {
    private String[] names = new String[16];
    private long[] inos = new long[16];
    private int[] types = new int[16];
    /** The attributes the filesystem listed with each entry (its bridge's own type), or null. */
    private Object[] attrs;
    private int size;
    private boolean sealed;

    /** Adds an entry; {@code type} is the S_IFMT bits of its mode (0 when unknown), {@code ino} 0 when unknown. */
    public synchronized void add(String name, long ino, int type) {
        add(name, ino, type, null);
    }

    /**
     * Adds an entry with the attributes the filesystem listed for it ({@code listed}: the bridge's own value, turned
     * into wire attributes by {@link FsOps#listedAttributes} for READDIRPLUS), or null.
     */
    public synchronized void add(String name, long ino, int type, Object listed) {
        if (sealed) {
            return;
        }
        if (size == names.length) {
            names = Arrays.copyOf(names, size * 2);
            inos = Arrays.copyOf(inos, size * 2);
            types = Arrays.copyOf(types, size * 2);
            if (attrs != null) {
                attrs = Arrays.copyOf(attrs, size * 2);
            }
        }
        if (listed != null && attrs == null) {
            attrs = new Object[names.length];
        }
        names[size] = name;
        inos[size] = ino;
        types[size] = type;
        if (attrs != null) {
            attrs[size] = listed;
        }
        size++;
    }

    /** The attributes listed with entry {@code i}, or null. */
    public synchronized Object listed(int i) {
        return attrs == null ? null : attrs[i];
    }

    /** Whether an entry of this name was added. */
    public synchronized boolean contains(String name) {
        for (int i = 0; i < size; i++) {
            if (names[i].equals(name)) {
                return true;
            }
        }
        return false;
    }

    /** Stops accepting entries. */
    public synchronized void seal() {
        sealed = true;
    }

    /** Number of entries. */
    public synchronized int size() {
        return size;
    }

    /** The name of entry {@code i}. */
    public synchronized String name(int i) {
        return names[i];
    }

    /** The inode number of entry {@code i} (0 when unknown). */
    public synchronized long ino(int i) {
        return inos[i];
    }

    /** The type bits of entry {@code i} (0 when unknown). */
    public synchronized int type(int i) {
        return types[i];
    }
}
