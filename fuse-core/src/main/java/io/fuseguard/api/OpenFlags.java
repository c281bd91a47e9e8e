package io.fuseguard.api;

/**
 * The flags a file was opened with ({@code open(2)}'s {@code flags}), read through names instead of bit masks.
 * {@link #raw()} keeps the kernel's value for anything not named here.
 */
public final class OpenFlags {
    /** How the file was opened. */
    public enum Access { READ_ONLY, WRITE_ONLY, READ_WRITE }

    private static final int O_ACCMODE = 03;
    private static final int O_CREAT = 0100;
    private static final int O_EXCL = 0200;
    private static final int O_TRUNC = 01000;
    private static final int O_APPEND = 02000;
    private static final int O_NONBLOCK = 04000;
    private static final int O_SYNC = 04010000;
    private static final int O_DSYNC = 010000;
    private static final int O_DIRECT = 040000;
    private static final int O_NOATIME = 01000000;

    private final int raw;

    private OpenFlags(int raw) {
        this.raw = raw;
    }

    /*
     * Every open, create and release carries flags, and a handful of values (O_RDONLY|O_LARGEFILE, O_WRONLY|O_CREAT
     * ..., each with or without O_CLOEXEC) make up nearly all of them. A small direct-mapped table of the instances
     * seen keeps the request path free of an allocation per open. Races are benign: instances are immutable, so a
     * reader sees either a complete instance or a miss (and makes its own).
     */
    private static final int CACHE_SIZE = 64;
    private static final OpenFlags[] CACHE = new OpenFlags[CACHE_SIZE];

    /** Flags as the kernel passes them. */
    public static OpenFlags of(int raw) {
        int slot = (raw ^ (raw >>> 6) ^ (raw >>> 12) ^ (raw >>> 18)) & (CACHE_SIZE - 1);
        OpenFlags cached = CACHE[slot];
        if (cached != null && cached.raw == raw) {
            return cached;
        }
        OpenFlags made = new OpenFlags(raw);
        CACHE[slot] = made;
        return made;
    }

    /** Read-only, write-only or both. */
    public Access access() {
        return switch (raw & O_ACCMODE) {
            case 0 -> Access.READ_ONLY;
            case 1 -> Access.WRITE_ONLY;
            default -> Access.READ_WRITE;
        };
    }

    /** Whether the file may be read through this open. */
    public boolean readable() {
        return access() != Access.WRITE_ONLY;
    }

    /** Whether the file may be written through this open. */
    public boolean writable() {
        return access() != Access.READ_ONLY;
    }

    /** O_APPEND: every write goes to the end. */
    public boolean append() {
        return (raw & O_APPEND) != 0;
    }

    /** O_TRUNC (only seen when the mount option {@code atomic_o_trunc} is on; else the kernel truncates). */
    public boolean truncate() {
        return (raw & O_TRUNC) != 0;
    }

    /** O_CREAT. */
    public boolean create() {
        return (raw & O_CREAT) != 0;
    }

    /** O_EXCL. */
    public boolean exclusive() {
        return (raw & O_EXCL) != 0;
    }

    /** O_SYNC or O_DSYNC: writes are expected to be durable when they return. */
    public boolean sync() {
        return (raw & (O_SYNC | O_DSYNC)) != 0;
    }

    /** O_DIRECT. */
    public boolean direct() {
        return (raw & O_DIRECT) != 0;
    }

    /** O_NONBLOCK. */
    public boolean nonBlocking() {
        return (raw & O_NONBLOCK) != 0;
    }

    /** O_NOATIME. */
    public boolean noAtime() {
        return (raw & O_NOATIME) != 0;
    }

    /** The kernel's value. */
    public int raw() {
        return raw;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof OpenFlags f && f.raw == raw;
    }

    @Override
    public int hashCode() {
        return raw;
    }

    @Override
    public String toString() {
        return access() + (append() ? "|APPEND" : "") + (create() ? "|CREATE" : "") + (exclusive() ? "|EXCL" : "")
                + (truncate() ? "|TRUNC" : "") + (sync() ? "|SYNC" : "") + (direct() ? "|DIRECT" : "")
                + " (0" + Integer.toOctalString(raw) + ")";
    }
}
