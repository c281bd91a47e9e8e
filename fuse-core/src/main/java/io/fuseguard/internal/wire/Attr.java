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

    /** Resets every field to zero. */
    public void clear() {
        ino = size = blocks = atimeSec = mtimeSec = ctimeSec = 0;
        atimeNsec = mtimeNsec = ctimeNsec = mode = nlink = uid = gid = rdev = blksize = 0;
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

    /** The type bits of the mode ({@code S_IFMT}). */
    public int type() {
        return mode & 0170000;
    }
}
