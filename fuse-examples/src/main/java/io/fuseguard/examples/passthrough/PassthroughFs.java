package io.fuseguard.examples.passthrough;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.RequestContext;
import io.fuseguard.api.XattrMode;
import jnr.ffi.LastError;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Mirrors a host directory through FUSE: every operation maps to {@code java.nio} on the host path of the
 * request, and nothing the daemon does can reach outside {@code root}.
 *
 * <h2>Confinement</h2>
 * The kernel resolves {@code ..} and symlinks on the client side, so the daemon normally receives canonical
 * paths of entries inside the mount. The daemon still trusts nothing:
 * <ul>
 *   <li>a path with an empty, {@code .} or {@code ..} component is refused (EINVAL);</li>
 *   <li>every intermediate component must be a real directory, checked with {@code lstat} semantics: a
 *       symlink in the middle of a path is refused with ELOOP (like {@code openat2(RESOLVE_NO_SYMLINKS)}), so
 *       {@code /link-to-etc/passwd} never reaches {@code /etc/passwd};</li>
 *   <li>the last component is never followed: files are opened with {@code O_NOFOLLOW}
 *       ({@link LinkOption#NOFOLLOW_LINKS}), attributes are read with {@code lstat}, owners changed with
 *       {@code lchown}; a symlink is reported as a symlink and its target returned verbatim by
 *       {@link #readlink}, for the client's kernel to resolve against the client's view.</li>
 * </ul>
 * A symlink pointing outside the root may exist (and be created) like on the host; the daemon just never
 * follows it. Known limit: Java has no {@code openat}, so the component checks and the final operation are
 * separate system calls; a host process with write access inside {@code root} could swap a checked directory
 * for a symlink in between (TOCTOU). Closing that needs {@code openat2(RESOLVE_BENEATH)} through jnr-ffi.
 *
 * <h2>Fidelity</h2>
 * Modes (including set-uid/set-gid/sticky), owners, nlink, inode numbers, the three times, hard links,
 * symlinks and {@code user.*} extended attributes are those of the host files. New files get the caller's
 * uid/gid when the daemon runs as root (as a kernel filesystem would). Inode numbers reach callers only with
 * the {@code use_ino} mount option.
 */
public class PassthroughFs implements FuseFileSystem {
    private static final Logger LOG = LoggerFactory.getLogger(PassthroughFs.class);
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;
    private static final int O_ACCMODE = 03;
    private static final int O_WRONLY = 01;
    private static final int O_RDWR = 02;
    private static final int O_TRUNC = 01000;
    private static final String USER_NS = "user.";

    private final Path root;
    private final boolean daemonIsRoot;
    private final Map<Long, FileChannel> channels = new ConcurrentHashMap<>();
    private final AtomicLong nextFh = new AtomicLong(1);

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
        this.daemonIsRoot = uidOf(Path.of("/proc/self")) == 0;
    }

    /** The real path of the mirrored directory. */
    public Path root() {
        return root;
    }

    /** Number of open file handles (for tests and metrics). */
    public int openHandles() {
        return channels.size();
    }

    // ---------------------------------------------------------------- path resolution

    /**
     * The host path of a FUSE path: every component checked, every intermediate component a real directory
     * (never a symlink). The last component is returned unresolved: callers must not follow it.
     *
     * @throws ErrnoException EINVAL for {@code .}/{@code ..}/empty components, ELOOP for a symlink in the
     *                        middle, ENOTDIR/ENOENT for a missing or non-directory parent
     */
    public Path resolve(String fusePath) throws IOException {
        if (fusePath == null || !fusePath.startsWith("/")) {
            throw new ErrnoException(Errno.EINVAL, "not an absolute path: " + fusePath);
        }
        if (fusePath.equals("/")) {
            return root;
        }
        String[] parts = fusePath.substring(1).split("/", -1);
        Path p = root;
        for (int i = 0; i < parts.length; i++) {
            String c = parts[i];
            if (c.isEmpty() || c.equals(".") || c.equals("..") || c.indexOf('\0') >= 0) {
                throw new ErrnoException(Errno.EINVAL, "refused path component '" + c + "' in " + fusePath);
            }
            if (i > 0) {
                requireRealDirectory(p, fusePath);
            }
            p = p.resolve(c);
        }
        if (!p.startsWith(root) || p.getNameCount() != root.getNameCount() + parts.length) {
            throw new ErrnoException(Errno.EINVAL, "path escapes the root: " + fusePath);
        }
        return p;
    }

    private static void requireRealDirectory(Path dir, String fusePath) throws IOException {
        BasicFileAttributes a;
        a = Files.readAttributes(dir, BasicFileAttributes.class, NOFOLLOW);
        if (a.isSymbolicLink()) {
            throw new ErrnoException(Errno.ELOOP, "symlink in the middle of " + fusePath + " is never followed");
        }
        if (!a.isDirectory()) {
            throw new ErrnoException(Errno.ENOTDIR, fusePath);
        }
    }

    private static BasicFileAttributes lstat(Path p) throws IOException {
        return Files.readAttributes(p, BasicFileAttributes.class, NOFOLLOW);
    }

    // ---------------------------------------------------------------- attributes

    @Override
    public FileAttributes getattr(String path) throws IOException {
        return attributesOf(resolve(path));
    }

    static FileAttributes attributesOf(Path p) throws IOException {
        Map<String, Object> a;
        a = Files.readAttributes(p, "unix:*", NOFOLLOW);
        int mode = (Integer) a.get("mode");
        return FileAttributes.builder(FileType.ofMode(mode))
                .permissions(mode & 07777)
                .nlink(((Number) a.get("nlink")).longValue())
                .owner(((Number) a.get("uid")).longValue(), ((Number) a.get("gid")).longValue())
                .size((Long) a.get("size"))
                .inode(((Number) a.get("ino")).longValue())
                .atime(((FileTime) a.get("lastAccessTime")).toInstant())
                .mtime(((FileTime) a.get("lastModifiedTime")).toInstant())
                .ctime(((FileTime) a.get("ctime")).toInstant())
                .build();
    }

    @Override
    public void readdir(String path, DirectorySink sink) throws IOException {
        Path dir = resolve(path);
        BasicFileAttributes a = lstat(dir);
        if (!a.isDirectory()) {
            throw new ErrnoException(a.isSymbolicLink() ? Errno.ELOOP : Errno.ENOTDIR);
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path child : s) {
                String name = child.getFileName().toString();
                try {
                    sink.add(name, attributesOf(child));
                } catch (ErrnoException | IOException e) {
                    sink.add(name); // vanished meanwhile: let the kernel's lookup find out
                }
            }
        }
    }

    @Override
    public void chmod(String path, int mode) throws IOException {
        Path p = resolve(path);
        if (lstat(p).isSymbolicLink()) {
            throw new ErrnoException(Errno.EOPNOTSUPP, "Linux has no modes on symlinks");
        }
        Files.setAttribute(p, "unix:mode", mode & 07777, NOFOLLOW);
    }

    @Override
    public void chown(String path, OptionalLong uid, OptionalLong gid) throws IOException {
        Path p = resolve(path);
        if (uid.isPresent()) {
            Files.setAttribute(p, "unix:uid", (int) uid.getAsLong(), NOFOLLOW);
        }
        if (gid.isPresent()) {
            Files.setAttribute(p, "unix:gid", (int) gid.getAsLong(), NOFOLLOW);
        }
    }

    @Override
    public void utimens(String path, Optional<Instant> atime, Optional<Instant> mtime) throws IOException {
        Path p = resolve(path);
        Files.getFileAttributeView(p, BasicFileAttributeView.class, NOFOLLOW).setTimes(
                mtime.map(FileTime::from).orElse(null), atime.map(FileTime::from).orElse(null), null);
    }

    @Override
    public FsStats statfs(String path) throws IOException {
        FileStore store = Files.getFileStore(root);
        long bs = Math.max(512, store.getBlockSize());
        long files = 0;
        long freeFiles = 0;
        long nameMax = 255;
        try {
            Pointer buf = Memory.allocateDirect(jnr.ffi.Runtime.getSystemRuntime(), HostLibC.STATVFS_SIZE);
            if (HostLibC.load().statvfs(root.toString(), buf) == 0) {
                files = buf.getLong(40);
                freeFiles = buf.getLong(48);
                nameMax = buf.getLong(80);
            }
        } catch (RuntimeException | LinkageError e) {
            LOG.debug("statvfs unavailable: {}", e.toString());
        }
        return new FsStats(bs, store.getTotalSpace() / bs, store.getUnallocatedSpace() / bs,
                store.getUsableSpace() / bs, files, freeFiles, nameMax);
    }

    // ---------------------------------------------------------------- files

    @Override
    public long open(String path, OpenFlags openFlags) throws IOException {
        int flags = openFlags.raw();
        Path p = resolve(path);
        Set<OpenOption> opts = new HashSet<>();
        opts.add(NOFOLLOW);
        int acc = flags & O_ACCMODE;
        if (acc == O_WRONLY) {
            opts.add(StandardOpenOption.WRITE);
        } else if (acc == O_RDWR) {
            opts.add(StandardOpenOption.READ);
            opts.add(StandardOpenOption.WRITE);
        } else {
            opts.add(StandardOpenOption.READ);
        }
        if ((flags & O_TRUNC) != 0 && acc != 0) {
            opts.add(StandardOpenOption.TRUNCATE_EXISTING);
        }
        if (lstat(p).isDirectory()) {
            throw new ErrnoException(Errno.EISDIR);
        }
        return register(FileChannel.open(p, opts));
    }

    @Override
    public long create(String path, int mode, OpenFlags flags) throws IOException {
        Path p = resolve(path);
        // O_CREAT|O_EXCL never follows a symlink; the mode is set afterwards so the daemon's umask is not
        // applied twice (the kernel already applied the caller's).
        FileChannel ch = FileChannel.open(p, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE, NOFOLLOW));
        try {
            Files.setAttribute(p, "unix:mode", mode & 07777, NOFOLLOW);
            giveToCaller(p);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        return register(ch);
    }

    private long register(FileChannel ch) {
        long fh = nextFh.getAndIncrement();
        channels.put(fh, ch);
        return fh;
    }

    private FileChannel channel(long fh) {
        FileChannel ch = channels.get(fh);
        if (ch == null) {
            throw new ErrnoException(Errno.EBADF);
        }
        return ch;
    }

    @Override
    public int read(String path, long fh, ByteBuffer dst, long offset) throws IOException {
        FileChannel ch = channel(fh);
        int total = 0;
        while (dst.hasRemaining()) {
            int n = ch.read(dst, offset + total);
            if (n < 0) {
                break;
            }
            total += n;
        }
        return total;
    }

    @Override
    public int write(String path, long fh, ByteBuffer src, long offset) throws IOException {
        FileChannel ch = channel(fh);
        int total = 0;
        while (src.hasRemaining()) {
            total += ch.write(src, offset + total);
        }
        return total;
    }

    @Override
    public void truncate(String path, long size) throws IOException {
        Path p = resolve(path);
        try (FileChannel ch = FileChannel.open(p, Set.of(StandardOpenOption.WRITE, NOFOLLOW))) {
            long current = ch.size();
            if (size < current) {
                ch.truncate(size);
            } else if (size > current) {
                ch.write(ByteBuffer.wrap(new byte[1]), size - 1); // extends sparsely with zeros
            }
        }
    }

    @Override
    public void fsync(String path, long fh, boolean dataOnly) throws IOException {
        channel(fh).force(!dataOnly);
    }

    @Override
    public void release(String path, long fh, OpenFlags flags) {
        FileChannel ch = channels.remove(fh);
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                LOG.warn("closing {} failed: {}", path, e.toString());
            }
        }
    }

    // ---------------------------------------------------------------- namespace

    @Override
    public void mkdir(String path, int mode) throws IOException {
        Path p = resolve(path);
        Files.createDirectory(p);
        Files.setAttribute(p, "unix:mode", mode & 07777, NOFOLLOW);
        giveToCaller(p);
    }

    @Override
    public void rmdir(String path) throws IOException {
        Path p = resolve(path);
        if (p.equals(root)) {
            throw new ErrnoException(Errno.EBUSY);
        }
        if (!lstat(p).isDirectory()) {
            throw new ErrnoException(Errno.ENOTDIR);
        }
        Files.delete(p);
    }

    @Override
    public void unlink(String path) throws IOException {
        Path p = resolve(path);
        if (lstat(p).isDirectory()) {
            throw new ErrnoException(Errno.EISDIR);
        }
        Files.delete(p); // unlink(2): a symlink itself is removed, never its target
    }

    @Override
    public void rename(String from, String to) throws IOException {
        Path src = resolve(from);
        Path dst = resolve(to);
        if (src.equals(root) || dst.equals(root)) {
            throw new ErrnoException(Errno.EBUSY);
        }
        // rename(2): atomic, replaces the target as POSIX says, never follows symlinks
        Files.move(src, dst, StandardCopyOption.ATOMIC_MOVE);
    }

    @Override
    public void symlink(String target, String linkPath) throws IOException {
        Path p = resolve(linkPath);
        if (target.isEmpty() || target.indexOf('\0') >= 0) {
            throw new ErrnoException(Errno.ENOENT);
        }
        HostLibC libc = HostLibC.load();
        if (libc.symlink(target, p.toString()) != 0) {
            int errno = LastError.getLastError(jnr.ffi.Runtime.getSystemRuntime());
            Errno e = Errno.of(errno);
            throw new ErrnoException(e == null ? Errno.EIO : e, "symlink " + linkPath);
        }
        giveToCaller(p);
    }

    @Override
    public String readlink(String path) throws IOException {
        Path p = resolve(path);
        return Files.readSymbolicLink(p).toString(); // verbatim bytes of the target, never resolved
    }

    @Override
    public void link(String existing, String newPath) throws IOException {
        Path src = resolve(existing);
        Path dst = resolve(newPath);
        if (lstat(src).isDirectory()) {
            throw new ErrnoException(Errno.EPERM);
        }
        try {
            Files.createLink(dst, src); // link(2) links a symlink itself, it does not follow it
        } catch (FileAlreadyExistsException e) {
            throw new ErrnoException(Errno.EEXIST);
        }
    }

    /** New entries belong to the caller, as on a kernel filesystem (only possible when the daemon is root). */
    private void giveToCaller(Path p) throws IOException {
        if (!daemonIsRoot) {
            return;
        }
        RequestContext ctx = RequestContext.current().orElse(null);
        if (ctx == null || (ctx.uid() == 0 && ctx.gid() == 0)) {
            return;
        }
        Files.setAttribute(p, "unix:uid", (int) ctx.uid(), NOFOLLOW);
        Files.setAttribute(p, "unix:gid", (int) ctx.gid(), NOFOLLOW);
    }

    private static long uidOf(Path p) {
        try {
            return ((Number) Files.getAttribute(p, "unix:uid")).longValue();
        } catch (IOException | UnsupportedOperationException e) {
            return -1;
        }
    }

    // ---------------------------------------------------------------- xattrs

    private UserDefinedFileAttributeView xattrs(String path, String name) throws IOException {
        if (name != null && !name.startsWith(USER_NS)) {
            throw new ErrnoException(Errno.ENOTSUP, "only the user. namespace is supported: " + name);
        }
        Path p = resolve(path);
        if (lstat(p).isSymbolicLink()) {
            throw new ErrnoException(Errno.ENOTSUP, "user xattrs are not allowed on symlinks");
        }
        UserDefinedFileAttributeView v = Files.getFileAttributeView(p, UserDefinedFileAttributeView.class,
                NOFOLLOW);
        if (v == null) {
            throw new ErrnoException(Errno.ENOTSUP);
        }
        return v;
    }

    private static boolean has(UserDefinedFileAttributeView v, String shortName) throws IOException {
        return v.list().contains(shortName);
    }

    @Override
    public void setxattr(String path, String name, byte[] value, XattrMode mode) throws IOException {
        UserDefinedFileAttributeView v = xattrs(path, name);
        String n = name.substring(USER_NS.length());
        if (mode == XattrMode.CREATE && has(v, n)) {
            throw new ErrnoException(Errno.EEXIST);
        }
        if (mode == XattrMode.REPLACE && !has(v, n)) {
            throw new ErrnoException(Errno.ENODATA);
        }
        v.write(n, ByteBuffer.wrap(value));
    }

    @Override
    public byte[] getxattr(String path, String name) throws IOException {
        UserDefinedFileAttributeView v = xattrs(path, name);
        String n = name.substring(USER_NS.length());
        try {
            if (!has(v, n)) {
                throw new ErrnoException(Errno.ENODATA);
            }
            ByteBuffer buf = ByteBuffer.allocate(v.size(n));
            v.read(n, buf);
            buf.flip();
            byte[] out = new byte[buf.remaining()];
            buf.get(out);
            return out;
        } catch (NoSuchFileException e) {
            throw new ErrnoException(Errno.ENOENT);
        }
    }

    @Override
    public List<String> listxattr(String path) throws IOException {
        Path p = resolve(path);
        if (lstat(p).isSymbolicLink()) {
            return List.of();
        }
        UserDefinedFileAttributeView v = xattrs(path, null);
        try {
            List<String> names = new ArrayList<>();
            for (String n : v.list()) {
                names.add(USER_NS + n);
            }
            return names;
        } catch (IOException e) {
            if (Errno.of(e) == Errno.EOPNOTSUPP) { // the host filesystem has no user xattrs: none to list
                return List.of();
            }
            throw e;
        }
    }

    @Override
    public void removexattr(String path, String name) throws IOException {
        UserDefinedFileAttributeView v = xattrs(path, name);
        String n = name.substring(USER_NS.length());
        if (!has(v, n)) {
            throw new ErrnoException(Errno.ENODATA);
        }
        v.delete(n);
    }

    /** Closes every file handle still open (after the unmount). */
    public void closeAll() {
        for (Long fh : List.copyOf(channels.keySet())) {
            release(null, fh, OpenFlags.of(0));
        }
    }
}
