package io.fuseguard.examples.passthrough;

import io.fuseguard.api.BackingFile;
import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FallocateMode;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileLock;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.RenameMode;
import io.fuseguard.api.RequestContext;
import io.fuseguard.api.SeekWhence;
import io.fuseguard.api.XattrMode;
import io.fuseguard.examples.host.BeneathResolver;
import io.fuseguard.examples.host.CallerAccess;
import io.fuseguard.examples.host.Entry;
import io.fuseguard.examples.host.Host;
import io.fuseguard.examples.host.HostLibC;
import io.fuseguard.examples.host.HostStat;
import io.fuseguard.examples.host.NewEntryOwner;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * Mirrors a host directory through FUSE so that callers see what they would see in the directory itself, and
 * nothing the daemon does can reach outside {@code root}.
 *
 * <h2>How</h2>
 * No host path is ever built. The daemon keeps an {@code O_PATH} descriptor of the root; each request opens the
 * parent directory of its path beneath it ({@link BeneathResolver}: {@code openat2} with
 * {@code RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS}) and acts on the last name with the {@code *at} system calls
 * ({@code statx(AT_SYMLINK_NOFOLLOW)}, {@code openat(O_NOFOLLOW)}, {@code mkdirat}, {@code mknodat},
 * {@code unlinkat}, {@code renameat}, {@code linkat}, {@code symlinkat}, {@code readlinkat},
 * {@code fchownat(AT_SYMLINK_NOFOLLOW)}, {@code fchmodat}, {@code utimensat(AT_SYMLINK_NOFOLLOW)}); open files
 * are descriptors used with {@code pread}/{@code pwrite}/{@code fsync}, and back their opens
 * ({@link #backingFile}: with FUSE passthrough the kernel reads and writes them itself, at the source's speed,
 * where the mount allows it). Errors are the host's errno, passed on
 * unchanged. So FIFOs, sockets and device nodes can be made, trees deeper than PATH_MAX work (each
 * {@code openat2} gets at most {@link BeneathResolver#CHUNK} bytes), and the answers are the host's.
 *
 * <h2>Confinement</h2>
 * The kernel resolves {@code ..} and symlinks on the client side, so the daemon normally receives canonical
 * paths of entries inside the mount. The daemon still trusts nothing:
 * <ul>
 *   <li>a path with an empty, {@code .} or {@code ..} component is refused (EINVAL);</li>
 *   <li>a symlink anywhere in the middle of a path is refused with ELOOP by the kernel itself
 *       ({@code RESOLVE_NO_SYMLINKS}), so {@code /link-to-etc/passwd} never reaches {@code /etc/passwd};
 *       the parent is opened and then used by descriptor, so a component swapped for a symlink by a host
 *       process cannot redirect the operation (no check-then-act window);</li>
 *   <li>the last component is never followed: {@code O_NOFOLLOW}, {@code AT_SYMLINK_NOFOLLOW}, {@code lchown}
 *       semantics; a symlink is reported as a symlink and its target returned verbatim by {@link #readlink},
 *       for the client's kernel to resolve against the client's view. Opening one fails with ELOOP, and
 *       every open adds {@code O_NONBLOCK} so a FIFO swapped in on the host cannot block a request thread;
 *       an open finds the entry {@code O_PATH} first and opens only a regular file or a directory (the kernel
 *       opens FIFOs, sockets and device nodes itself), so a device node swapped in on the host is never opened
 *       by root.</li>
 * </ul>
 * A symlink pointing outside the root may exist (and be created) like on the host; the daemon never follows it.
 *
 * <h2>Owners and permissions</h2>
 * Mount with {@code allowOther} (the CLI's {@code --allow-other}): fuseguard then adds
 * {@code default_permissions} (the CLI always adds it for passthrough), so the kernel checks every access against the mirrored modes, owners and
 * groups, with the caller's supplementary groups, sticky directories and the set-ID rules of chmod/chown
 * included, exactly as for the host directory. The daemon acts as root; a new entry is then given to its caller
 * ({@link NewEntryOwner}: the caller's uid, and the parent's group below a set-group-ID directory, which a new
 * directory also inherits), owner first and mode second because a chown clears set-ID bits; both through an
 * {@code O_PATH} descriptor of the new entry, checked to be what was just made, never by its name (which a host
 * user who may write the directory could meanwhile swap for a hard link to a file of someone else's). This was chosen
 * over switching the request thread's {@code setfsuid}/{@code setfsgid}: those leave out the caller's
 * supplementary groups (FUSE does not send them; {@code /proc/PID/status} is racy and absent for callers in
 * other pid namespaces), so group permissions would differ. Limits: the daemon must be root to give entries
 * away (else they belong to the daemon); a client-side check and the host call are separate steps, so an
 * attribute changed on the host between them is seen one request late; without {@code default_permissions} a
 * root daemon would let anyone with access to the mount do anything, so only root should use such a mount.
 * One request is checked by the daemon itself: an {@code open(O_CREAT)} without {@code O_EXCL} of a name the
 * kernel believed missing (a cached negative entry, or a file made on the host meanwhile) finds an existing
 * file that the kernel never checked, so it is opened only if {@link CallerAccess} says the caller may (its
 * supplementary groups read from {@code /proc/PID/status}; EACCES when that cannot be known), only if it is a
 * regular file, and its {@code O_TRUNC} applied only then.
 *
 * <h2>Extended attributes</h2>
 * Only {@code user.*} names are served (others: ENOTSUP, and they are not listed): {@code trusted.*},
 * {@code security.*} and {@code system.*} (ACLs) would be read or changed with the daemon's root privileges,
 * and ACLs would change permissions that {@code default_permissions} does not check. The calls are path-based
 * ({@code getxattr} and friends have no {@code *at} form, and {@code fgetxattr} does not take an
 * {@code O_PATH} descriptor), so they go through {@code /proc/self/fd/N} of an {@code O_PATH} descriptor of the
 * entry: that magic link lands exactly on the entry (a symlink's own inode included), with no path to re-resolve.
 *
 * <h2>Fidelity</h2>
 * Modes, owners, nlink, inode numbers (with the {@code use_ino} mount option), sizes, blocks, device numbers and
 * the three times are the host's; {@code renameat2}'s {@code RENAME_NOREPLACE}/{@code RENAME_EXCHANGE},
 * {@code fallocate}, {@code lseek(SEEK_DATA/SEEK_HOLE)}, {@code copy_file_range} (done by the source, the bytes
 * never pass through the daemon), the birth time ({@code statx}) and {@code O_TMPFILE} are passed on.
 *
 * <h2>Locks</h2>
 * POSIX record locks and {@code flock} are the source's, so a lock held by a process on the host stops one
 * through the mount and the other way round: record locks as the host's open file description locks, one host
 * descriptor per lock owner and file ({@link #setlk}), flock on the host descriptor of the open file. A lock that
 * waits polls the host (a blocking host call would not hear the caller's signal or the deadline). Not passed on, because fuseguard's API has no way to: the difference between
 * "now" and an explicit time in {@code utimens}. Names must be valid UTF-8; others are not listed and cannot be
 * created through the mount: fuseguard carries names as Java strings, and a lossily decoded name would reach no
 * file (two of them could even look the same), so a listing leaves them out and logs that once per directory;
 * so are extended attribute names, and a symlink whose target is not UTF-8 answers {@code readlink} with EILSEQ.
 * FUSE mounts are {@code nodev,nosuid} unless asked otherwise: device nodes are made and listed like on the host,
 * but opened through the mount only with the mount option {@code dev}, and set-user-ID executables run with
 * their owner's rights only with {@code suid} (the CLI: {@code -o dev,suid}).
 */
public class PassthroughFs implements FuseFileSystem, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(PassthroughFs.class);
    private static final String USER_NS = "user.";
    /** Directories whose names not valid UTF-8 are reported once each; a bound, so the set cannot grow without end. */
    private static final int MAX_WARNED_DIRECTORIES = 1024;
    /** Who owns what the daemon makes, until it gives it away. */
    private static final long DAEMON_UID = Host.LIBC.geteuid() & 0xffffffffL;
    /** Open flags passed on to the host; O_CREAT/O_EXCL are the daemon's business, O_DIRECT needs aligned I/O. */
    private static final int PASSED_OPEN_FLAGS = Host.O_ACCMODE | Host.O_TRUNC | Host.O_APPEND | Host.O_SYNC
            | Host.O_DSYNC;

    private final Path root;
    private final int rootFd;
    private final BeneathResolver resolver;
    private final Map<Long, Integer> fds = new ConcurrentHashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicLong nextFh = new AtomicLong(1);
    private final Set<String> warnedDirectories = ConcurrentHashMap.newKeySet();
    /** O_TMPFILE files by their reserved name: a descriptor of each, closed when that name is dropped. */
    private final Map<String, Integer> tmpfiles = new ConcurrentHashMap<>();
    /** POSIX lock owners' descriptors of a file (by device, inode and owner); see {@link #setlk}. */
    private final Map<OwnerKey, Integer> ownerFds = new ConcurrentHashMap<>();
    /** The process of each lock owner (what getlk reports for a lock taken through the mount). */
    private final Map<OwnerKey, Integer> ownerPids = new ConcurrentHashMap<>();
    private final Object ownerLock = new Object();

    /**
     * Serves {@code root}.
     *
     * @throws IOException if {@code root} is not an existing directory
     */
    public PassthroughFs(Path root) throws IOException {
        this.root = root.toRealPath();
        if (!Files.isDirectory(this.root)) {
            throw new NotDirectoryException(root.toString());
        }
        int fd = Host.LIBC.openat(Host.AT_FDCWD, this.root.toString(),
                Host.O_PATH | Host.O_DIRECTORY | Host.O_CLOEXEC, 0);
        if (fd < 0) {
            throw new IOException("cannot open " + this.root + ": errno " + Host.errno());
        }
        this.rootFd = fd;
        this.resolver = new BeneathResolver(fd);
    }

    /** The real path of the mirrored directory. */
    public Path root() {
        return root;
    }

    /** Number of open file handles (for tests and metrics). */
    public int openHandles() {
        return fds.size();
    }

    /**
     * The entry of {@code path}: beneath the root, or, for the reserved name of an O_TMPFILE file, the
     * {@code /proc/self/fd/N} magic link of its descriptor (followed, like the root's), which lands exactly on
     * the nameless inode.
     */
    private Entry resolve(String path) {
        if (!tmpfiles.isEmpty()) {
            Integer fd = tmpfiles.get(path);
            if (fd != null) {
                return new Entry(Host.AT_FDCWD, Host.procPath(fd), true, false);
            }
        }
        return resolver.resolve(path);
    }

    // ---------------------------------------------------------------- attributes

    @Override
    public FileAttributes getattr(String path) {
        try (Entry e = resolve(path)) {
            return HostStat.of(e.dirfd(), e.name(), e.atFlags());
        }
    }

    @Override
    public void readdir(String path, DirectorySink sink) {
        try (Entry e = resolve(path)) {
            int fd = Host.LIBC.openat(e.dirfd(), e.name(),
                    Host.O_RDONLY | Host.O_DIRECTORY | Host.O_CLOEXEC | e.openFlags(), 0);
            if (fd < 0) {
                ErrnoException failure = Host.failure("opendir " + path);
                if (failure.errno() == Errno.ENOTDIR
                        && HostStat.of(e.dirfd(), e.name(), e.atFlags()).type() == FileType.SYMLINK) {
                    throw new ErrnoException(Errno.ELOOP, "a symlink is never listed through"); // as O_NOFOLLOW says
                }
                throw failure;
            }
            Pointer dir = Host.LIBC.fdopendir(fd);
            if (dir == null) {
                ErrnoException failure = Host.failure("fdopendir " + path);
                Host.close(fd);
                throw failure;
            }
            try {
                List<String> omitted = new ArrayList<>();
                Pointer d;
                while ((d = Host.LIBC.readdir(dir)) != null) {
                    byte[] raw = Host.direntName(d);
                    String name = Host.utf8OrNull(raw, 0, raw.length);
                    if (name == null) {
                        // a lossy name could neither be looked up nor told apart from another one
                        omitted.add(escaped(raw));
                        continue;
                    }
                    if (name.equals(".") || name.equals("..")) {
                        continue; // the framework adds them; the root's ".." is outside
                    }
                    try {
                        sink.add(name, HostStat.of(fd, name, Host.AT_SYMLINK_NOFOLLOW));
                    } catch (ErrnoException vanished) {
                        sink.add(name); // removed meanwhile: let the kernel's lookup find out
                    }
                }
                if (!omitted.isEmpty() && warnedDirectories.size() < MAX_WARNED_DIRECTORIES
                        && warnedDirectories.add(path)) {
                    LOG.warn("{}: {} name(s) not valid UTF-8 are not listed (and cannot be used through the "
                            + "mount): {}", path, omitted.size(), String.join(", ", omitted));
                }
            } finally {
                Host.LIBC.closedir(dir);
            }
        }
    }

    /** A host name for a log: printable ASCII as it is, a backslash doubled, any other byte as {@code \xNN}. */
    static String escaped(byte[] name) {
        StringBuilder b = new StringBuilder();
        for (byte x : name) {
            int c = x & 0xff;
            if (c == '\\') {
                b.append("\\\\");
            } else if (c >= 0x20 && c < 0x7f) {
                b.append((char) c);
            } else {
                b.append(String.format("\\x%02x", c));
            }
        }
        return b.toString();
    }

    @Override
    public void chmod(String path, int mode) {
        try (Entry e = resolve(path)) {
            // glibc refuses (EOPNOTSUPP) rather than follows a symlink with AT_SYMLINK_NOFOLLOW
            Host.check(Host.LIBC.fchmodat(e.dirfd(), e.name(), mode & 07777, e.atFlags()), "chmod " + path);
        }
    }

    @Override
    public void chown(String path, OptionalLong uid, OptionalLong gid) {
        try (Entry e = resolve(path)) {
            Host.check(Host.LIBC.fchownat(e.dirfd(), e.name(), (int) uid.orElse(-1), (int) gid.orElse(-1),
                    e.atFlags()), "chown " + path);
        }
    }

    @Override
    public void utimens(String path, Optional<Instant> atime, Optional<Instant> mtime) {
        Pointer times = Host.buffer(32);
        putTime(times, 0, atime);
        putTime(times, 16, mtime);
        try (Entry e = resolve(path)) {
            Host.check(Host.LIBC.utimensat(e.dirfd(), e.name(), times, e.atFlags()), "utimens " + path);
        }
    }

    private static void putTime(Pointer times, int offset, Optional<Instant> t) {
        times.putLong(offset, t.map(Instant::getEpochSecond).orElse(0L));
        times.putLong(offset + 8, t.map(i -> (long) i.getNano()).orElse(Host.UTIME_OMIT));
    }

    @Override
    public FsStats statfs(String path) {
        Pointer b = Host.buffer(HostLibC.STATVFS_SIZE);
        Host.check(Host.LIBC.fstatvfs(rootFd, b), "statfs");
        long frsize = b.getLong(8) > 0 ? b.getLong(8) : b.getLong(0);
        return new FsStats(frsize, b.getLong(16), b.getLong(24), b.getLong(32), b.getLong(40), b.getLong(48),
                b.getLong(80));
    }

    // ---------------------------------------------------------------- files

    /**
     * Opens a regular file (or, for a direct Java call, a directory). The kernel sends FUSE an open only for what
     * it knows as a regular file: it opens FIFOs, sockets and device nodes itself, and refuses device nodes on
     * a {@code nodev} mount. So the entry is opened {@code O_PATH} first, its type checked, and then reopened
     * through its magic link: a name that a host process has meanwhile pointed at a device node is never
     * opened by the root daemon (for a tape or watchdog device, the open alone acts).
     */
    @Override
    public long open(String path, OpenFlags flags) {
        return open(path, flags, true);
    }

    /**
     * In a new worker of a supervised mount, the file a process still has open: opened as {@link #open} does, except
     * that a file the opener owns is opened whatever its mode bits say. The kernel granted that open when it was
     * made, and a process may keep using a descriptor of its own file that it may no longer open by its bits (one
     * it created with mode 0444 and writes, as git does, or one it made {@code chmod 000} since): checked again,
     * its handle was lost (EIO). Its owner may give itself the bits back at any time, so this grants nothing new;
     * a file of someone else's is checked as at any open, so a name swapped on the host for another user's file
     * between the worker's death and the reopen is never handed to the old descriptor.
     */
    @Override
    public long reopen(String path, OpenFlags flags) {
        return open(path, flags, false);
    }

    private long open(String path, OpenFlags flags, boolean fresh) {
        try (Entry e = resolve(path)) {
            int pathFd = e.openPath(); // O_NOFOLLOW: a symlink is found as itself
            try {
                FileAttributes a = HostStat.of(pathFd);
                int mode = a.type().bits() | a.permissions();
                switch (mode & Host.S_IFMT) {
                    case Host.S_IFREG, Host.S_IFDIR -> { }
                    case Host.S_IFLNK -> throw new ErrnoException(Errno.ELOOP, "open of a symlink " + path);
                    default -> throw new ErrnoException(Errno.EACCES, "open of a special file " + path);
                }
                // The kernel checked the caller against attributes it may have cached (up to attr_timeout, or
                // the current tick with 0); the file behind the name may have changed on the host since. The
                // daemon opens as root, so the file actually opened is checked again here.
                boolean ownFile = RequestContext.current().map(c -> c.uid() == a.uid()).orElse(false);
                if ((fresh || !ownFile) && !CallerAccess.permits(mode, a.uid(), a.gid(), wantedAccess(flags.raw()))) {
                    throw new ErrnoException(Errno.EACCES, "open " + path + ": the file changed on the host");
                }
                int fd = Host.check(Host.LIBC.openat(Host.AT_FDCWD, Host.procPath(pathFd),
                        (flags.raw() & PASSED_OPEN_FLAGS) | Host.O_NONBLOCK | Host.O_CLOEXEC, 0), "open " + path);
                return register(fd);
            } finally {
                Host.close(pathFd);
            }
        }
    }

    @Override
    public long create(String path, int mode, OpenFlags flags) {
        int passed = (flags.raw() & PASSED_OPEN_FLAGS) | Host.O_NONBLOCK | Host.O_CLOEXEC | Host.O_NOFOLLOW;
        try (Entry e = resolve(path)) {
            // Exclusively first, so that only a file made here is given to the caller; without O_EXCL a file
            // that appeared meanwhile on the host is opened as it is, as the host would, if the caller may.
            int fd = Host.LIBC.openat(e.dirfd(), e.name(), passed | Host.O_CREAT | Host.O_EXCL, mode & 07777);
            if (fd < 0 && Host.errno() == Errno.EEXIST.code() && (flags.raw() & Host.O_EXCL) == 0) {
                return register(openExisting(e, path, flags.raw()));
            }
            Host.check(fd, "create " + path);
            try {
                NewEntryOwner owner = NewEntryOwner.forCaller(e.dirfd());
                if (owner.giveAway()) {
                    Host.check(Host.LIBC.fchown(fd, owner.uid(), owner.gid()), "chown " + path);
                }
                // the kernel already applied the caller's umask; this undoes the daemon's own
                Host.check(Host.LIBC.fchmod(fd, owner.modeFor(mode & 07777, false)), "chmod " + path);
            } catch (RuntimeException ex) {
                Host.close(fd);
                throw ex;
            }
            return register(fd);
        }
    }

    /**
     * Opens the file found by {@code create} where the kernel believed there was none (a cached negative entry,
     * or a file made on the host meanwhile). The kernel checked only the parent directory, and the daemon is
     * root, so the caller's access is checked here ({@link CallerAccess}) on exactly the inode that is then
     * opened: an {@code O_PATH} descriptor is checked and reopened through its {@code /proc/self/fd} magic link,
     * so nothing is resolved twice. {@code O_TRUNC} counts as write access, as for the kernel, and is applied
     * only once access is granted. Only a regular file is opened: the kernel takes nothing else as a created
     * file (it would answer EIO after the daemon had opened, say, a device node as root).
     */
    private static int openExisting(Entry e, String path, int raw) {
        int pathFd = e.openPath(); // O_NOFOLLOW: a symlink is found as itself
        try {
            int mode = HostStat.mode(pathFd);
            switch (mode & Host.S_IFMT) {
                case Host.S_IFREG -> { }
                case Host.S_IFLNK -> throw new ErrnoException(Errno.ELOOP, "create over a symlink " + path);
                case Host.S_IFDIR -> throw new ErrnoException(Errno.EISDIR, "create over a directory " + path);
                default -> throw new ErrnoException(Errno.EACCES, "create over a special file " + path);
            }
            FileAttributes a = HostStat.of(pathFd);
            if (!CallerAccess.permits(mode, a.uid(), a.gid(), wantedAccess(raw))) {
                throw new ErrnoException(Errno.EACCES, "open of an existing file by create " + path);
            }
            int passed = (raw & PASSED_OPEN_FLAGS & ~Host.O_TRUNC) | Host.O_NONBLOCK | Host.O_CLOEXEC;
            int fd = Host.check(Host.LIBC.openat(Host.AT_FDCWD, Host.procPath(pathFd), passed, 0), "open " + path);
            if ((raw & Host.O_TRUNC) != 0) {
                // a read-only descriptor cannot be ftruncated; the magic link reaches the same checked file
                int rc = (raw & Host.O_ACCMODE) == Host.O_RDONLY ? Host.LIBC.truncate(Host.procPath(fd), 0)
                        : Host.LIBC.ftruncate(fd, 0);
                if (rc < 0) {
                    ErrnoException failure = Host.failure("truncate " + path);
                    Host.close(fd);
                    throw failure;
                }
            }
            return fd;
        } finally {
            Host.close(pathFd);
        }
    }

    /** The access an open with these flags needs, as the kernel counts it: O_TRUNC needs write access. */
    private static int wantedAccess(int raw) {
        int want = switch (raw & Host.O_ACCMODE) {
            case Host.O_RDONLY -> CallerAccess.MAY_READ;
            case Host.O_WRONLY -> CallerAccess.MAY_WRITE;
            default -> CallerAccess.MAY_READ | CallerAccess.MAY_WRITE;
        };
        return (raw & Host.O_TRUNC) != 0 ? want | CallerAccess.MAY_WRITE : want;
    }

    private long register(int fd) {
        long fh = nextFh.getAndIncrement();
        fds.put(fh, fd);
        return fh;
    }

    private int fd(long fh) {
        Integer fd = fds.get(fh);
        if (fd == null) {
            throw new ErrnoException(Errno.EBADF);
        }
        return fd;
    }

    /**
     * The host file itself backs every open (FUSE passthrough): where the mount allows it (Linux 6.9+, a root
     * daemon), the kernel reads, writes and maps it directly and {@link #read}/{@link #write} are not called. The
     * descriptor stays this filesystem's; it is closed at {@link #release} as before.
     */
    @Override
    public BackingFile backingFile(String path, long fh, OpenFlags flags) {
        Integer fd = fds.get(fh);
        return fd == null ? null : BackingFile.ofDescriptor(fd);
    }

    @Override
    public int read(String path, long fh, ByteBuffer dst, long offset) {
        int fd = fd(fh);
        ByteBuffer direct = dst.isDirect() ? dst : ByteBuffer.allocateDirect(dst.remaining());
        int start = direct.position();
        while (direct.hasRemaining()) {
            long n = Host.check(Host.LIBC.pread(fd, direct, direct.remaining(),
                    offset + direct.position() - start), "read " + path);
            if (n == 0) {
                break;
            }
            direct.position(direct.position() + (int) n);
        }
        int total = direct.position() - start;
        if (direct != dst) {
            dst.put(direct.flip());
        }
        return total;
    }

    @Override
    public int write(String path, long fh, ByteBuffer src, long offset) {
        int fd = fd(fh);
        ByteBuffer direct = src;
        if (!src.isDirect()) {
            direct = ByteBuffer.allocateDirect(src.remaining()).put(src.duplicate()).flip();
        }
        int total = 0;
        while (direct.hasRemaining()) {
            long n = Host.check(Host.LIBC.pwrite(fd, direct, direct.remaining(), offset + total), "write " + path);
            direct.position(direct.position() + (int) n);
            total += (int) n;
        }
        if (direct != src) {
            src.position(src.position() + total);
        }
        return total;
    }

    @Override
    public void truncate(String path, long size) {
        try (Entry e = resolve(path)) {
            int fd = e.openPath();
            try {
                int type = HostStat.mode(fd) & Host.S_IFMT;
                if (type == Host.S_IFLNK) {
                    throw new ErrnoException(Errno.ELOOP, "truncate through a symlink");
                }
                if (type == Host.S_IFDIR) {
                    throw new ErrnoException(Errno.EISDIR);
                }
                if (type != Host.S_IFREG) {
                    throw new ErrnoException(Errno.EINVAL);
                }
                // the magic link reaches exactly the checked file (an O_PATH descriptor cannot be truncated)
                Host.check(Host.LIBC.truncate(Host.procPath(fd), size), "truncate " + path);
            } finally {
                Host.close(fd);
            }
        }
    }

    @Override
    public void fsync(String path, long fh, boolean dataOnly) {
        int fd = fd(fh);
        Host.check(dataOnly ? Host.LIBC.fdatasync(fd) : Host.LIBC.fsync(fd), "fsync " + path);
    }

    /**
     * The host's {@code fallocate} on the open file, the mode passed on (the source answers what it lacks). The
     * kernel sends FUSE only plain, keep-size, punch-hole and zero-range calls; collapsing and inserting ranges
     * get EOPNOTSUPP without reaching the daemon.
     */
    @Override
    public void fallocate(String path, long fh, FallocateMode mode, long offset, long length) {
        Host.check(Host.LIBC.fallocate(fd(fh), mode.raw(), offset, length), "fallocate " + path);
    }

    @Override
    public void release(String path, long fh, OpenFlags flags) {
        Integer fd = fds.remove(fh);
        if (fd != null) {
            Host.close(fd);
        }
    }

    // ---------------------------------------------------------------- namespace

    @Override
    public void mkdir(String path, int mode) {
        try (Entry e = resolve(path)) {
            long before = bornNotBefore();
            Host.check(Host.LIBC.mkdirat(e.dirfd(), e.name(), mode & 07777), "mkdir " + path);
            ownNewEntry(e, path, Host.S_IFDIR, mode & 07777, before);
        }
    }

    @Override
    public void mknod(String path, FileType type, int permissions, long rdev) {
        try (Entry e = resolve(path)) {
            if (type == FileType.REGULAR) {
                // Made and opened in one call, so it is given away by a descriptor that can only be this file.
                int fd = Host.check(Host.LIBC.openat(e.dirfd(), e.name(), Host.O_WRONLY | Host.O_CREAT | Host.O_EXCL
                        | Host.O_NOFOLLOW | Host.O_CLOEXEC, permissions & 07777), "mknod " + path);
                try {
                    ownNewEntry(fd, path, Host.S_IFREG, permissions & 07777, Long.MIN_VALUE,
                            NewEntryOwner.forCaller(e.dirfd()));
                } finally {
                    Host.close(fd);
                }
                return;
            }
            long before = bornNotBefore();
            Host.check(Host.LIBC.mknodat(e.dirfd(), e.name(), type.bits() | (permissions & 07777), rdev),
                    "mknod " + path);
            ownNewEntry(e, path, type.bits(), permissions & 07777, before);
        }
    }

    @Override
    public void symlink(String target, String linkPath) {
        if (target.isEmpty() || target.indexOf('\0') >= 0) {
            throw new ErrnoException(Errno.ENOENT);
        }
        try (Entry e = resolve(linkPath)) {
            long before = bornNotBefore();
            Host.check(Host.LIBC.symlinkat(target, e.dirfd(), e.name()), "symlink " + linkPath);
            ownNewEntry(e, linkPath, Host.S_IFLNK, -1, before);
        }
    }

    /**
     * A lower bound for the birth time of an entry made right after this call. Filesystems stamp inodes with the
     * kernel's coarse clock, which may lag the precise one by a tick (at most 10 ms at HZ=100): allow that.
     */
    private static long bornNotBefore() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000_000L + now.getNano() - 20_000_000L;
    }

    /**
     * Gives a just-made entry to its caller, then sets its mode (unless {@code permissions} is -1: a symlink),
     * undoing the daemon's umask. Owner first: a chown clears set-ID bits.
     *
     * <p>By descriptor, never by name: in a directory a host user may write, that user could replace the new
     * name between its creation and the chown, by a hard link to a file of someone else's (or a file of its
     * own), and have that given away or its mode changed by root. So the name is opened {@code O_PATH |
     * O_NOFOLLOW} once, checked to be what was just made (the type asked for, owned by the daemon, for
     * anything but a directory not linked elsewhere, and born no earlier than the call that made it: a rename
     * keeps an inode's birth time, so an older root-owned entry renamed over the new name is told apart), and
     * changed through that descriptor only. Where the source keeps no birth time, the other checks remain.
     */
    private static void ownNewEntry(Entry e, String path, int type, int permissions, long bornNotBefore) {
        int fd = e.openPath();
        try {
            ownNewEntry(fd, path, type, permissions, bornNotBefore, NewEntryOwner.forCaller(e.dirfd()));
        } finally {
            Host.close(fd);
        }
    }

    /** {@link #ownNewEntry(Entry, String, int, int, long)} on a descriptor of the entry already open. */
    private static void ownNewEntry(int fd, String path, int type, int permissions, long bornNotBefore,
                                    NewEntryOwner owner) {
        FileAttributes made = HostStat.of(fd);
        long born = owner.giveAway() ? HostStat.birthNanos(fd) : -1;
        // the owner is checked only when giving away: a daemon that keeps its entries may serve a source
        // whose new files get another owner (vfat's uid=, NFS's root squash), and can only chmod its own
        if ((made.mode() & Host.S_IFMT) != type || (type != Host.S_IFDIR && made.nlink() != 1)
                || (owner.giveAway() && made.uid() != DAEMON_UID)
                || (born >= 0 && born < bornNotBefore)) {
            throw new ErrnoException(Errno.EIO, "new entry replaced on the host before it was given away: "
                    + path);
        }
        if (owner.giveAway()) {
            Host.check(Host.LIBC.fchownat(fd, "", owner.uid(), owner.gid(),
                    Host.AT_EMPTY_PATH | Host.AT_SYMLINK_NOFOLLOW), "chown " + path);
        }
        if (permissions >= 0) {
            // fchmod refuses an O_PATH descriptor; its magic link lands exactly on the checked inode
            Host.check(Host.LIBC.fchmodat(Host.AT_FDCWD, Host.procPath(fd),
                    owner.modeFor(permissions, type == Host.S_IFDIR), 0), "chmod " + path);
        }
    }

    @Override
    public void rmdir(String path) {
        try (Entry e = resolve(path)) {
            if (e.isRoot()) {
                throw new ErrnoException(Errno.EBUSY);
            }
            Host.check(Host.LIBC.unlinkat(e.dirfd(), e.name(), Host.AT_REMOVEDIR), "rmdir " + path);
        }
    }

    @Override
    public void unlink(String path) {
        Integer tmp = tmpfiles.isEmpty() ? null : tmpfiles.remove(path);
        if (tmp != null) {
            Host.close(tmp); // the reserved name of an O_TMPFILE file: its last descriptor was closed
            return;
        }
        try (Entry e = resolve(path)) {
            if (e.isRoot()) {
                throw new ErrnoException(Errno.EISDIR);
            }
            Host.check(Host.LIBC.unlinkat(e.dirfd(), e.name(), 0), "unlink " + path);
        }
    }

    @Override
    public void rename(String from, String to) {
        rename(from, to, RenameMode.REPLACE);
    }

    /** {@code renameat2} on the host: NOREPLACE and EXCHANGE are as atomic as the source filesystem makes them. */
    @Override
    public void rename(String from, String to, RenameMode mode) {
        try (Entry src = resolve(from); Entry dst = resolve(to)) {
            if (src.isRoot() || dst.isRoot()) {
                throw new ErrnoException(Errno.EBUSY);
            }
            int rc = mode == RenameMode.REPLACE
                    ? Host.LIBC.renameat(src.dirfd(), src.name(), dst.dirfd(), dst.name())
                    : Host.LIBC.renameat2(src.dirfd(), src.name(), dst.dirfd(), dst.name(), mode.flags());
            Host.check(rc, "rename " + from);
        }
    }

    @Override
    public String readlink(String path) {
        try (Entry e = resolve(path)) {
            for (int size = 4096; ; size *= 2) {
                byte[] buf = new byte[size];
                int n = (int) Host.check(Host.LIBC.readlinkat(e.dirfd(), e.name(), buf, size), "readlink " + path);
                if (n < size) {
                    String target = Host.utf8OrNull(buf, 0, n); // verbatim, never resolved
                    if (target == null) {
                        throw new ErrnoException(Errno.EILSEQ, "readlink " + path + ": target is not UTF-8");
                    }
                    return target;
                }
            }
        }
    }

    @Override
    public void link(String existing, String newPath) {
        Integer tmp = tmpfiles.get(existing);
        if (tmp != null) {
            // linkat(2) of an O_TMPFILE file: through its magic link, followed (as open(2) documents)
            try (Entry dst = resolve(newPath)) {
                Host.check(Host.LIBC.linkat(Host.AT_FDCWD, Host.procPath(tmp), dst.dirfd(), dst.name(),
                        Host.AT_SYMLINK_FOLLOW), "link " + newPath);
            }
            return;
        }
        try (Entry src = resolve(existing); Entry dst = resolve(newPath)) {
            if (src.isRoot()) {
                throw new ErrnoException(Errno.EPERM);
            }
            // flags 0: a symlink is linked itself, never followed
            Host.check(Host.LIBC.linkat(src.dirfd(), src.name(), dst.dirfd(), dst.name(), 0), "link " + newPath);
        }
    }

    // ---------------------------------------------------------------- holes, copies, birth time, O_TMPFILE

    /** The host's {@code lseek(SEEK_DATA/SEEK_HOLE)} on the open file: the source's own holes. */
    @Override
    public long lseek(String path, long fh, long offset, SeekWhence whence) {
        return Host.check(Host.LIBC.lseek(fd(fh), offset, whence.raw()), "lseek " + path);
    }

    private static final ThreadLocal<Pointer> OFFSETS = ThreadLocal.withInitial(() -> Host.buffer(16));

    /**
     * The host's {@code copy_file_range}: the source filesystem copies (a reflink or a copy inside the host's
     * kernel); the bytes never pass through the daemon. Between filesystems the host answers EXDEV, and the
     * client's kernel then copies through reads and writes.
     */
    @Override
    public long copyFileRange(String pathIn, long fhIn, long offsetIn, String pathOut, long fhOut, long offsetOut,
                              long length, int flags) {
        Pointer off = OFFSETS.get();
        off.putLong(0, offsetIn);
        off.putLong(8, offsetOut);
        return Host.check(Host.LIBC.copy_file_range(fd(fhIn), off, fd(fhOut), off.slice(8), length, flags),
                "copy_file_range " + pathOut);
    }

    /** The host's attributes with its birth time, where the source filesystem keeps one. */
    @Override
    public FileAttributes statx(String path) {
        try (Entry e = resolve(path)) {
            return HostStat.withBirthTime(e.dirfd(), e.name(), e.atFlags());
        }
    }

    /**
     * {@code O_TMPFILE} on the host, in the directory of the reserved name: a nameless inode of the source. It is
     * given to its caller as a created file is; a descriptor of it stands for the reserved name (its magic link
     * serves getattr, chmod, link, ...) until the name is dropped.
     */
    @Override
    public long tmpfile(String path, int mode, OpenFlags flags) {
        int access = (flags.raw() & Host.O_ACCMODE) == Host.O_WRONLY ? Host.O_WRONLY : Host.O_RDWR;
        int fd;
        try (Entry e = resolve(path)) {
            fd = Host.check(Host.LIBC.openat(e.dirfd(), ".", Host.O_TMPFILE | access | Host.O_CLOEXEC
                    | (flags.raw() & (Host.O_APPEND | Host.O_SYNC | Host.O_DSYNC)), mode & 07777), "tmpfile " + path);
            try {
                NewEntryOwner owner = NewEntryOwner.forCaller(e.dirfd());
                if (owner.giveAway()) {
                    Host.check(Host.LIBC.fchown(fd, owner.uid(), owner.gid()), "chown " + path);
                }
                Host.check(Host.LIBC.fchmod(fd, owner.modeFor(mode & 07777, false)), "chmod " + path);
            } catch (RuntimeException ex) {
                Host.close(fd);
                throw ex;
            }
        }
        int named = Host.check(Host.LIBC.openat(Host.AT_FDCWD, Host.procPath(fd), Host.O_PATH | Host.O_CLOEXEC, 0),
                "tmpfile " + path);
        tmpfiles.put(path, named);
        return register(fd);
    }

    // ---------------------------------------------------------------- locks

    /** A POSIX lock owner's descriptor of one host file. */
    private record OwnerKey(long dev, long ino, long owner) {
    }

    private static final ThreadLocal<Pointer> FLOCK = ThreadLocal.withInitial(() -> Host.buffer(HostLibC.FLOCK_SIZE));

    private static int hostType(FileLock.Type t) {
        return switch (t) {
            case READ -> Host.F_RDLCK;
            case WRITE -> Host.F_WRLCK;
            case UNLOCK -> Host.F_UNLCK;
        };
    }

    private static Pointer flock(int type, long start, long end) {
        Pointer b = FLOCK.get();
        for (int i = 0; i < HostLibC.FLOCK_SIZE; i += 8) {
            b.putLong(i, 0);
        }
        b.putShort(0, (short) type);
        b.putShort(2, (short) 0); // SEEK_SET
        b.putLong(8, start);
        b.putLong(16, end == FileLock.TO_EOF ? 0 : end - start + 1);
        return b;
    }

    private OwnerKey ownerKey(long fh, long owner) {
        long[] id = HostStat.identity(fd(fh));
        return new OwnerKey(id[0], id[1], owner);
    }

    /**
     * The lock that stands in the way, as the host sees it: POSIX and open-file-description locks of host
     * processes, and those taken through the mount by other owners.
     */
    @Override
    public FileLock getlk(String path, long fh, long owner, FileLock lock) {
        OwnerKey key = ownerKey(fh, owner);
        synchronized (ownerLock) {
            Integer own = ownerFds.get(key);
            // the owner's own descriptor, so its own locks do not count; without one it holds none
            long[] found = conflict(own != null ? own : fd(fh), lock, path);
            if (found == null) {
                return lock.unlocked();
            }
            long pid = found[3];
            if (pid < 0) {
                pid = holderPid(key, lock, found, path); // an OFD lock: one taken through the mount?
            }
            return new FileLock(found[0] == Host.F_RDLCK ? FileLock.Type.READ : FileLock.Type.WRITE, found[1],
                    found[2] == 0 ? FileLock.TO_EOF : found[1] + found[2] - 1, Math.max(0, pid));
        }
    }

    /** The host's F_OFD_GETLK through {@code fd}: {type, start, len, pid} of the lock in the way, or null. */
    private static long[] conflict(int fd, FileLock lock, String path) {
        Pointer b = flock(hostType(lock.type()), lock.start(), lock.end());
        Host.check(Host.LIBC.fcntl(fd, Host.F_OFD_GETLK, b), "getlk " + path);
        int type = b.getShort(0);
        return type == Host.F_UNLCK ? null : new long[] {type, b.getLong(8), b.getLong(16), b.getInt(24)};
    }

    /**
     * The process that took {@code found} through the mount: the owner (of the same file) from whose own view
     * it is no longer in the way; 0 when it is none of them (an OFD lock of a host process, whose pid the host
     * does not tell either). Caller holds {@link #ownerLock}.
     */
    private long holderPid(OwnerKey asking, FileLock lock, long[] found, String path) {
        for (Map.Entry<OwnerKey, Integer> e : ownerFds.entrySet()) {
            OwnerKey k = e.getKey();
            if (k.owner() == asking.owner() || k.dev() != asking.dev() || k.ino() != asking.ino()) {
                continue;
            }
            long[] seen = conflict(e.getValue(), lock, path);
            if (seen == null || seen[0] != found[0] || seen[1] != found[1] || seen[2] != found[2]) {
                Integer pid = ownerPids.get(k);
                return pid == null ? 0 : pid;
            }
        }
        return 0;
    }

    /**
     * POSIX record locks as the host's open file description locks ({@code F_OFD_SETLK}), one host descriptor
     * per lock owner and file: locks of one owner merge and never conflict with each other, and conflict with
     * those of other owners and of host processes (POSIX and OFD locks conflict with each other on Linux), so a
     * lock held on the host stops one through the mount and the other way round. An owner's descriptor is
     * closed when its whole range is unlocked (fuseguard does that at the release of the file it locked
     * through). A wait polls ({@code F_OFD_SETLK} every few milliseconds, up to 20 ms apart) so that an interrupt
     * or the request's deadline ends it: the host's blocking form would wait in the kernel, deaf to both.
     */
    @Override
    public void setlk(String path, long fh, long owner, FileLock lock, boolean wait) {
        if (lock.type() == FileLock.Type.UNLOCK && !fds.containsKey(fh)) {
            return; // released (closeAll): its owners' descriptors went with it
        }
        OwnerKey key = ownerKey(fh, owner);
        waitFor(path, wait, () -> trySetlk(key, fh, lock));
    }

    private int trySetlk(OwnerKey key, long fh, FileLock lock) {
        synchronized (ownerLock) {
            Integer fd = ownerFds.get(key);
            boolean made = false;
            if (fd == null) {
                if (lock.type() == FileLock.Type.UNLOCK) {
                    return 0; // the owner holds nothing here
                }
                fd = openOwnerFd(fh, lock.type());
                made = true;
            }
            int rc = Host.LIBC.fcntl(fd, Host.F_OFD_SETLK, flock(hostType(lock.type()), lock.start(), lock.end()));
            int errno = rc < 0 ? Host.errno() : 0;
            if (rc == 0 && lock.type() == FileLock.Type.UNLOCK && lock.start() == 0 && lock.toEndOfFile()
                    || rc < 0 && made) {
                Host.close(fd); // nothing is held through it any more
                ownerFds.remove(key);
            } else if (made) {
                ownerFds.put(key, fd);
            }
            if (rc == 0 && lock.type() != FileLock.Type.UNLOCK) {
                ownerPids.put(key, (int) lock.pid()); // who holds it, for getlk
            } else if (!ownerFds.containsKey(key)) {
                ownerPids.remove(key);
            }
            return rc < 0 ? -errno : 0;
        }
    }

    /** A descriptor of the handle's file for one owner's locks: read-write where possible, as the lock needs. */
    private int openOwnerFd(long fh, FileLock.Type type) {
        String p = Host.procPath(fd(fh));
        int fd = Host.LIBC.openat(Host.AT_FDCWD, p, Host.O_RDWR | Host.O_NONBLOCK | Host.O_NOCTTY | Host.O_CLOEXEC,
                0);
        if (fd < 0) {
            fd = Host.check(Host.LIBC.openat(Host.AT_FDCWD, p, (type == FileLock.Type.WRITE ? Host.O_WRONLY
                    : Host.O_RDONLY) | Host.O_NONBLOCK | Host.O_NOCTTY | Host.O_CLOEXEC, 0), "lock");
        }
        return fd;
    }

    /**
     * {@code flock} on the host descriptor of the open file, whose open file description is exactly the lock's
     * owner; it goes with the descriptor at release. Waits poll, as {@link #setlk}'s.
     */
    @Override
    public void flock(String path, long fh, long owner, FileLock.Type type, boolean wait) {
        int op = switch (type) {
            case READ -> Host.LOCK_SH;
            case WRITE -> Host.LOCK_EX;
            case UNLOCK -> Host.LOCK_UN;
        };
        int fd = fd(fh);
        waitFor(path, wait, () -> Host.LIBC.flock(fd, op | Host.LOCK_NB) < 0 ? -Host.errno() : 0);
    }

    /**
     * Runs a non-blocking lock attempt until it succeeds; without {@code wait} a conflict is EAGAIN at once. With
     * it, tries again (1 ms apart, doubling up to 20 ms) until the thread is interrupted (a signal of the caller,
     * or the deadline: EINTR) or the request's deadline passed by 100 ms.
     */
    private static final long WAIT_MARGIN_NANOS = 100_000_000L;

    private static void waitFor(String path, boolean wait, java.util.function.IntSupplier attempt) {
        long pause = 1;
        while (true) {
            int rc = attempt.getAsInt();
            if (rc == 0) {
                return;
            }
            int errno = -rc;
            if (errno != Errno.EAGAIN.code() && errno != Errno.EACCES.code() || !wait) {
                Errno e = Errno.of(errno);
                throw new ErrnoException(e == null || errno == Errno.EACCES.code() ? Errno.EAGAIN : e,
                        "lock " + path);
            }
            // Past the deadline the mount has answered (within a tick) and interrupted this thread; the margin
            // also ends a wait where handlers are not interrupted (interruptStalledHandlers false).
            long deadline = RequestContext.current().map(RequestContext::deadlineNanos).orElse(Long.MAX_VALUE);
            if (Thread.interrupted() || System.nanoTime() - deadline > WAIT_MARGIN_NANOS) {
                throw new ErrnoException(Errno.EINTR, "lock " + path + ": interrupted while waiting");
            }
            try {
                Thread.sleep(pause);
            } catch (InterruptedException x) {
                throw new ErrnoException(Errno.EINTR, "lock " + path + ": interrupted while waiting");
            }
            pause = Math.min(20, pause * 2);
        }
    }

    // ---------------------------------------------------------------- xattrs

    /** Runs an xattr call on {@code /proc/self/fd/N} of an O_PATH descriptor of the entry. */
    private <T> T onXattrs(String path, String name, Function<String, T> call) {
        if (name != null && !name.startsWith(USER_NS)) {
            throw new ErrnoException(Errno.ENOTSUP, "only the user. namespace is served: " + name);
        }
        try (Entry e = resolve(path)) {
            int fd = e.openPath();
            try {
                return call.apply(Host.procPath(fd));
            } finally {
                Host.close(fd);
            }
        }
    }

    @Override
    public void setxattr(String path, String name, byte[] value, XattrMode mode) {
        int flags = switch (mode) {
            case CREATE -> Host.XATTR_CREATE;
            case REPLACE -> Host.XATTR_REPLACE;
            default -> 0;
        };
        onXattrs(path, name, p -> Host.check(Host.LIBC.setxattr(p, name, value, value.length, flags),
                "setxattr " + path));
    }

    @Override
    public byte[] getxattr(String path, String name) {
        return onXattrs(path, name, p -> {
            while (true) {
                int size = (int) Host.check(Host.LIBC.getxattr(p, name, null, 0), "getxattr " + path);
                byte[] value = new byte[size];
                long n = Host.LIBC.getxattr(p, name, value, size);
                if (n >= 0) {
                    return n == size ? value : Arrays.copyOf(value, (int) n);
                }
                if (Host.errno() != Errno.ERANGE.code()) { // ERANGE: it grew meanwhile
                    throw Host.failure("getxattr " + path);
                }
            }
        });
    }

    @Override
    public List<String> listxattr(String path) {
        byte[] list = onXattrs(path, null, p -> {
            while (true) {
                int size = (int) Host.check(Host.LIBC.listxattr(p, null, 0), "listxattr " + path);
                byte[] names = new byte[size];
                long n = Host.LIBC.listxattr(p, names, size);
                if (n >= 0) {
                    return Arrays.copyOf(names, (int) n);
                }
                if (Host.errno() != Errno.ERANGE.code()) {
                    throw Host.failure("listxattr " + path);
                }
            }
        });
        List<String> names = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < list.length; i++) {
            if (list[i] == 0) {
                String n = Host.utf8OrNull(list, start, i - start); // names that are not UTF-8 are left out
                if (n != null && n.startsWith(USER_NS)) {
                    names.add(n);
                }
                start = i + 1;
            }
        }
        return names;
    }

    @Override
    public void removexattr(String path, String name) {
        onXattrs(path, name, p -> Host.check(Host.LIBC.removexattr(p, name), "removexattr " + path));
    }

    /** Closes every file handle still open, and the descriptors kept for tmpfiles and locks (after the unmount). */
    public void closeAll() {
        for (Long fh : List.copyOf(fds.keySet())) {
            release(null, fh, OpenFlags.of(0));
        }
        for (String p : List.copyOf(tmpfiles.keySet())) {
            Integer fd = tmpfiles.remove(p);
            if (fd != null) {
                Host.close(fd);
            }
        }
        synchronized (ownerLock) {
            for (Integer fd : ownerFds.values()) {
                Host.close(fd);
            }
            ownerFds.clear();
            ownerPids.clear();
        }
    }

    /** Closes every file handle and the root descriptor (after the unmount); the instance is unusable after. */
    @Override
    public void close() {
        closeAll();
        if (closed.compareAndSet(false, true)) {
            Host.close(rootFd);
        }
    }
}
