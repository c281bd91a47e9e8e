package io.fuseguard.internal.ops;

import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.wire.Attr;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * The one operation table between the request dispatcher and a filesystem: every FUSE operation the framework
 * forwards, by path, with typed arguments. Two bridges implement it: one for fuseguard's own memory-safe API
 * ({@code FuseFileSystem}), one for unchanged jnr-fuse filesystems. Results are {@code >= 0}, or {@code -errno};
 * a bridge converts exceptions to errnos at this boundary and never throws.
 *
 * <p>Paths are never null for the operations the kernel sends on a named file, except for operations on a
 * handle whose file was removed while open under the {@code hard_remove} option (then {@code path} is null).
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public interface FsOps {
    /** Whether the filesystem has its own flush (close-time work the framework must run). */
    boolean implementsFlush();

    /**
     * Whether the filesystem's own inode numbers are what callers see (a non-zero {@code ino} in its attributes),
     * whatever the {@code use_ino} option says: true for fuseguard's API, whose attributes document it; a jnr-fuse
     * filesystem gets libfuse 2's behaviour (only with {@code use_ino}).
     */
    default boolean reportsInodes() {
        return false;
    }

    /** Behaviours of this filesystem that fuseguard serves differently, to be logged at mount. */
    List<String> behaviourNotes(io.fuseguard.config.FlushPolicy policy);

    /** Called once the kernel connected (INIT), before any other operation. */
    void init(OpContext c, int protoMajor, int protoMinor, int maxWrite, int maxReadahead);

    /** Called once after the last operation, when the mount ends. */
    void destroy(OpContext c);

    int getattr(OpContext c, String path, long fh, boolean hasFh, Attr out);

    /** Writes the link target (UTF-8, no NUL) into {@code out}; returns its length. */
    int readlink(OpContext c, String path, ByteBuffer out);

    int mknod(OpContext c, String path, int mode, int rdev);

    int mkdir(OpContext c, String path, int mode);

    int unlink(OpContext c, String path);

    int rmdir(OpContext c, String path);

    int symlink(OpContext c, String target, String path);

    /** A rename with {@code renameat2} flags (0 for a plain rename). */
    int rename(OpContext c, String from, String to, int flags);

    int link(OpContext c, String from, String to);

    int chmod(OpContext c, String path, int mode);

    /** {@code -1} for either id means "unchanged". */
    int chown(OpContext c, String path, int uid, int gid);

    /** A change that only touches ctime (chown(-1, -1), for instance). */
    int touchCtime(OpContext c, String path);

    int truncate(OpContext c, String path, long size, long fh, boolean hasFh);

    /** Nanosecond fields may be {@code Fuse.UTIME_NOW} or {@code Fuse.UTIME_OMIT}. */
    int utimens(OpContext c, String path, long atimeSec, long atimeNsec, long mtimeSec, long mtimeNsec);

    int open(OpContext c, String path, int flags, OpenResult out);

    int create(OpContext c, String path, int mode, int flags, OpenResult out);

    /**
     * Opens a still-open file again in a new worker of a supervised mount (flags without O_CREAT/O_EXCL/O_TRUNC).
     * The default is {@link #open}.
     */
    default int reopen(OpContext c, String path, int flags, OpenResult out) {
        return open(c, path, flags, out);
    }

    /** {@link #backingFile}: the filesystem names no backing file (or failing to, was logged by the bridge). */
    int NO_BACKING = -1;
    /** {@link #backingFile}: the filesystem named a backing file whose descriptor could not be found. */
    int UNKNOWN_DESCRIPTOR = -2;

    /** Whether the filesystem can name backing files for its opens (FUSE passthrough). */
    default boolean backsFiles() {
        return false;
    }

    /**
     * The descriptor of the file the kernel should read and write directly for the file just opened as {@code fh}
     * (a descriptor the filesystem owns and keeps open), {@link #NO_BACKING}, or {@link #UNKNOWN_DESCRIPTOR}.
     */
    default int backingFile(OpContext c, String path, long fh, int flags) {
        return NO_BACKING;
    }

    /** Reads into {@code dst} (position 0, limit = size); returns the byte count. */
    int read(OpContext c, String path, long fh, ByteBuffer dst, long offset);

    /** Writes {@code src} (read-only, position 0, limit = size); returns the byte count. */
    int write(OpContext c, String path, long fh, ByteBuffer src, long offset);

    int statfs(OpContext c, String path, StatfsResult out);

    int flush(OpContext c, String path, long fh);

    int release(OpContext c, String path, long fh, int flags);

    int fsync(OpContext c, String path, long fh, boolean dataOnly);

    int fallocate(OpContext c, String path, long fh, int mode, long offset, long length);

    int opendir(OpContext c, String path, int flags, OpenResult out);

    int readdir(OpContext c, String path, long fh, DirListing out);

    /**
     * Fills {@code out} with the attributes a listing carried for an entry ({@link DirListing#listed}); false when
     * they cannot be sent (the kernel then looks the entry up as after a plain READDIR).
     */
    default boolean listedAttributes(Object listed, io.fuseguard.internal.wire.Attr out) {
        return false;
    }

    int releasedir(OpContext c, String path, long fh);

    int fsyncdir(OpContext c, String path, long fh, boolean dataOnly);

    int setxattr(OpContext c, String path, String name, ByteBuffer value, int flags);

    /**
     * Writes the value into {@code out} and returns its size; with {@code out == null} only returns the size.
     * Returns {@code -ERANGE} when it does not fit.
     */
    int getxattr(OpContext c, String path, String name, ByteBuffer out);

    /** As {@link #getxattr}, for the NUL-separated list of names. */
    int listxattr(OpContext c, String path, ByteBuffer out);

    int removexattr(OpContext c, String path, String name);

    int access(OpContext c, String path, int mask);

    // ---- operations a filesystem may leave out (ENOSYS: the kernel then does without them, as before) ----------

    /** Whether POSIX record locks are the filesystem's (then INIT asks the kernel to forward them). */
    default boolean implementsLocks() {
        return false;
    }

    /** Whether {@code flock} locks are the filesystem's (then INIT asks the kernel to forward them). */
    default boolean implementsFlock() {
        return false;
    }

    /** Puts the lock that conflicts with {@code lock} into it (type {@code F_UNLCK} when none does). */
    default int getlk(OpContext c, String path, long fh, long owner, LockRecord lock) {
        return -Syscalls.ENOSYS;
    }

    /** Takes, changes or releases a record lock; with {@code wait}, waits (interruptibly) for a conflict to end. */
    default int setlk(OpContext c, String path, long fh, long owner, LockRecord lock, boolean wait) {
        return -Syscalls.ENOSYS;
    }

    /** {@code flock} of type {@code F_RDLCK} (shared), {@code F_WRLCK} (exclusive) or {@code F_UNLCK}. */
    default int flock(OpContext c, String path, long fh, long owner, int type, boolean wait) {
        return -Syscalls.ENOSYS;
    }

    /** {@code SEEK_DATA} (3) or {@code SEEK_HOLE} (4): the offset found, or {@code -errno}. */
    default long lseek(OpContext c, String path, long fh, long offset, int whence) {
        return -Syscalls.ENOSYS;
    }

    /** Bytes copied, or {@code -errno}. */
    default long copyFileRange(OpContext c, String pathIn, long fhIn, long offsetIn, String pathOut, long fhOut,
                               long offsetOut, long length, int flags) {
        return -Syscalls.ENOSYS;
    }

    /** Attributes with the birth time ({@code out.hasBtime}) when the filesystem keeps it. */
    default int statx(OpContext c, String path, long fh, boolean hasFh, int flags, int mask, Attr out) {
        return -Syscalls.ENOSYS;
    }

    /**
     * A restricted ioctl on an open file: the argument's bytes (its size and direction encoded in {@code cmd}) in
     * {@code data}: for an ioctl that returns bytes, {@code data} has room for {@code outSize} of them (the input,
     * if any, copied in first), and what the handler leaves there goes back. Returns the ioctl's result or
     * {@code -errno}. {@code arg} is the caller's argument as a number (an address in the caller's process for
     * ioctls that pass a struct: never dereference it).
     */
    default int ioctl(OpContext c, String path, long fh, boolean directory, int cmd, long arg, int flags,
                      ByteBuffer data, int outSize) {
        return -Syscalls.ENOSYS;
    }

    /**
     * poll(2) on an open file: the ready events, or {@code -errno}. With {@code kh != 0} the kernel wants to be
     * told when the file becomes ready: through the waker given by {@link #pollWaker}, with that handle.
     */
    default int poll(OpContext c, String path, long fh, long kh, int events) {
        return -Syscalls.ENOSYS;
    }

    /** Given once, before INIT: how the filesystem tells the kernel that a polled file became ready. */
    default void pollWaker(java.util.function.LongConsumer wake) {
    }

    /** Creates and opens an unnamed file known by the reserved name {@code path} (see FuseFileSystem.tmpfile). */
    default int tmpfile(OpContext c, String path, int mode, int flags, OpenResult out) {
        return -Syscalls.ENOSYS;
    }
}
