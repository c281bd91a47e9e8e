package io.fuseguard.api;

/**
 * What a {@code fallocate(2)} call asks for, decoded from its mode bits. The plain call ({@link #plain()})
 * allocates the range and grows the file if the range ends past it; the flags change that.
 */
public final class FallocateMode {
    private static final int KEEP_SIZE = 0x01;
    private static final int PUNCH_HOLE = 0x02;
    private static final int COLLAPSE_RANGE = 0x08;
    private static final int ZERO_RANGE = 0x10;
    private static final int INSERT_RANGE = 0x20;
    private static final int UNSHARE_RANGE = 0x40;

    private final int raw;

    private FallocateMode(int raw) {
        this.raw = raw;
    }

    /** The mode as the kernel passes it. */
    public static FallocateMode of(int raw) {
        return new FallocateMode(raw);
    }

    /** No flag: allocate, growing the file when the range ends past its size. */
    public boolean plain() {
        return raw == 0;
    }

    /** {@code FALLOC_FL_KEEP_SIZE}: allocate without changing the file's size. */
    public boolean keepSize() {
        return (raw & KEEP_SIZE) != 0;
    }

    /** {@code FALLOC_FL_PUNCH_HOLE} (always with KEEP_SIZE): deallocate the range; it reads as zeros. */
    public boolean punchHole() {
        return (raw & PUNCH_HOLE) != 0;
    }

    /** {@code FALLOC_FL_ZERO_RANGE}: the range reads as zeros afterwards. */
    public boolean zeroRange() {
        return (raw & ZERO_RANGE) != 0;
    }

    /** {@code FALLOC_FL_COLLAPSE_RANGE}: remove the range, shifting the rest of the file down. */
    public boolean collapseRange() {
        return (raw & COLLAPSE_RANGE) != 0;
    }

    /** {@code FALLOC_FL_INSERT_RANGE}: insert a hole at the offset, shifting the rest of the file up. */
    public boolean insertRange() {
        return (raw & INSERT_RANGE) != 0;
    }

    /** {@code FALLOC_FL_UNSHARE_RANGE}: unshare shared (reflinked) blocks of the range. */
    public boolean unshareRange() {
        return (raw & UNSHARE_RANGE) != 0;
    }

    /** The mode bits, for passing them on to the host's {@code fallocate}. */
    public int raw() {
        return raw;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FallocateMode m && m.raw == raw;
    }

    @Override
    public int hashCode() {
        return raw;
    }

    @Override
    public String toString() {
        return "FallocateMode[0x" + Integer.toHexString(raw) + "]";
    }
}
