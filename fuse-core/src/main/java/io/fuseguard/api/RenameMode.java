package io.fuseguard.api;

/**
 * How a rename treats an existing target: {@code rename(2)}, or one of the two {@code renameat2(2)} flags that a
 * filesystem may support.
 */
public enum RenameMode {
    /** {@code rename(2)}: an existing target is replaced atomically. */
    REPLACE,
    /** {@code RENAME_NOREPLACE}: fail with EEXIST when the target exists; atomic with respect to creation. */
    NO_REPLACE,
    /** {@code RENAME_EXCHANGE}: swap source and target atomically; both must exist (ENOENT otherwise). */
    EXCHANGE;

    private static final int RENAME_NOREPLACE = 1;
    private static final int RENAME_EXCHANGE = 2;

    /** The mode of {@code renameat2} flags as the kernel passes them, or null for flags without a mode here. */
    public static RenameMode ofFlags(int flags) {
        return switch (flags) {
            case 0 -> REPLACE;
            case RENAME_NOREPLACE -> NO_REPLACE;
            case RENAME_EXCHANGE -> EXCHANGE;
            default -> null; // RENAME_WHITEOUT (overlayfs' own) or a combination the kernel already refuses
        };
    }

    /** The {@code renameat2} flags of this mode. */
    public int flags() {
        return switch (this) {
            case REPLACE -> 0;
            case NO_REPLACE -> RENAME_NOREPLACE;
            case EXCHANGE -> RENAME_EXCHANGE;
        };
    }
}
