package io.fuseguard.internal.wire;

import java.nio.ByteBuffer;

/**
 * Attributes of a file on their way to the kernel ({@code struct fuse_attr}). Mutable and reused: each request
 * thread owns one, a bridge fills it, the dispatcher post-processes it (inode numbers, uid/gid/umask options)
 * and encodes it into the reply. No object is allocated per request.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class Attr {
    public long ino;
    public long size;
    public long blocks;
    public long atimeSec;
    public long mtimeSec;
    public long ctimeSec;
    public int atimeNsec;
    public int mtimeNsec;
    public int ctimeNsec;
    public int mode;
    public int nlink;
    public int uid;
    public int gid;
    public int rdev;
    public int blksize;
    /** The birth time, when {@link #hasBtime} (only STATX answers carry it). */
    public long btimeSec;
    public int btimeNsec;
    public boolean hasBtime;

    /** Resets every field to zero. */
    public void clear() {
        ino = size = blocks = atimeSec = mtimeSec = ctimeSec = btimeSec = 0;
        atimeNsec = mtimeNsec = ctimeNsec = mode = nlink = uid = gid = rdev = blksize = btimeNsec = 0;
        hasBtime = false;
    }

    /** Writes {@code struct fuse_attr} at {@code at}. */
    public void encode(ByteBuffer b, int at) {
        b.putLong(at, ino);
        b.putLong(at + 8, size);
        b.putLong(at + 16, blocks);
        b.putLong(at + 24, atimeSec);
        b.putLong(at + 32, mtimeSec);
        b.putLong(at + 40, ctimeSec);
        b.putInt(at + 48, atimeNsec);
        b.putInt(at + 52, mtimeNsec);
        b.putInt(at + 56, ctimeNsec);
        b.putInt(at + 60, mode);
        b.putInt(at + 64, nlink);
        b.putInt(at + 68, uid);
        b.putInt(at + 72, gid);
        b.putInt(at + 76, rdev);
        b.putInt(at + 80, blksize);
        b.putInt(at + 84, 0);
    }

    /**
     * Writes {@code struct fuse_statx} (256 bytes, statx(2)'s layout) at {@code at}: the basic fields, and the
     * birth time when known.
     */
    public void encodeStatx(ByteBuffer b, int at) {
        for (int i = 0; i < Fuse.STATX_OUT - 32; i += 8) {
            b.putLong(at + i, 0);
        }
        b.putInt(at, Fuse.STATX_BASIC_STATS | (hasBtime ? Fuse.STATX_BTIME : 0));
        b.putInt(at + 4, blksize);
        b.putInt(at + 16, nlink);
        b.putInt(at + 20, uid);
        b.putInt(at + 24, gid);
        b.putShort(at + 28, (short) mode);
        b.putLong(at + 32, ino);
        b.putLong(at + 40, size);
        b.putLong(at + 48, blocks);
        time(b, at + 64, atimeSec, atimeNsec);
        if (hasBtime) {
            time(b, at + 80, btimeSec, btimeNsec);
        }
        time(b, at + 96, ctimeSec, ctimeNsec);
        time(b, at + 112, mtimeSec, mtimeNsec);
        // fuse_attr's rdev is the kernel's new_encode_dev(); statx carries major and minor apart
        b.putInt(at + 128, (rdev & 0xfff00) >>> 8);
        b.putInt(at + 132, (rdev & 0xff) | ((rdev >>> 12) & 0xfff00));
    }

    private static void time(ByteBuffer b, int at, long sec, int nsec) {
        b.putLong(at, sec);
        b.putInt(at + 8, nsec);
        b.putInt(at + 12, 0);
    }

    /** The type bits of the mode ({@code S_IFMT}). */
    public int type() {
        return mode & 0170000;
    }
}
