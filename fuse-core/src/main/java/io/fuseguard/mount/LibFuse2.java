package io.fuseguard.mount;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;

/**
 * The parts of libfuse 2 that jnr-fuse does not bind (fuse_new: see {@link FuseNew}): the split mount/new/loop API (so a failed mount is an
 * error right away instead of after a fixed wait), {@code fuse_interrupted()} and a raw
 * {@code fuse_get_context()} (read without allocating a struct wrapper per request).
 */
public interface LibFuse2 {
    /** Mounts and returns the channel, or NULL (libfuse prints why on stderr). */
    Pointer fuse_mount(String mountpoint, Pointer args);

    /** Runs the multi-threaded request loop until the session ends. */
    int fuse_loop_mt(Pointer fuse);

    /**
     * Closes the channel's fd, frees the channel, and unmounts if the connection is still alive. Only after the
     * loop ended: its workers use the channel.
     */
    void fuse_unmount(String mountpoint, Pointer ch);

    /** Frees the filesystem; only after the loop ended. */
    void fuse_destroy(Pointer fuse);

    /** Frees the arguments libfuse reallocated while parsing. */
    void fuse_opt_free_args(Pointer args);

    /** Non-zero when the kernel interrupted the request of the calling libfuse thread. */
    int fuse_interrupted();

    /** The request context of the calling libfuse thread. */
    Pointer fuse_get_context();

    /** Loads libfuse.so.2 or explains which package to install. */
    static LibFuse2 load() throws MountException {
        return load("libfuse.so.2", "fuse");
    }

    /** Loads the first of the given library names that loads. */
    static LibFuse2 load(String... names) throws MountException {
        Throwable first = null;
        for (String name : names) {
            try {
                return LibraryLoader.create(LibFuse2.class).failImmediately().load(name);
            } catch (Throwable t) {
                if (first == null) {
                    first = t;
                }
            }
        }
        throw new MountException(MountException.Reason.LIBFUSE_MISSING,
                "libfuse.so.2 could not be loaded: install the libfuse2 package (Debian/Ubuntu: apt-get install "
                        + "libfuse2; Fedora: dnf install fuse-libs)", first);
    }
}
