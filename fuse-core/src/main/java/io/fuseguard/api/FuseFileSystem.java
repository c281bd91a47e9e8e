package io.fuseguard.api;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A filesystem served through FUSE by fuseguard, by path. Implement the operations you support; the defaults
 * answer what libfuse answers for a missing operation (ENOSYS; success for open and release; an empty
 * filesystem of unknown size for statfs).
 *
 * <h2>Paths</h2>
 * Absolute, {@code /}-separated, decoded as UTF-8. A request whose name is not valid UTF-8 is answered EILSEQ
 * before it reaches the filesystem: decoding it lossily would make different names one (and a write to one
 * would replace the other). Names a filesystem lists are encoded as UTF-8.
 *
 * <h2>Errors</h2>
 * Convert nothing yourself: throw {@link ErrnoException} for a chosen errno, or let an {@link IOException}
 * through: fuseguard converts it at the boundary ({@code NoSuchFileException} is ENOENT,
 * {@code FileAlreadyExistsException} EEXIST, {@code AccessDeniedException} EACCES, a
 * {@code FileSystemException} whose reason is a system error's text gets that error, ...). Anything else is
 * answered EIO and logged once per operation and exception type.
 *
 * <h2>Threads, deadlines, interrupts</h2>
 * Handlers run concurrently, each on the thread that read its request from the kernel. Each request has a
 * deadline (per {@link OperationKind}); when it passes, the kernel gets an error answer (EIO by default), the
 * handler's thread is interrupted and given up (a new thread serves the next requests), and the handler's late
 * result is discarded. A caller's signal does not disturb a request (as in libfuse: the kernel cannot restart a
 * call answered EINTR, so programs with signal handlers, JVMs and Go programs would see spurious EINTR); only
 * when the caller is being killed is a request that changes nothing answered EINTR at once, and a handler of a
 * change interrupted, its own outcome answered, so nobody hears "interrupted" about a change that happened
 * anyway ({@code -o intr} honours every signal that way). Wait interruptibly.
 *
 * <h2>Paths while a handler runs</h2>
 * A handler's path does not change under it: a rename or removal that concerns it (the file, a directory above
 * it, or the name a creation or lookup is about) waits until the handler returned, as libfuse's high-level layer
 * makes it wait; a handler that overruns its deadline delays such a change at most until the change's own
 * deadline. Two names of one file (hard links; a non-zero {@link FileAttributes#inode()} tells) are one kernel
 * inode. (An interrupt
 * during NIO {@code FileChannel} I/O closes the channel: filesystems that keep channels across requests set
 * {@code interruptStalledHandlers(false)}.) {@link RequestContext#current()} tells a handler who called and how
 * much time is left.
 *
 * <h2>Memory</h2>
 * No native pointer reaches this interface. Read and write data are {@link ByteBuffer}s over the request
 * thread's own buffers: bounds-checked, never freed, and not reused before the handler returned, even if its
 * request was answered meanwhile. Do not keep them after returning.
 *
 * <h2>Close</h2>
 * Under the default flush policy the kernel never sends FLUSH (no {@code close()} and no exiting process ever
 * waits on the daemon); fuseguard calls {@link #flush} itself once per open file handle when the kernel
 * releases it, just before {@link #release}, and before {@link #fsync} when data was written since. So close-time
 * work (an upload) belongs in {@code flush} or {@code release}, and {@code fsync} is the durability point that
 * reports its errors.
 */
public interface FuseFileSystem {

    /**
     * Called once when the kernel connected, before any other operation, on a request thread, under the mount
     * timeout (the mount does not answer yet: do not use it from here).
     */
    default void init() throws IOException {
    }

    /**
     * Called once when the mount ends (unmount, {@code close()}, SIGTERM), after the last operation and after
     * close-time work (deferred flushes, releases) was drained.
     */
    default void destroy() {
    }

    /** Attributes of {@code path}; throw ENOENT when it does not exist. Also serves lookups. */
    FileAttributes getattr(String path) throws IOException;

    /** Lists a directory ({@code "."} and {@code ".."} are added by the framework when missing). */
    default void readdir(String path, DirectorySink sink) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Opens a file; returns a file handle of your choosing that later calls get back. */
    default long open(String path, OpenFlags flags) throws IOException {
        return 0;
    }

    /**
     * Opens again, in a new worker process of a supervised mount, a file that a process still has open through
     * the kernel: the kernel keeps its handle across the restart, this gives the filesystem's side back. The
     * flags are the original open's without {@code O_CREAT}, {@code O_EXCL} and {@code O_TRUNC} (the file exists;
     * it must not be truncated again), and the path is the file's current one (a hidden {@code .fuse_hidden*}
     * name if it was unlinked while open). The default calls {@link #open}; a filesystem whose open has side
     * effects beyond opening (a download, a lock) overrides it.
     */
    default long reopen(String path, OpenFlags flags) throws IOException {
        return open(path, flags);
    }

    /**
     * Creates and opens a regular file.
     *
     * @param mode  permission bits requested (umask already applied by the kernel)
     * @return a file handle
     */
    default long create(String path, int mode, OpenFlags flags) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * The file the kernel should read and write directly for a file just opened ({@link #open} or {@link #create}
     * returned {@code fh}), or null to serve its reads and writes here: FUSE passthrough. For a backed open the
     * kernel never sends READ or WRITE (mmap too goes to the backing file), so {@link #read} and {@link #write} are
     * not called for {@code fh}; every other operation still is, {@link #release} included.
     *
     * <p>Called right after a successful open or create, on the same thread, only when the mount can pass I/O
     * through: Linux 6.9 or later, the daemon holding {@code CAP_SYS_ADMIN} in the initial user namespace (root,
     * outside a user namespace), and neither {@code passthrough(false)} nor the writeback cache configured. When
     * the mount cannot, fuseguard says so once at INFO when it mounts and never calls this.
     *
     * <p>The kernel keeps one way of doing I/O per file at a time: while a file is open through a backing file,
     * every further open of it must be backed too (fuseguard then uses the backing file registered first for that
     * file, whichever one this call names), and the kernel refuses an open that is not with EIO; while a file is open
     * without one, fuseguard serves a new open of it without its backing file too (it falls back; reads reach
     * {@link #read}). So back every open of a file, or none. A writable open that is backed counts as written from
     * the start (the kernel changes the backing file without telling the daemon): an {@link #fsync} of it runs its
     * pending {@link #flush} first, as after a write the filesystem saw. A backing file that cannot back a file (not a regular file, or on an overlay or another stacked
     * filesystem) makes the open fall back; each such reason is logged once.
     *
     * @param path  the path opened
     * @param fh    what {@code open}/{@code create} returned
     * @param flags how it was opened
     * @return the backing file (one this filesystem has open and keeps owning), or null
     */
    default BackingFile backingFile(String path, long fh, OpenFlags flags) throws IOException {
        return null;
    }

    /**
     * Reads up to {@code dst.remaining()} bytes at {@code offset} into {@code dst}, with relative puts (or
     * {@code FileChannel.read(dst, offset)}), so that {@code dst.position()} advances past them. The caller gets
     * exactly the bytes before {@code dst.position()}: never buffer content the handler did not write. Returns the
     * number of bytes read (a count that disagrees with the position is logged once); fewer than requested means
     * end of file (so does -1).
     */
    default int read(String path, long fh, ByteBuffer dst, long offset) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Writes {@code src} (read-only) at {@code offset}; returns the number of bytes written. */
    default int write(String path, long fh, ByteBuffer src, long offset) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Changes the size of a file. */
    default void truncate(String path, long size) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Close-time work of an open file handle (an upload, say). Under the default policy it runs when the kernel
     * releases the handle, after {@code close()} returned, and before an {@code fsync} of a handle with new data;
     * under the bounded policy at every {@code close()}, with a deadline.
     */
    default void flush(String path, long fh) throws IOException {
    }

    /** The last descriptor of an open file was closed; the kernel does not wait for this. */
    default void release(String path, long fh, OpenFlags flags) throws IOException {
    }

    /** Makes the file's data durable; the place to report a failed upload. */
    default void fsync(String path, long fh, boolean dataOnly) throws IOException {
    }

    /**
     * Makes a directory's entries durable: {@code fsync(2)} of a directory, the last step of an atomic save
     * (write a temp file, fsync it, rename it over the document, fsync the directory) and of a database's commit.
     * A filesystem whose names reach their store later than the call that made them (an upload, a journal)
     * answers only once the names created, renamed and removed in {@code path} are there, and EIO when they
     * cannot be. The default answers ENOSYS: the kernel then stops asking and answers 0 to every later
     * {@code fsync} of a directory of this mount, which is right for a filesystem whose names are durable as
     * soon as they are made (or never).
     */
    default void fsyncdir(String path, boolean dataOnly) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * {@code fallocate(2)} on an open file: allocate (or, by {@code mode}, punch, zero, collapse or insert) the
     * range {@code [offset, offset + length)}. The default answers ENOSYS: the kernel then stops asking and
     * callers get EOPNOTSUPP (glibc's {@code posix_fallocate} falls back to writing zeros).
     */
    default void fallocate(String path, long fh, FallocateMode mode, long offset, long length) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Where the next data or hole is, for {@code lseek(2)} with {@code SEEK_DATA} or {@code SEEK_HOLE} on an open
     * file (the kernel answers the other kinds of seek itself). Return the offset found; throw ENXIO when
     * {@code offset} is at or past the end of the file, or, for {@link SeekWhence#DATA}, when only a hole follows.
     * The end of the file counts as a hole. The default answers ENOSYS: the kernel then stops asking and treats
     * the whole file as data (SEEK_DATA returns the offset itself, SEEK_HOLE the end of the file), as it does for
     * a filesystem without holes.
     */
    default long lseek(String path, long fh, long offset, SeekWhence whence) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * {@code copy_file_range(2)} between two open files of this filesystem: copy up to {@code length} bytes from
     * {@code offsetIn} of the first to {@code offsetOut} of the second, and return how many were copied (fewer at
     * the end of the input; 0 at or past it). A filesystem that can copy without moving the bytes through the
     * daemon (a server-side copy, a reflink) does it here. The default answers ENOSYS: the kernel then stops
     * asking and copies through read and write requests, as before.
     *
     * @param flags {@code copy_file_range}'s flags (0 today)
     */
    default long copyFileRange(String pathIn, long fhIn, long offsetIn, String pathOut, long fhOut, long offsetOut,
                               long length, int flags) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Attributes of {@code path} with what {@code stat} does not carry, for a caller of {@code statx(2)} that asks
     * for more (its birth time, {@link FileAttributes#birthTime()}); the kernel asks only then, and serves plain
     * {@code stat} from {@link #getattr}. The default answers ENOSYS: the kernel then uses {@link #getattr} for
     * good and callers see no birth time, as before.
     *
     * <p>What it costs: no LOOKUP or CREATE answer can carry a birth time, so the first {@code statx} that asks
     * for one on each file (every Java {@code Files.readAttributes}, {@code stat(1)}) is a second request after
     * the LOOKUP; later ones come from the kernel's cache like any attribute. A directory of fresh files stat'ed
     * once each from Java takes two requests per file instead of one. Answer ENOSYS (from the first call) to
     * turn it off.
     */
    default FileAttributes statx(String path) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Creates and opens a regular file with no name ({@code open(2)} with {@code O_TMPFILE}); returns its file
     * handle. {@code path} is a name fuseguard reserved for it in its directory ({@code .fuse_tmpfile} and a
     * number): it is not a link of the file and must not be listed, but every later call about the file uses it,
     * as if it were its name: {@code getattr} (report {@code nlink} 0 until the file is linked, as Linux does),
     * {@code chmod}, {@code link(path, newName)} when the caller gives the file a name with {@code linkat(2)},
     * and {@code unlink(path)} once the last descriptor of it is closed, which drops that name (a file never
     * linked goes away then). Reads and writes come with the handle, as for any open file.
     *
     * @param mode permission bits (umask applied by the kernel)
     * @throws IOException ENOSYS by default: the kernel then stops asking and {@code O_TMPFILE} fails with
     *         EOPNOTSUPP, as before
     */
    default long tmpfile(String path, int mode, OpenFlags flags) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * The lock that would stop {@code owner} from taking {@code lock} ({@code fcntl(F_GETLK)}): the first
     * conflicting lock another owner holds, or {@link FileLock#unlocked()} of the request when none does.
     * Called only when the filesystem implements {@link #setlk}: then the kernel keeps no POSIX locks of its own
     * for this mount and asks the filesystem (say, because other hosts share its files).
     *
     * @param owner the kernel's lock owner (one per process for POSIX locks, one per open file description for
     *              {@code F_OFD_*} locks); locks of the same owner never conflict
     * @throws IOException ENOSYS by default
     */
    default FileLock getlk(String path, long fh, long owner, FileLock lock) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Takes, changes or releases a POSIX record lock for {@code owner} ({@code fcntl(F_SETLK/F_SETLKW)} and the
     * {@code F_OFD_*} forms). Without {@code wait}, a conflicting lock of another owner fails it with EAGAIN at
     * once; with {@code wait}, the handler waits for the conflict to end: wait interruptibly, since an interrupt
     * is how a caller's signal (answered EINTR; the kernel restarts the call where the program asked for that)
     * and the request's deadline reach the handler. A lock granted after its request was answered is released
     * again by fuseguard.
     *
     * <p>Implementing this method makes fuseguard forward POSIX locks (the kernel's {@code posix_locks}); the
     * default answers ENOSYS and is never called: the kernel then keeps POSIX locks itself, correct for a
     * filesystem served from one host. fuseguard never lets the kernel send FLUSH, which is where a lock would be
     * dropped at each {@code close()}: it releases an owner's locks when the open file it locked through is
     * released instead (its last descriptor closed, or the process gone).
     *
     * @param owner see {@link #getlk}
     */
    default void setlk(String path, long fh, long owner, FileLock lock, boolean wait) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * {@code flock(2)} on an open file: {@link FileLock.Type#READ} for {@code LOCK_SH},
     * {@link FileLock.Type#WRITE} for {@code LOCK_EX}, {@link FileLock.Type#UNLOCK} for {@code LOCK_UN}. Without
     * {@code wait} ({@code LOCK_NB}) a conflict fails with EAGAIN at once; with it, wait interruptibly, as for
     * {@link #setlk}. The owner is the open file description: every descriptor {@code dup}ed or inherited from
     * one open shares its lock. fuseguard releases it when that open file is released.
     *
     * <p>Implementing this method makes fuseguard forward {@code flock} (the kernel's {@code flock_locks}); the
     * default answers ENOSYS and is never called: the kernel keeps {@code flock} locks itself.
     */
    default void flock(String path, long fh, long owner, FileLock.Type type, boolean wait) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Creates a special file: a FIFO, a socket, or a character or block device node ({@code mkfifo},
     * {@code mknod}, {@code bind} of a unix socket). Regular files come through {@link #create} when it exists.
     *
     * @param permissions permission bits (umask applied by the kernel)
     * @param rdev        device number for device nodes
     */
    default void mknod(String path, FileType type, int permissions, long rdev) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Creates a directory ({@code mode}: permission bits, umask applied by the kernel). */
    default void mkdir(String path, int mode) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Removes an empty directory. */
    default void rmdir(String path) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Removes a file or symlink. */
    default void unlink(String path) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Renames, replacing an existing target as POSIX rename does. */
    default void rename(String from, String to) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Renames with {@code renameat2(2)}'s flags: {@link RenameMode#NO_REPLACE} must fail with EEXIST when the target
     * exists, {@link RenameMode#EXCHANGE} swaps two existing entries. The default serves
     * {@link RenameMode#REPLACE} with {@link #rename(String, String)} and answers EINVAL to the others, which is
     * what {@code renameat2} reports for a filesystem without them (a check-then-rename here would not be
     * atomic).
     */
    default void rename(String from, String to, RenameMode mode) throws IOException {
        if (mode != RenameMode.REPLACE) {
            throw new ErrnoException(Errno.EINVAL);
        }
        rename(from, to);
    }

    /** Creates a symlink at {@code linkPath} that points to {@code target}. */
    default void symlink(String target, String linkPath) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** The target of a symlink. */
    default String readlink(String path) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Creates a hard link {@code newPath} to {@code existing}. */
    default void link(String existing, String newPath) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Changes permission bits ({@code mode & 07777}). */
    default void chmod(String path, int mode) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Changes owner and/or group; an empty value leaves it as it is (both empty: only ctime changes, as
     * {@code chown(path, -1, -1)} asks).
     */
    default void chown(String path, OptionalLong uid, OptionalLong gid) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /**
     * Sets access and modification times; an empty value leaves that time as it is ("now" arrives as the
     * current time).
     */
    default void utimens(String path, Optional<Instant> atime, Optional<Instant> mtime) throws IOException {
        throw new ErrnoException(Errno.ENOSYS);
    }

    /** Filesystem statistics. The default reports an empty filesystem of unknown size, as libfuse does. */
    default FsStats statfs(String path) throws IOException {
        return new FsStats(512, 0, 0, 0, 0, 0, 255);
    }

    /**
     * Sets an extended attribute. A filesystem that does not override it is answered ENOSYS for it by fuseguard
     * without a call: the kernel stops sending SETXATTR and callers get EOPNOTSUPP, as with libfuse. The default
     * body's ENOTSUP is what an override gets from {@code super}.
     */
    default void setxattr(String path, String name, byte[] value, XattrMode mode) throws IOException {
        throw new ErrnoException(Errno.ENOTSUP);
    }

    /**
     * The value of an extended attribute; throw ENODATA when absent.
     *
     * <p>What it costs: the kernel keeps no answer of a FUSE filesystem's, and before every write and every
     * {@code chown} it must know whether the file has a {@code security.capability} (either removes it), so a
     * filesystem that overrides this method is asked for that name then: one more request per write and chown
     * ({@code tar -x} as root, about 2 per file). One that does not override it is answered ENOSYS by fuseguard
     * without a call, after which the kernel never asks again and callers get EOPNOTSUPP (as with libfuse). The
     * default body's ENOTSUP is what an override gets from {@code super}: ENOTSUP for that name only, where an
     * ENOSYS (thrown by an override) turns the operation off for the whole mount.
     */
    default byte[] getxattr(String path, String name) throws IOException {
        throw new ErrnoException(Errno.ENOTSUP);
    }

    /** Names of the extended attributes of a file. */
    default List<String> listxattr(String path) throws IOException {
        return List.of();
    }

    /**
     * Removes an extended attribute; throw ENODATA when absent. Not overridden: answered ENOSYS without a call, as
     * {@link #setxattr}.
     */
    default void removexattr(String path, String name) throws IOException {
        throw new ErrnoException(Errno.ENOTSUP);
    }
}
