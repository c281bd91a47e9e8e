package io.fuseguard.examples.host;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;

import java.nio.ByteBuffer;

/**
 * The libc calls the examples' host layer is built on: the {@code *at} family on directory descriptors, so that no
 * host path is ever built (no PATH_MAX limit, no component re-resolved between a check and its use), plus I/O on
 * descriptors. jnr-posix lacks the {@code *at} calls; the JDK has none of them. Every call returns -1 and sets
 * errno on failure (jnr-ffi saves it: {@code LastError}). Use it through {@link Host#LIBC}.
 *
 * <p>Structures are read at fixed offsets from layouts that x86-64 and arm64 share: {@code statx} (the same on
 * every architecture, unlike {@code struct stat}), {@code struct statvfs}, {@code struct dirent64} and
 * {@code struct timespec}.
 */
public interface HostLibC {
    /** openat(2). */
    int openat(int dirfd, String path, int flags, int mode);

    /** syscall(2), used for openat2(2), which glibc does not wrap: (number, dirfd, path, how, size). */
    long syscall(long number, int dirfd, String path, Pointer how, long size);

    /** close(2). */
    int close(int fd);

    /** statx(2) into a buffer of {@link #STATX_SIZE} bytes. */
    int statx(int dirfd, String path, int flags, int mask, Pointer buf);

    /** mkdirat(2). */
    int mkdirat(int dirfd, String path, int mode);

    /** mknodat(2). */
    int mknodat(int dirfd, String path, int mode, long dev);

    /** unlinkat(2). */
    int unlinkat(int dirfd, String path, int flags);

    /** renameat(2). */
    int renameat(int olddirfd, String oldpath, int newdirfd, String newpath);

    /** renameat2(2): renameat with RENAME_NOREPLACE / RENAME_EXCHANGE (glibc 2.28+). */
    int renameat2(int olddirfd, String oldpath, int newdirfd, String newpath, int flags);

    /** linkat(2). */
    int linkat(int olddirfd, String oldpath, int newdirfd, String newpath, int flags);

    /** symlinkat(2): the target is stored verbatim (the JDK would normalise {@code "a//b/"}). */
    int symlinkat(String target, int newdirfd, String linkpath);

    /** readlinkat(2); the result is not NUL-terminated. */
    long readlinkat(int dirfd, String path, @Out byte[] buf, long size);

    /** fchownat(2). */
    int fchownat(int dirfd, String path, int owner, int group, int flags);

    /** fchown(2). */
    int fchown(int fd, int owner, int group);

    /** fchmod(2). */
    int fchmod(int fd, int mode);

    /** fchmodat(2) (with AT_SYMLINK_NOFOLLOW glibc refuses symlinks instead of following them). */
    int fchmodat(int dirfd, String path, int mode, int flags);

    /** utimensat(2) with two {@code struct timespec} (32 bytes). */
    int utimensat(int dirfd, String path, Pointer times, int flags);

    /** pread(2) into a direct buffer at its position. */
    long pread(int fd, @Out ByteBuffer buf, long count, long offset);

    /** pwrite(2) from a direct buffer at its position. */
    long pwrite(int fd, @In ByteBuffer buf, long count, long offset);

    /** geteuid(2). */
    int geteuid();

    /** fsync(2). */
    int fsync(int fd);

    /** ftruncate(2). */
    int ftruncate(int fd, long length);

    /** fallocate(2). */
    int fallocate(int fd, int mode, long offset, long length);

    /** fdatasync(2). */
    int fdatasync(int fd);

    /** truncate(2): used on {@code /proc/self/fd/N} of a checked regular file. */
    int truncate(String path, long length);

    /** fstatvfs(3) into a buffer of at least {@link #STATVFS_SIZE} bytes. */
    int fstatvfs(int fd, Pointer buf);

    /** fdopendir(3): the stream owns the descriptor from then on. */
    Pointer fdopendir(int fd);

    /** readdir(3): a {@code struct dirent64}, or null at the end (or on error, errno set). */
    Pointer readdir(Pointer dir);

    /** closedir(3). */
    int closedir(Pointer dir);

    /**
     * getxattr(2), used on {@code /proc/self/fd/N} of an {@code O_PATH} descriptor: following that magic link
     * reaches exactly the opened inode, a symlink itself included (see {@code PassthroughFs} on xattrs).
     */
    long getxattr(String path, String name, @Out byte[] value, long size);

    /** setxattr(2), as {@link #getxattr}. */
    int setxattr(String path, String name, @In byte[] value, long size, int flags);

    /** listxattr(2), as {@link #getxattr}. */
    long listxattr(String path, @Out byte[] list, long size);

    /** removexattr(2), as {@link #getxattr}. */
    int removexattr(String path, String name);

    /** lseek(2): the new offset, or -1 (ENXIO: no data, or no hole, after the offset). */
    long lseek(int fd, long offset, int whence);

    /**
     * copy_file_range(2) between two descriptors, at the offsets in {@code offIn} and {@code offOut} (one
     * {@code loff_t} each, advanced by the call).
     */
    long copy_file_range(int fdIn, Pointer offIn, int fdOut, Pointer offOut, long length, int flags);

    /** fcntl(2) with a {@code struct flock} ({@link #FLOCK_SIZE} bytes): the lock commands. */
    int fcntl(int fd, int cmd, Pointer lock);

    /** flock(2). */
    int flock(int fd, int operation);

    /** futimens(2) with two {@code struct timespec} (32 bytes). */
    int futimens(int fd, Pointer times);

    /** sizeof(struct flock) on 64-bit Linux: l_type, l_whence (shorts), l_start, l_len, l_pid. */
    int FLOCK_SIZE = 32;

    /** sizeof(struct statx) (the same on every architecture). */
    int STATX_SIZE = 256;

    /** sizeof(struct statvfs) on 64-bit Linux (x86_64, aarch64), rounded up generously. */
    int STATVFS_SIZE = 128;

    /** Loads libc once. */
    static HostLibC load() {
        return Holder.INSTANCE;
    }

    /** Lazy holder. */
    final class Holder {
        static final HostLibC INSTANCE = LibraryLoader.create(HostLibC.class).load("c");

        private Holder() {
        }
    }
}
