package io.fuseguard.api;

import jnr.constants.platform.Errno;

import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;

/**
 * A filesystem served through FUSE by fuseguard. Implement the operations you support; the defaults answer
 * what libfuse answers for a missing operation (ENOSYS, or success for open/release).
 *
 * <h2>Memory safety</h2>
 * No native pointer ever reaches this interface. Paths, names and write data are copied out of libfuse's
 * memory before the handler runs; attributes, directory entries, read data and link targets are copied into
 * libfuse's memory only after the handler returned and only if the request is still unanswered. A handler
 * that is still running after its request timed out can keep using every object it was given: they belong to
 * the Java heap and are simply discarded.
 *
 * <h2>Errors</h2>
 * Throw {@link ErrnoException} to answer an errno. Any other exception is answered with EIO and logged once.
 *
 * <h2>Threads and deadlines</h2>
 * Handlers run on a bounded worker pool, concurrently. Each request has a deadline (per {@link OperationKind});
 * when it passes, the kernel gets an error answer, the handler thread is interrupted and its late result is
 * discarded. Handlers that wait should therefore wait interruptibly. (An interrupt during NIO
 * {@code FileChannel} I/O closes the channel: filesystems that keep channels across requests should set
 * {@code FuseguardConfig.Builder#interruptStalledHandlers(false)}.) {@link RequestContext#current()} tells a
 * handler who called and how much time is left.
 *
 * <h2>Close semantics</h2>
 * Under the default flush policy the kernel never sends FLUSH, so {@link #flush} is not called and
 * {@code close()} never fails late; {@link #release} is the "after close" hook (the kernel never waits on it)
 * and {@link #fsync} is the durability point that reports errors.
 */
public interface FuseFileSystem {

    /**
     * Called once when the kernel connected, before any other operation (on a request thread; the mount is not
     * answering yet, so do not use the mount from here).
     */
    default void init() {
    }

    /**
     * Called once when the mount ends (unmount, {@code close()}, SIGTERM), after the last operation and after
     * close-time work (deferred flushes, releases) was drained.
     */
    default void destroy() {
    }

    /** Attributes of {@code path}; throw ENOENT when it does not exist. Also serves lookups. */
    FileAttributes getattr(String path);

    /** Lists a directory ({@code "."} and {@code ".."} are added by the framework when missing). */
    default void readdir(String path, DirectorySink sink) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Opens a file and returns a file handle of your choosing that later calls get back. */
    default long open(String path, int flags) {
        return 0;
    }

    /**
     * Creates and opens a regular file.
     *
     * @param mode  permission bits requested (umask already applied by the kernel)
     * @param flags open flags
     * @return a file handle
     */
    default long create(String path, int mode, int flags) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Reads up to {@code dst.remaining()} bytes at {@code offset} into {@code dst} (a heap buffer owned by the
     * framework). Returns the number of bytes read; fewer than requested means end of file.
     */
    default int read(String path, long fh, ByteBuffer dst, long offset) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Writes {@code src} (a read-only copy of the caller's data) at {@code offset}. Returns the number of bytes
     * written.
     */
    default int write(String path, long fh, ByteBuffer src, long offset) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Changes the size of a file. */
    default void truncate(String path, long size) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Only under the bounded flush policy: called on every close() of a file descriptor, with a deadline. */
    default void flush(String path, long fh) {
    }

    /** The last descriptor of an open file was closed. The kernel does not wait for this: the "after close" hook. */
    default void release(String path, long fh, int flags) {
    }

    /** Makes the file's data durable; the place to report a failed upload. */
    default void fsync(String path, long fh, boolean dataOnly) {
    }

    /**
     * Creates a special file: a FIFO, a socket, or a character or block device node ({@code mkfifo},
     * {@code mknod}, {@code bind} of a unix socket). Regular files come through {@link #create}.
     *
     * @param mode type bits ({@link FileType#ofMode}) and permission bits (umask applied by the kernel)
     * @param rdev device number for device nodes
     */
    default void mknod(String path, int mode, long rdev) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Creates a directory. */
    default void mkdir(String path, int mode) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Removes an empty directory. */
    default void rmdir(String path) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Removes a file or symlink. */
    default void unlink(String path) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Renames, replacing an existing target as POSIX rename does. */
    default void rename(String from, String to) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Creates a symlink at {@code linkPath} that points to {@code target}. */
    default void symlink(String target, String linkPath) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** The target of a symlink. */
    default String readlink(String path) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Creates a hard link {@code newPath} to {@code existing}. */
    default void link(String existing, String newPath) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Changes permission bits (the argument may carry type bits; ignore them). */
    default void chmod(String path, int mode) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Changes owner and/or group; -1 means "leave unchanged". */
    default void chown(String path, long uid, long gid) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Sets access and modification times; a {@code null} time means "leave unchanged". */
    default void utimens(String path, Instant atime, Instant mtime) {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Filesystem statistics. The default reports an empty filesystem of unknown size, as libfuse does. */
    default FsStats statfs(String path) {
        return new FsStats(512, 0, 0, 0, 0, 0, 255);
    }

    /** Sets an extended attribute ({@code flags}: XATTR_CREATE=1, XATTR_REPLACE=2). */
    default void setxattr(String path, String name, byte[] value, int flags) {
        throw new ErrnoException(Errno.ENOTSUP);
    }

    /** The value of an extended attribute; throw ENODATA when absent. */
    default byte[] getxattr(String path, String name) {
        throw new ErrnoException(Errno.ENOTSUP);
    }

    /** Names of the extended attributes of a file. */
    default List<String> listxattr(String path) {
        return List.of();
    }

    /** Removes an extended attribute; throw ENODATA when absent. */
    default void removexattr(String path, String name) {
        throw new ErrnoException(Errno.ENOTSUP);
    }
}
