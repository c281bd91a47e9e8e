package io.fuseguard.internal.ops;

import java.nio.ByteBuffer;

/**
 * Filesystem statistics on their way to the kernel ({@code struct fuse_kstatfs}). Reused per thread.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class StatfsResult {
    public long blocks;
    public long bfree;
    public long bavail;
    public long files;
    public long ffree;
    public long bsize;
    public long namelen;
    public long frsize;

    /** libfuse's answer for a filesystem without statfs: nothing known, 255-byte names, 512-byte blocks. */
    public void defaults() {
        blocks = bfree = bavail = files = ffree = 0;
        bsize = 512;
        frsize = 0;
        namelen = 255;
    }

    /** Writes {@code struct fuse_kstatfs} at {@code at}. */
    public void encode(ByteBuffer b, int at) {
        b.putLong(at, blocks);
        b.putLong(at + 8, bfree);
        b.putLong(at + 16, bavail);
        b.putLong(at + 24, files);
        b.putLong(at + 32, ffree);
        b.putInt(at + 40, (int) bsize);
        b.putInt(at + 44, (int) namelen);
        b.putInt(at + 48, (int) (frsize != 0 ? frsize : bsize));
        for (int i = 52; i < 80; i += 4) {
            b.putInt(at + i, 0);
        }
    }
}
