package io.fuseguard.examples.host;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import jnr.ffi.Pointer;

import java.time.Instant;

/**
 * {@code statx(2)} of one entry, as {@link FileAttributes}. statx rather than
 * {@code fstatat}: its structure is the same on every architecture.
 */
public final class HostStat {
    private static final int STATX_BASIC_STATS = 0x7ff;
    private static final ThreadLocal<Pointer> BUF = ThreadLocal.withInitial(() -> Host.buffer(HostLibC.STATX_SIZE));

    private HostStat() {
    }

    /**
     * The attributes of {@code name} in {@code dirfd} (of {@code dirfd} itself when {@code name} is empty).
     *
     * @param flags {@code AT_SYMLINK_NOFOLLOW}, or 0 for the root's {@code /proc/self/fd/N} (see {@link Entry})
     */
    public static FileAttributes of(int dirfd, String name, int flags) {
        return decode(raw(dirfd, name, flags));
    }

    /** The attributes of an open descriptor's own inode. */
    public static FileAttributes of(int fd) {
        return of(fd, "", Host.AT_SYMLINK_NOFOLLOW);
    }

    /** The full mode ({@code S_IF*} and permission bits) of an open descriptor's own inode. */
    public static int mode(int fd) {
        return raw(fd, "", Host.AT_SYMLINK_NOFOLLOW).getShort(28) & 0xffff;
    }

    /** The full mode of {@code name} in {@code dirfd}, never following a final symlink. */
    public static int mode(int dirfd, String name) {
        return raw(dirfd, name, Host.AT_SYMLINK_NOFOLLOW).getShort(28) & 0xffff;
    }

    private static final int STATX_BTIME = 0x800;

    /**
     * When an open descriptor's inode was made, in nanoseconds since the epoch, or -1 when the filesystem does not
     * keep it. A rename keeps it, so it tells a new entry from an older one moved into its name.
     */
    public static long birthNanos(int fd) {
        Pointer b = BUF.get();
        Host.check(Host.LIBC.statx(fd, "", Host.AT_EMPTY_PATH | Host.AT_SYMLINK_NOFOLLOW, STATX_BTIME, b),
                "statx");
        if ((b.getInt(0) & STATX_BTIME) == 0) {
            return -1;
        }
        return b.getLong(80) * 1_000_000_000L + (b.getInt(88) & 0xffffffffL);
    }

    /**
     * As {@link #of(int, String, int)}, with the birth time when the host filesystem keeps it
     * ({@link FileAttributes#birthTime()}).
     */
    public static FileAttributes withBirthTime(int dirfd, String name, int flags) {
        Pointer b = BUF.get();
        int all = flags | (name.isEmpty() ? Host.AT_EMPTY_PATH : 0);
        Host.check(Host.LIBC.statx(dirfd, name, all, STATX_BASIC_STATS | STATX_BTIME, b), "statx " + name);
        FileAttributes a = decode(b);
        if ((b.getInt(0) & STATX_BTIME) == 0) {
            return a;
        }
        return a.toBuilder().birthTime(time(b, 80)).build();
    }

    /** The device and inode number of an open descriptor's inode: what identifies a file on the host. */
    public static long[] identity(int fd) {
        Pointer b = raw(fd, "", Host.AT_SYMLINK_NOFOLLOW);
        long dev = makedev(b.getInt(136) & 0xffffffffL, b.getInt(140) & 0xffffffffL);
        return new long[] {dev, b.getLong(32)};
    }

    private static Pointer raw(int dirfd, String name, int flags) {
        Pointer b = BUF.get();
        int all = flags | (name.isEmpty() ? Host.AT_EMPTY_PATH : 0);
        Host.check(Host.LIBC.statx(dirfd, name, all, STATX_BASIC_STATS, b), "statx " + name);
        return b;
    }

    private static FileAttributes decode(Pointer b) {
        int mode = b.getShort(28) & 0xffff;
        long rdevMajor = b.getInt(128) & 0xffffffffL;
        long rdevMinor = b.getInt(132) & 0xffffffffL;
        return FileAttributes.builder(FileType.ofMode(mode))
                .permissions(mode & 07777)
                .nlink(b.getInt(16) & 0xffffffffL)
                .owner(b.getInt(20) & 0xffffffffL, b.getInt(24) & 0xffffffffL)
                .inode(b.getLong(32))
                .size(b.getLong(40))
                .blocks(b.getLong(48))
                .atime(time(b, 64))
                .ctime(time(b, 96))
                .mtime(time(b, 112))
                .rdev(makedev(rdevMajor, rdevMinor))
                .build();
    }

    private static Instant time(Pointer b, int offset) {
        return Instant.ofEpochSecond(b.getLong(offset), b.getInt(offset + 8) & 0xffffffffL);
    }

    /** glibc's {@code makedev}: the encoding the kernel's FUSE client decodes ({@code new_decode_dev}). */
    public static long makedev(long major, long minor) {
        return ((major & 0xfffff000L) << 32) | ((major & 0xfffL) << 8)
                | ((minor & 0xffffff00L) << 12) | (minor & 0xffL);
    }
}
