package io.fuseguard.examples.host;

/**
 * Where a FUSE path lives on the host, ready for an {@code *at} call: an open descriptor of its parent
 * directory and its last name, which is never followed if it is a symlink. Closing releases the parent
 * descriptor (the root's own is kept).
 *
 * <p>The root itself has no parent inside the mirrored tree; it is reached as {@code /proc/self/fd/N} of the
 * root descriptor, a magic link that lands exactly on the root directory. That path must be followed, so its
 * {@link #atFlags()} and {@link #openFlags()} do not ask for "no follow" (the root is a directory: there is
 * nothing further to follow).
 *
 * @param dirfd  the parent directory's descriptor, or {@code AT_FDCWD} for the root
 * @param name   the last component, or the root's {@code /proc/self/fd/N} path
 * @param isRoot whether this is the root of the mirrored tree
 * @param owned  whether {@link #close()} closes {@code dirfd}
 */
public record Entry(int dirfd, String name, boolean isRoot, boolean owned) implements AutoCloseable {

    /** Flags for {@code fstatat}-like calls: never follow a final symlink. */
    public int atFlags() {
        return isRoot ? 0 : Host.AT_SYMLINK_NOFOLLOW;
    }

    /** Flags for {@code openat}: never open through a final symlink. */
    public int openFlags() {
        return isRoot ? 0 : Host.O_NOFOLLOW;
    }

    /** Opens this entry itself with {@code O_PATH} (for calls that need a descriptor of exactly this inode). */
    public int openPath() {
        return Host.check(Host.LIBC.openat(dirfd, name, Host.O_PATH | Host.O_CLOEXEC | openFlags(), 0),
                "open " + name);
    }

    @Override
    public void close() {
        if (owned) {
            Host.close(dirfd);
        }
    }
}
