package io.fuseguard.api;

/** How {@code setxattr} may treat an existing attribute ({@code setxattr(2)}'s flags). */
public enum XattrMode {
    /** Create it or replace it. */
    SET,
    /** XATTR_CREATE: fail with EEXIST if it exists. */
    CREATE,
    /** XATTR_REPLACE: fail with ENODATA if it does not exist. */
    REPLACE;

    /** The mode of {@code setxattr(2)} flags. */
    public static XattrMode of(int flags) {
        return (flags & 1) != 0 ? CREATE : (flags & 2) != 0 ? REPLACE : SET;
    }
}
