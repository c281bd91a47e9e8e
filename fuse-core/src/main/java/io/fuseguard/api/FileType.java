package io.fuseguard.api;

/** The type bits of a file mode ({@code S_IFMT}), as the kernel expects them in attributes. */
public enum FileType {
    REGULAR(0100000),
    DIRECTORY(0040000),
    SYMLINK(0120000),
    FIFO(0010000),
    CHARACTER_DEVICE(0020000),
    BLOCK_DEVICE(0060000),
    SOCKET(0140000);

    /** Mask of the type bits in a mode. */
    public static final int S_IFMT = 0170000;

    private final int bits;

    FileType(int bits) {
        this.bits = bits;
    }

    /** The {@code S_IF*} bits of this type. */
    public int bits() {
        return bits;
    }

    /** The type encoded in a full mode, or {@link #REGULAR} if the type bits are absent. */
    public static FileType ofMode(long mode) {
        int t = (int) (mode & S_IFMT);
        for (FileType type : values()) {
            if (type.bits == t) {
                return type;
            }
        }
        return REGULAR;
    }
}
