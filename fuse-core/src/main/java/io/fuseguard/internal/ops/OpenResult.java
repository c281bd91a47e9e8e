package io.fuseguard.internal.ops;

import io.fuseguard.internal.wire.Fuse;

/**
 * What an open, create or opendir handler answered: the filesystem's file handle and how the kernel should
 * treat the open file. Reused per thread.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class OpenResult {
    /** The filesystem's file handle. */
    public long fh;
    /** {@link Fuse#FOPEN_DIRECT_IO}, {@link Fuse#FOPEN_KEEP_CACHE}, {@link Fuse#FOPEN_NONSEEKABLE} as asked. */
    public int openFlags;

    /** Resets before a handler runs. */
    public void clear() {
        fh = 0;
        openFlags = 0;
    }
}
