package io.fuseguard.api;

/**
 * What an {@code lseek(2)} that reaches a filesystem looks for ({@link FuseFileSystem#lseek}): the kernel handles
 * {@code SEEK_SET}, {@code SEEK_CUR} and {@code SEEK_END} itself and asks the filesystem only about holes.
 */
public enum SeekWhence {
    /** {@code SEEK_DATA}: the first offset at or after the given one that holds data. */
    DATA(3),
    /** {@code SEEK_HOLE}: the first offset at or after the given one that is in a hole (the end of file counts). */
    HOLE(4);

    private final int raw;

    SeekWhence(int raw) {
        this.raw = raw;
    }

    /** The {@code whence} value of {@code lseek(2)}. */
    public int raw() {
        return raw;
    }

    /** The value for {@code lseek(2)}'s {@code whence}, or null for one the filesystem is never asked about. */
    public static SeekWhence of(int whence) {
        return switch (whence) {
            case 3 -> DATA;
            case 4 -> HOLE;
            default -> null;
        };
    }
}
