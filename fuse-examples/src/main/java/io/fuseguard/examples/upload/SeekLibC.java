package io.fuseguard.examples.upload;

/**
 * {@code lseek(2)}, which the host layer does not bind: {@link CachedUploadFs} finds a cache file's data
 * extents with {@code SEEK_DATA} and {@code SEEK_HOLE} to upload a sparse file without its holes. Public only
 * because jnr-ffi implements it in a class loader of its own; not part of the example's API.
 */
public interface SeekLibC {
    /** lseek(2): the new offset, or -1 with errno set (ENXIO: no data after the offset). */
    long lseek(int fd, long offset, int whence);
}
