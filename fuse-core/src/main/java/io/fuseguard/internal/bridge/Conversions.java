package io.fuseguard.internal.bridge;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.internal.wire.Attr;

import java.time.Instant;

/** Converts the public API's value types to the wire's. */
final class Conversions {
    private Conversions() {
    }

    private static final long U32 = 0xffffffffL;

    /**
     * Fills the wire attributes; refuses (IllegalArgumentException, answered EIO and logged once per operation)
     * values the kernel's 32-bit fields cannot carry: an owner of {@code 1L << 40} must not become root.
     */
    static void fill(Attr out, FileAttributes a) {
        if (a.uid() < 0 || a.uid() > U32 || a.gid() < 0 || a.gid() > U32) {
            throw new IllegalArgumentException("owner " + a.uid() + ":" + a.gid() + " is outside the 32-bit range "
                    + "of uid_t/gid_t");
        }
        if (a.rdev() < 0 || a.rdev() > U32) {
            throw new IllegalArgumentException("device number " + a.rdev() + " is outside the kernel's 32 bits");
        }
        out.ino = a.inode();
        out.size = a.size();
        out.blocks = a.blocks();
        out.mode = a.mode();
        out.nlink = (int) Math.min(a.nlink(), 0xffffffffL);
        out.uid = (int) a.uid();
        out.gid = (int) a.gid();
        out.rdev = (int) a.rdev();
        out.blksize = 0;
        time(a.atime(), out, 0);
        time(a.mtime(), out, 1);
        time(a.ctime(), out, 2);
        Instant born = a.birthTime();
        out.hasBtime = born != null;
        if (born != null) {
            out.btimeSec = born.getEpochSecond();
            out.btimeNsec = born.getNano();
        }
    }

    private static void time(Instant t, Attr out, int which) {
        long sec = t.getEpochSecond();
        int nsec = t.getNano();
        switch (which) {
            case 0 -> {
                out.atimeSec = sec;
                out.atimeNsec = nsec;
            }
            case 1 -> {
                out.mtimeSec = sec;
                out.mtimeNsec = nsec;
            }
            default -> {
                out.ctimeSec = sec;
                out.ctimeNsec = nsec;
            }
        }
    }
}
