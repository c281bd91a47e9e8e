package io.fuseguard.bridge;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FsStats;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

import java.time.Instant;

/** Copies Java values into libfuse's structs and back. Runs only on libfuse threads, during the callback. */
final class NativeConversions {
    /** {@code UTIME_NOW} and {@code UTIME_OMIT} as libfuse passes them in {@code tv_nsec}. */
    static final long UTIME_NOW = (1L << 30) - 1;
    static final long UTIME_OMIT = (1L << 30) - 2;

    private NativeConversions() {
    }

    static void fill(FileStat st, FileAttributes a) {
        st.st_mode.set(a.mode());
        st.st_nlink.set(a.nlink());
        st.st_uid.set(a.uid());
        st.st_gid.set(a.gid());
        st.st_size.set(a.size());
        st.st_blocks.set(a.blocks());
        st.st_blksize.set(4096);
        st.st_rdev.set(a.rdev());
        if (a.inode() != 0) {
            st.st_ino.set(a.inode());
        }
        set(st.st_atim, a.atime());
        set(st.st_mtim, a.mtime());
        set(st.st_ctim, a.ctime());
    }

    private static void set(Timespec ts, Instant t) {
        ts.tv_sec.set(t.getEpochSecond());
        ts.tv_nsec.set(t.getNano());
    }

    /** The time a utimens timespec asks for: {@code null} for "omit", now for "now". */
    static Instant time(Timespec ts) {
        long nsec = ts.tv_nsec.longValue();
        if (nsec == UTIME_OMIT) {
            return null;
        }
        if (nsec == UTIME_NOW) {
            return Instant.now();
        }
        return Instant.ofEpochSecond(ts.tv_sec.get(), nsec);
    }

    static void fill(Statvfs st, FsStats s) {
        st.f_bsize.set(s.blockSize());
        st.f_frsize.set(s.blockSize());
        st.f_blocks.set(s.totalBlocks());
        st.f_bfree.set(s.freeBlocks());
        st.f_bavail.set(s.availBlocks());
        st.f_files.set(s.totalFiles());
        st.f_ffree.set(s.freeFiles());
        st.f_favail.set(s.freeFiles());
        st.f_namemax.set(s.maxNameLength());
    }
}
