package io.fuseguard.examples.upload;

import jnr.ffi.LibraryLoader;

/**
 * The libc calls the upload example needs beyond the host layer's: {@code lseek(2)} to find a cache file's
 * data extents ({@code SEEK_DATA}/{@code SEEK_HOLE}), so a sparse file is uploaded without its holes,
 * {@code setpriority(2)} on the calling thread, so uploads run at a lower CPU priority than the requests, and
 * {@code flock(2)}, which keeps a second filesystem off a cache in use ({@link CacheLock}). Public only because
 * jnr-ffi implements it in a class loader of its own; not part of the example's API.
 */
public interface UploadLibC {
    /** lseek(2): the new offset, or -1 with errno set (ENXIO: no data after the offset). */
    long lseek(int fd, long offset, int whence);

    /** setpriority(2); with {@code which} PRIO_PROCESS (0) and a thread id, that thread's nice value. */
    int setpriority(int which, int who, int prio);

    /** gettid(2): the calling thread's id. */
    int gettid();

    /** flock(2): 0, or -1 with errno set (EWOULDBLOCK with LOCK_NB when another open file holds the lock). */
    int flock(int fd, int operation);

    /** The instance, loaded on first use. */
    static UploadLibC get() {
        return Holder.INSTANCE;
    }

    /** Lazy holder. */
    final class Holder {
        static final UploadLibC INSTANCE = LibraryLoader.create(UploadLibC.class).load("c");

        private Holder() {
        }
    }
}
