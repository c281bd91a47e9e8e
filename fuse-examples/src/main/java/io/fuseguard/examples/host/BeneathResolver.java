package io.fuseguard.examples.host;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import jnr.ffi.Pointer;

/**
 * Turns a FUSE path into an {@link Entry}: the parent directory opened beneath the root descriptor without
 * following any symlink, so nothing outside the root is ever reached and no component can be swapped between a
 * check and its use (the descriptor is the check).
 *
 * <p>The parent is opened with {@code openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)}
 * (Linux 5.6+): one system call, ELOOP for a symlink anywhere in the middle. A path longer than the kernel's
 * PATH_MAX is opened in several steps of at most {@link #CHUNK} bytes, each relative to the previous
 * descriptor, so a tree deeper than PATH_MAX works as it does on the host. On a kernel without openat2 each
 * component is opened alone with {@code O_PATH | O_NOFOLLOW} and checked to be a directory.
 */
public final class BeneathResolver {
    /** Longest relative path handed to one openat2 call: below PATH_MAX (4096) with room for the NUL. */
    public static final int CHUNK = 4000;
    private static final ThreadLocal<Pointer> HOW = ThreadLocal.withInitial(() -> Host.buffer(24));

    private final int rootFd;
    private volatile boolean noOpenat2;

    /** Resolves beneath {@code rootFd} (an {@code O_PATH} descriptor of a directory the caller keeps open). */
    public BeneathResolver(int rootFd) {
        this(rootFd, true);
    }

    /** With {@code useOpenat2} false, resolves as on a kernel without openat2 (for tests of that path). */
    public BeneathResolver(int rootFd, boolean useOpenat2) {
        this.rootFd = rootFd;
        this.noOpenat2 = !useOpenat2;
    }

    /**
     * The entry of {@code fusePath}.
     *
     * @throws ErrnoException EINVAL for a relative path or an empty, {@code .}, {@code ..} or NUL-containing
     *                        component; ELOOP for a symlink in the middle; ENOENT/ENOTDIR as the host says
     */
    public Entry resolve(String fusePath) {
        if (fusePath == null || !fusePath.startsWith("/")) {
            throw new ErrnoException(Errno.EINVAL, "not an absolute path: " + fusePath);
        }
        if (fusePath.equals("/")) {
            return new Entry(Host.AT_FDCWD, Host.procPath(rootFd), true, false);
        }
        String rel = fusePath.substring(1);
        for (String c : rel.split("/", -1)) {
            if (c.isEmpty() || c.equals(".") || c.equals("..") || c.indexOf('\0') >= 0) {
                throw new ErrnoException(Errno.EINVAL, "refused path component '" + c + "' in " + fusePath);
            }
        }
        int slash = rel.lastIndexOf('/');
        String name = rel.substring(slash + 1);
        if (slash < 0) {
            return new Entry(rootFd, name, false, false);
        }
        return new Entry(openDirectory(rel.substring(0, slash)), name, false, true);
    }

    /** Opens the directory at {@code rel} (relative, already checked) beneath the root. */
    private int openDirectory(String rel) {
        int fd = rootFd;
        int start = 0;
        try {
            while (start < rel.length()) {
                int end = chunkEnd(rel, start);
                int next = open(fd, rel.substring(start, end));
                if (fd != rootFd) {
                    Host.close(fd);
                }
                fd = next;
                start = end + 1;
            }
            return fd;
        } catch (RuntimeException e) {
            if (fd != rootFd) {
                Host.close(fd);
            }
            throw e;
        }
    }

    /** End of the next chunk from {@code start}: at most {@link #CHUNK} bytes, ending at a component boundary. */
    private static int chunkEnd(String rel, int start) {
        int end = start;
        int from = start;
        while (true) {
            int slash = rel.indexOf('/', from);
            int componentEnd = slash < 0 ? rel.length() : slash;
            // a single component longer than CHUNK cannot exist (NAME_MAX is 255): the host will say so
            if (end > start && utf8Length(rel, start, componentEnd) > CHUNK) {
                return end;
            }
            end = componentEnd;
            if (slash < 0) {
                return end;
            }
            from = slash + 1;
        }
    }

    private static int utf8Length(String s, int from, int to) {
        int n = 0;
        for (int i = from; i < to; i++) {
            char ch = s.charAt(i);
            n += ch < 0x80 ? 1 : ch < 0x800 ? 2 : Character.isSurrogate(ch) ? 2 : 3;
        }
        return n;
    }

    private int open(int dirfd, String rel) {
        if (!noOpenat2) {
            Pointer how = HOW.get();
            how.putLong(0, Host.O_PATH | Host.O_DIRECTORY | Host.O_CLOEXEC);
            how.putLong(8, 0);
            how.putLong(16, Host.RESOLVE_BENEATH | Host.RESOLVE_NO_SYMLINKS | Host.RESOLVE_NO_MAGICLINKS);
            for (int attempt = 0; ; attempt++) {
                long fd = Host.LIBC.syscall(Host.SYS_OPENAT2, dirfd, rel, how, 24);
                if (fd >= 0) {
                    return (int) fd;
                }
                int errno = Host.errno();
                if (errno == Errno.ENOSYS.code()) {
                    noOpenat2 = true;
                    break;
                }
                // EAGAIN: a concurrent rename somewhere on the host; RESOLVE_BENEATH asks to try again
                if (errno != Errno.EAGAIN.code() || attempt >= 8) {
                    throw Host.failure("open " + rel);
                }
            }
        }
        return openEachComponent(dirfd, rel);
    }

    /** The fallback for kernels before 5.6: one {@code O_PATH | O_NOFOLLOW} open per component. */
    private static int openEachComponent(int dirfd, String rel) {
        int fd = dirfd;
        try {
            for (String c : rel.split("/")) {
                int next = Host.check(Host.LIBC.openat(fd, c, Host.O_PATH | Host.O_NOFOLLOW | Host.O_CLOEXEC, 0),
                        "open " + c);
                if (fd != dirfd) {
                    Host.close(fd);
                }
                fd = next;
                int type = HostStat.mode(fd) & Host.S_IFMT;
                if (type == Host.S_IFLNK) {
                    throw new ErrnoException(Errno.ELOOP, "symlink in the middle of a path is never followed");
                }
                if (type != Host.S_IFDIR) {
                    throw new ErrnoException(Errno.ENOTDIR, c);
                }
            }
            return fd;
        } catch (RuntimeException e) {
            if (fd != dirfd) {
                Host.close(fd);
            }
            throw e;
        }
    }
}
