package io.fuseguard.drill;

import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A jnr-fuse filesystem whose data lives outside its process, as a team's filesystem backed by a disk or a cloud
 * cache does: every path is a file of a backing directory, every open file a {@link FileChannel} behind the
 * handle jnr-fuse keeps ({@code fi.fh}). Nothing in it knows fuseguard: the drill's daemon-death scenario serves
 * this very class with plain jnr-fuse and, unchanged, through fuseguard's one-line adapter under a supervisor.
 */
public final class DirectoryJnrFs extends FuseStubFS {
    private final Path root;
    private final Map<Long, FileChannel> open = new ConcurrentHashMap<>();
    private final AtomicLong nextHandle = new AtomicLong(1);

    /** Serves the files of {@code root}. */
    public DirectoryJnrFs(Path root) {
        this.root = root;
    }

    private Path at(String path) {
        return root.resolve(path.substring(1));
    }

    private static int errno(IOException e) {
        if (e instanceof NoSuchFileException) {
            return -ErrorCodes.ENOENT();
        }
        if (e instanceof FileAlreadyExistsException) {
            return -ErrorCodes.EEXIST();
        }
        if (e instanceof DirectoryNotEmptyException) {
            return -ErrorCodes.ENOTEMPTY();
        }
        if (e instanceof NotDirectoryException) {
            return -ErrorCodes.ENOTDIR();
        }
        if (e instanceof AccessDeniedException) {
            return -ErrorCodes.EACCES();
        }
        return -ErrorCodes.EIO();
    }

    @Override
    public int getattr(String path, FileStat stat) {
        try {
            Map<String, Object> a = Files.readAttributes(at(path), "unix:mode,size,nlink,uid,gid,lastModifiedTime,"
                    + "ino", LinkOption.NOFOLLOW_LINKS);
            stat.st_mode.set((Integer) a.get("mode"));
            stat.st_size.set((Long) a.get("size"));
            stat.st_nlink.set((Integer) a.get("nlink"));
            stat.st_uid.set((Integer) a.get("uid"));
            stat.st_gid.set((Integer) a.get("gid"));
            long ms = ((FileTime) a.get("lastModifiedTime")).toMillis();
            stat.st_mtim.tv_sec.set(ms / 1000);
            stat.st_mtim.tv_nsec.set((ms % 1000) * 1_000_000);
            stat.st_ctim.tv_sec.set(ms / 1000);
            stat.st_atim.tv_sec.set(ms / 1000);
            return 0;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int readdir(String path, Pointer buf, FuseFillDir filter, @off_t long offset, FuseFileInfo fi) {
        filter.apply(buf, ".", null, 0);
        filter.apply(buf, "..", null, 0);
        try (DirectoryStream<Path> d = Files.newDirectoryStream(at(path))) {
            for (Path p : d) {
                filter.apply(buf, p.getFileName().toString(), null, 0);
            }
            return 0;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int mkdir(String path, long mode) {
        try {
            Files.createDirectory(at(path));
            return 0;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int rmdir(String path) {
        try {
            Files.delete(at(path));
            return 0;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int unlink(String path) {
        try {
            Files.delete(at(path));
            return 0;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int rename(String from, String to) {
        try {
            Files.move(at(from), at(to), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return 0;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int create(String path, long mode, FuseFileInfo fi) {
        return openWith(path, fi, Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE));
    }

    @Override
    public int open(String path, FuseFileInfo fi) {
        int flags = fi.flags.get();
        Set<OpenOption> options = new HashSet<>();
        options.add(StandardOpenOption.READ);
        if ((flags & 3) != 0) {
            options.add(StandardOpenOption.WRITE);
        }
        if ((flags & 01000) != 0) {
            options.add(StandardOpenOption.TRUNCATE_EXISTING);
        }
        return openWith(path, fi, options);
    }

    private int openWith(String path, FuseFileInfo fi, Set<? extends OpenOption> options) {
        try {
            FileChannel c = FileChannel.open(at(path), options);
            long h = nextHandle.getAndIncrement();
            open.put(h, c);
            fi.fh.set(h);
            return 0;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        FileChannel c = open.get(fi.fh.get());
        if (c == null) {
            return -ErrorCodes.EBADF();
        }
        try {
            ByteBuffer b = ByteBuffer.allocate((int) size);
            int n = Math.max(0, c.read(b, offset));
            buf.put(0, b.array(), 0, n);
            return n;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        FileChannel c = open.get(fi.fh.get());
        if (c == null) {
            return -ErrorCodes.EBADF();
        }
        try {
            byte[] b = new byte[(int) size];
            buf.get(0, b, 0, b.length);
            ByteBuffer bb = ByteBuffer.wrap(b);
            long at = offset;
            while (bb.hasRemaining()) {
                at += c.write(bb, at);
            }
            return b.length;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int truncate(String path, @off_t long size) {
        try (FileChannel c = FileChannel.open(at(path), StandardOpenOption.WRITE)) {
            c.truncate(size);
            return 0;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int fsync(String path, int isdatasync, FuseFileInfo fi) {
        FileChannel c = open.get(fi.fh.get());
        if (c == null) {
            return -ErrorCodes.EBADF();
        }
        try {
            c.force(isdatasync == 0);
            return 0;
        } catch (IOException e) {
            return errno(e);
        }
    }

    @Override
    public int release(String path, FuseFileInfo fi) {
        FileChannel c = open.remove(fi.fh.get());
        if (c != null) {
            try {
                c.close();
            } catch (IOException e) {
                return errno(e);
            }
        }
        return 0;
    }

    @Override
    public int utimens(String path, ru.serce.jnrfuse.struct.Timespec[] timespec) {
        return 0;
    }
}
