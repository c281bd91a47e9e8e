package io.fuseguard.benchmark;

import jnr.ffi.Pointer;
import jnr.ffi.types.mode_t;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A plain jnr-fuse in-memory filesystem for the benchmark: what a typical jnr-fuse user writes, but with
 * content in 64 KiB chunks so a write costs what it writes (jnr-fuse's own MemoryFS example copies the whole
 * file on every write). The same class is mounted by jnr-fuse itself ("plain") and through fuseguard's
 * one-line adapter ("adapter"), so the two differ only in the request path.
 *
 * <p>Deliberately the same design as the C reference ({@code bench/c/memfs.c}): one read-write lock, reads,
 * getattr and readdir shared, changes exclusive. It does not call jnr-fuse's {@code getContext()} (the
 * adapter runs handlers on its own threads, where that has no request): new files belong to the daemon's
 * user. Supports what the workloads need: files, directories, symlinks, rename, truncate, chmod, chown,
 * utimens, statfs.
 */
public final class ChunkedMemoryFs extends FuseStubFS {
    private static final int CHUNK = 64 * 1024;
    private static final long UTIME_NOW = (1L << 30) - 1;
    private static final long UTIME_OMIT = (1L << 30) - 2;

    private final ReentrantReadWriteLock rw = new ReentrantReadWriteLock();
    private final Lock read = rw.readLock();
    private final Lock write = rw.writeLock();
    private final long uid;
    private final long gid;
    private final Node root;

    /** An empty filesystem whose root belongs to the daemon's user. */
    public ChunkedMemoryFs() {
        long[] ids = ids();
        uid = ids[0];
        gid = ids[1];
        root = new Node(FileStat.S_IFDIR | 0755, uid, gid);
    }

    private static long[] ids() {
        try {
            long u = 0;
            long g = 0;
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    u = Long.parseLong(line.split("\\s+")[2]);
                } else if (line.startsWith("Gid:")) {
                    g = Long.parseLong(line.split("\\s+")[2]);
                }
            }
            return new long[] {u, g};
        } catch (Exception e) {
            return new long[] {0, 0};
        }
    }

    private static final class Node {
        int mode;
        long uid;
        long gid;
        long atimeSec;
        long atimeNsec;
        long mtimeSec;
        long mtimeNsec;
        long ctimeSec;
        long ctimeNsec;
        long size;
        byte[][] chunks = new byte[0][];
        String link;
        Node parent;
        int subdirs;
        final Map<String, Node> children;

        Node(int mode, long uid, long gid) {
            this.mode = mode;
            this.uid = uid;
            this.gid = gid;
            this.children = (mode & FileStat.S_IFMT) == FileStat.S_IFDIR ? new HashMap<>() : null;
            touchAll();
        }

        boolean isDir() {
            return children != null;
        }

        void touchAll() {
            long now = System.currentTimeMillis();
            atimeSec = mtimeSec = ctimeSec = now / 1000;
            atimeNsec = mtimeNsec = ctimeNsec = (now % 1000) * 1_000_000;
        }

        void modified() {
            long now = System.currentTimeMillis();
            mtimeSec = ctimeSec = now / 1000;
            mtimeNsec = ctimeNsec = (now % 1000) * 1_000_000;
        }

        void changed() {
            long now = System.currentTimeMillis();
            ctimeSec = now / 1000;
            ctimeNsec = (now % 1000) * 1_000_000;
        }

        void setSize(long newSize) {
            if (newSize < size) {
                int keep = (int) ((newSize + CHUNK - 1) / CHUNK);
                for (int i = keep; i < chunks.length; i++) {
                    chunks[i] = null;
                }
                int tail = (int) (newSize % CHUNK);
                if (tail != 0 && keep - 1 < chunks.length && chunks[keep - 1] != null) {
                    Arrays.fill(chunks[keep - 1], tail, CHUNK, (byte) 0);
                }
            }
            size = newSize;
            modified();
        }
    }

    private Node resolve(String path) {
        Node n = root;
        int i = 0;
        int len = path.length();
        while (n != null) {
            while (i < len && path.charAt(i) == '/') {
                i++;
            }
            if (i >= len) {
                return n;
            }
            int end = path.indexOf('/', i);
            if (end < 0) {
                end = len;
            }
            n = n.isDir() ? n.children.get(path.substring(i, end)) : null;
            i = end;
        }
        return null;
    }

    private Node parentOf(String path) {
        Node d = resolve(path.substring(0, path.lastIndexOf('/')));
        return d != null && d.isDir() ? d : null;
    }

    private static String nameOf(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    private int make(String path, int mode, String link) {
        Node dir = parentOf(path);
        if (dir == null) {
            return -ErrorCodes.ENOENT();
        }
        String name = nameOf(path);
        if (dir.children.containsKey(name)) {
            return -ErrorCodes.EEXIST();
        }
        Node n = new Node(mode, uid, gid);
        n.link = link;
        if (link != null) {
            n.size = link.getBytes(StandardCharsets.UTF_8).length;
        }
        n.parent = dir;
        dir.children.put(name, n);
        if (n.isDir()) {
            dir.subdirs++;
        }
        dir.modified();
        return 0;
    }

    @Override
    public int getattr(String path, FileStat st) {
        read.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            st.st_mode.set(n.mode);
            st.st_nlink.set(n.isDir() ? 2 + n.subdirs : 1);
            st.st_uid.set(n.uid);
            st.st_gid.set(n.gid);
            st.st_size.set(n.size);
            st.st_blocks.set((n.size + 511) / 512);
            st.st_blksize.set(4096);
            st.st_atim.tv_sec.set(n.atimeSec);
            st.st_atim.tv_nsec.set(n.atimeNsec);
            st.st_mtim.tv_sec.set(n.mtimeSec);
            st.st_mtim.tv_nsec.set(n.mtimeNsec);
            st.st_ctim.tv_sec.set(n.ctimeSec);
            st.st_ctim.tv_nsec.set(n.ctimeNsec);
            return 0;
        } finally {
            read.unlock();
        }
    }

    @Override
    public int readlink(String path, Pointer buf, @size_t long size) {
        read.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            if (n.link == null) {
                return -ErrorCodes.EINVAL();
            }
            byte[] b = n.link.getBytes(StandardCharsets.UTF_8);
            int len = (int) Math.min(b.length, size - 1);
            buf.put(0, b, 0, len);
            buf.putByte(len, (byte) 0);
            return 0;
        } finally {
            read.unlock();
        }
    }

    @Override
    public int mkdir(String path, @mode_t long mode) {
        write.lock();
        try {
            return make(path, FileStat.S_IFDIR | (int) (mode & 07777), null);
        } finally {
            write.unlock();
        }
    }

    @Override
    public int mknod(String path, @mode_t long mode, long rdev) {
        if ((mode & FileStat.S_IFMT) != FileStat.S_IFREG) {
            return -ErrorCodes.EPERM();
        }
        write.lock();
        try {
            return make(path, (int) mode, null);
        } finally {
            write.unlock();
        }
    }

    @Override
    public int create(String path, @mode_t long mode, FuseFileInfo fi) {
        write.lock();
        try {
            return make(path, FileStat.S_IFREG | (int) (mode & 07777), null);
        } finally {
            write.unlock();
        }
    }

    @Override
    public int symlink(String target, String path) {
        write.lock();
        try {
            return make(path, FileStat.S_IFLNK | 0777, target);
        } finally {
            write.unlock();
        }
    }

    @Override
    public int unlink(String path) {
        write.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            if (n.isDir()) {
                return -ErrorCodes.EISDIR();
            }
            n.parent.children.remove(nameOf(path));
            n.parent.modified();
            return 0;
        } finally {
            write.unlock();
        }
    }

    @Override
    public int rmdir(String path) {
        write.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            if (!n.isDir()) {
                return -ErrorCodes.ENOTDIR();
            }
            if (n == root) {
                return -ErrorCodes.EBUSY();
            }
            if (!n.children.isEmpty()) {
                return -ErrorCodes.ENOTEMPTY();
            }
            n.parent.children.remove(nameOf(path));
            n.parent.subdirs--;
            n.parent.modified();
            return 0;
        } finally {
            write.unlock();
        }
    }

    @Override
    public int rename(String from, String to) {
        write.lock();
        try {
            Node n = resolve(from);
            Node dir = parentOf(to);
            if (n == null || dir == null || n == root) {
                return -ErrorCodes.ENOENT();
            }
            for (Node a = dir; a != null; a = a.parent) {
                if (a == n) {
                    return -ErrorCodes.EINVAL();
                }
            }
            String name = nameOf(to);
            Node old = dir.children.get(name);
            if (old == n) {
                return 0;
            }
            if (old != null) {
                if (old.isDir() && !n.isDir()) {
                    return -ErrorCodes.EISDIR();
                }
                if (!old.isDir() && n.isDir()) {
                    return -ErrorCodes.ENOTDIR();
                }
                if (old.isDir() && !old.children.isEmpty()) {
                    return -ErrorCodes.ENOTEMPTY();
                }
            }
            n.parent.children.remove(nameOf(from));
            n.parent.modified();
            if (n.isDir()) {
                n.parent.subdirs--;
                dir.subdirs += old == null ? 1 : 0;
            }
            dir.children.put(name, n);
            dir.modified();
            n.parent = dir;
            n.changed();
            return 0;
        } finally {
            write.unlock();
        }
    }

    @Override
    public int chmod(String path, @mode_t long mode) {
        write.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            n.mode = (n.mode & FileStat.S_IFMT) | (int) (mode & 07777);
            n.changed();
            return 0;
        } finally {
            write.unlock();
        }
    }

    @Override
    public int chown(String path, long uid, long gid) {
        write.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            // (uid_t) -1 means "leave unchanged"; jnr-ffi may hand it over as 4294967295.
            if (uid != -1 && uid != 0xFFFF_FFFFL) {
                n.uid = uid;
            }
            if (gid != -1 && gid != 0xFFFF_FFFFL) {
                n.gid = gid;
            }
            n.changed();
            return 0;
        } finally {
            write.unlock();
        }
    }

    @Override
    public int truncate(String path, @off_t long size) {
        write.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            if (n.isDir() || n.link != null) {
                return -ErrorCodes.EINVAL();
            }
            n.setSize(size);
            return 0;
        } finally {
            write.unlock();
        }
    }

    @Override
    public int utimens(String path, Timespec[] timespec) {
        write.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            long now = System.currentTimeMillis();
            long nsec = timespec[0].tv_nsec.longValue();
            if (nsec == UTIME_NOW) {
                n.atimeSec = now / 1000;
                n.atimeNsec = (now % 1000) * 1_000_000;
            } else if (nsec != UTIME_OMIT) {
                n.atimeSec = timespec[0].tv_sec.get();
                n.atimeNsec = nsec;
            }
            nsec = timespec[1].tv_nsec.longValue();
            if (nsec == UTIME_NOW) {
                n.mtimeSec = now / 1000;
                n.mtimeNsec = (now % 1000) * 1_000_000;
            } else if (nsec != UTIME_OMIT) {
                n.mtimeSec = timespec[1].tv_sec.get();
                n.mtimeNsec = nsec;
            }
            n.changed();
            return 0;
        } finally {
            write.unlock();
        }
    }

    @Override
    public int open(String path, FuseFileInfo fi) {
        read.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            return n.isDir() ? -ErrorCodes.EISDIR() : 0;
        } finally {
            read.unlock();
        }
    }

    @Override
    public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        read.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            if (offset >= n.size) {
                return 0;
            }
            int total = (int) Math.min(size, n.size - offset);
            int done = 0;
            while (done < total) {
                long pos = offset + done;
                int c = (int) (pos / CHUNK);
                int o = (int) (pos % CHUNK);
                int len = Math.min(CHUNK - o, total - done);
                byte[] chunk = c < n.chunks.length ? n.chunks[c] : null;
                if (chunk != null) {
                    buf.put(done, chunk, o, len);
                } else {
                    buf.setMemory(done, len, (byte) 0);
                }
                done += len;
            }
            return total;
        } finally {
            read.unlock();
        }
    }

    @Override
    public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        write.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            long end = offset + size;
            int need = (int) ((end + CHUNK - 1) / CHUNK);
            if (need > n.chunks.length) {
                n.chunks = Arrays.copyOf(n.chunks, Math.max(need, Math.max(4, n.chunks.length * 2)));
            }
            int done = 0;
            while (done < size) {
                long pos = offset + done;
                int c = (int) (pos / CHUNK);
                int o = (int) (pos % CHUNK);
                int len = (int) Math.min(CHUNK - o, size - done);
                if (n.chunks[c] == null) {
                    n.chunks[c] = new byte[CHUNK];
                }
                buf.get(done, n.chunks[c], o, len);
                done += len;
            }
            if (end > n.size) {
                n.size = end;
            }
            n.modified();
            return (int) size;
        } finally {
            write.unlock();
        }
    }

    @Override
    public int statfs(String path, Statvfs st) {
        st.f_bsize.set(4096);
        st.f_frsize.set(4096);
        st.f_blocks.set(16L << 20);
        st.f_bfree.set(16L << 20);
        st.f_bavail.set(16L << 20);
        st.f_files.set(1 << 24);
        st.f_ffree.set(1 << 24);
        st.f_favail.set(1 << 24);
        st.f_namemax.set(255);
        return 0;
    }

    @Override
    public int fsync(String path, int isdatasync, FuseFileInfo fi) {
        return 0;
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filter, @off_t long offset, FuseFileInfo fi) {
        read.lock();
        try {
            Node n = resolve(path);
            if (n == null) {
                return -ErrorCodes.ENOENT();
            }
            if (!n.isDir()) {
                return -ErrorCodes.ENOTDIR();
            }
            filter.apply(buf, ".", null, 0);
            filter.apply(buf, "..", null, 0);
            for (String name : n.children.keySet()) {
                filter.apply(buf, name, null, 0);
            }
            return 0;
        } finally {
            read.unlock();
        }
    }
}
