package io.fuseguard.bridge;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.Struct;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

/**
 * Private native memory for a jnr-fuse handler: allocated per request, owned by the Java heap (freed by the
 * garbage collector once the handler dropped it), and copied to or from libfuse's memory only on the libfuse
 * thread while the request is still unanswered.
 */
final class NativeCopy {
    static final Runtime RT = Runtime.getSystemRuntime();
    static final int FILE_STAT_SIZE = Struct.size(new FileStat(RT));
    static final int FILE_INFO_SIZE = Struct.size(FuseFileInfo.of(Memory.allocateDirect(RT, 256)));
    static final int STATVFS_SIZE = Struct.size(Statvfs.of(Memory.allocateDirect(RT, 512)));
    static final int TIMESPEC_SIZE = Struct.size(Timespec.of(Memory.allocateDirect(RT, 64)));

    private NativeCopy() {
    }

    /** Zeroed private memory. */
    static Pointer allocate(long size) {
        return Memory.allocateDirect(RT, Math.max(1, size), true);
    }

    /** A private copy of {@code size} bytes at {@code src} ({@code null} stays {@code null}). */
    static Pointer copyOf(Pointer src, long size) {
        if (src == null) {
            return null;
        }
        Pointer p = allocate(size);
        if (size > 0) {
            src.transferTo(0, p, 0, size);
        }
        return p;
    }

    /** Copies {@code size} bytes back from a private copy to libfuse's memory. */
    static void copyBack(Pointer privateCopy, Pointer dst, long size) {
        if (privateCopy != null && dst != null && size > 0) {
            privateCopy.transferTo(0, dst, 0, size);
        }
    }

    static Pointer memoryOf(Struct s) {
        return s == null ? null : Struct.getMemory(s);
    }
}
