package io.fuseguard.testkit;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.FallocateMode;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.RenameMode;
import io.fuseguard.api.SeekWhence;
import io.fuseguard.api.XattrMode;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A filesystem that forwards every operation to another one: tests override the few they want to slow down or
 * break, around a real filesystem (MemoryFs, PassthroughFs) they cannot subclass.
 */
public class DelegatingFs implements FuseFileSystem {
    protected final FuseFileSystem fs;

    /** Forwards to {@code fs}. */
    public DelegatingFs(FuseFileSystem fs) {
        this.fs = fs;
    }

    @Override
    public void init() throws IOException {
        fs.init();
    }

    @Override
    public void destroy() {
        fs.destroy();
    }

    @Override
    public FileAttributes getattr(String path) throws IOException {
        return fs.getattr(path);
    }

    @Override
    public void readdir(String path, DirectorySink sink) throws IOException {
        fs.readdir(path, sink);
    }

    @Override
    public long open(String path, OpenFlags flags) throws IOException {
        return fs.open(path, flags);
    }

    @Override
    public long create(String path, int mode, OpenFlags flags) throws IOException {
        return fs.create(path, mode, flags);
    }

    @Override
    public int read(String path, long fh, ByteBuffer dst, long offset) throws IOException {
        return fs.read(path, fh, dst, offset);
    }

    @Override
    public int write(String path, long fh, ByteBuffer src, long offset) throws IOException {
        return fs.write(path, fh, src, offset);
    }

    @Override
    public void truncate(String path, long size) throws IOException {
        fs.truncate(path, size);
    }

    @Override
    public void flush(String path, long fh) throws IOException {
        fs.flush(path, fh);
    }

    @Override
    public void release(String path, long fh, OpenFlags flags) throws IOException {
        fs.release(path, fh, flags);
    }

    @Override
    public void fsync(String path, long fh, boolean dataOnly) throws IOException {
        fs.fsync(path, fh, dataOnly);
    }

    @Override
    public void fsyncdir(String path, boolean dataOnly) throws IOException {
        fs.fsyncdir(path, dataOnly);
    }

    @Override
    public void fallocate(String path, long fh, FallocateMode mode, long offset, long length) throws IOException {
        fs.fallocate(path, fh, mode, offset, length);
    }

    @Override
    public void mknod(String path, FileType type, int permissions, long rdev) throws IOException {
        fs.mknod(path, type, permissions, rdev);
    }

    @Override
    public void mkdir(String path, int mode) throws IOException {
        fs.mkdir(path, mode);
    }

    @Override
    public void rmdir(String path) throws IOException {
        fs.rmdir(path);
    }

    @Override
    public void unlink(String path) throws IOException {
        fs.unlink(path);
    }

    @Override
    public void rename(String from, String to) throws IOException {
        fs.rename(from, to);
    }

    @Override
    public void rename(String from, String to, RenameMode mode) throws IOException {
        fs.rename(from, to, mode);
    }

    @Override
    public void symlink(String target, String linkPath) throws IOException {
        fs.symlink(target, linkPath);
    }

    @Override
    public String readlink(String path) throws IOException {
        return fs.readlink(path);
    }

    @Override
    public void link(String existing, String newPath) throws IOException {
        fs.link(existing, newPath);
    }

    @Override
    public void chmod(String path, int mode) throws IOException {
        fs.chmod(path, mode);
    }

    @Override
    public void chown(String path, OptionalLong uid, OptionalLong gid) throws IOException {
        fs.chown(path, uid, gid);
    }

    @Override
    public void utimens(String path, Optional<Instant> atime, Optional<Instant> mtime) throws IOException {
        fs.utimens(path, atime, mtime);
    }

    @Override
    public FsStats statfs(String path) throws IOException {
        return fs.statfs(path);
    }

    @Override
    public void setxattr(String path, String name, byte[] value, XattrMode mode) throws IOException {
        fs.setxattr(path, name, value, mode);
    }

    @Override
    public byte[] getxattr(String path, String name) throws IOException {
        return fs.getxattr(path, name);
    }

    @Override
    public List<String> listxattr(String path) throws IOException {
        return fs.listxattr(path);
    }

    @Override
    public void removexattr(String path, String name) throws IOException {
        fs.removexattr(path, name);
    }

    // Locks are not forwarded: overriding setlk/flock makes the mount forward them, which a wrapped filesystem
    // without locks would answer ENOSYS. The other optional operations fall back the same way either way.

    @Override
    public long lseek(String path, long fh, long offset, SeekWhence whence) throws IOException {
        return fs.lseek(path, fh, offset, whence);
    }

    @Override
    public long copyFileRange(String pathIn, long fhIn, long offsetIn, String pathOut, long fhOut, long offsetOut,
                              long length, int flags) throws IOException {
        return fs.copyFileRange(pathIn, fhIn, offsetIn, pathOut, fhOut, offsetOut, length, flags);
    }

    @Override
    public FileAttributes statx(String path) throws IOException {
        return fs.statx(path);
    }

    @Override
    public long tmpfile(String path, int mode, OpenFlags flags) throws IOException {
        return fs.tmpfile(path, mode, flags);
    }
}
