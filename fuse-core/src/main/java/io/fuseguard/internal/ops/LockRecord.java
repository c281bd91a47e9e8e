package io.fuseguard.internal.ops;

import io.fuseguard.internal.wire.Fuse;

/**
 * A record lock on its way between the kernel and a filesystem ({@code struct fuse_file_lock}): the request's
 * lock going in, the conflicting lock ({@code getlk}) coming out. Mutable and reused per thread.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class LockRecord {
    /** {@link Fuse#F_RDLCK}, {@link Fuse#F_WRLCK} or {@link Fuse#F_UNLCK}. */
    public int type;
    public long start;
    /** Inclusive; {@link Fuse#OFFSET_MAX} for "to the end of the file". */
    public long end;
    /** The holder (thread group id in the daemon's pid namespace), 0 when unknown. */
    public int pid;

    /** Sets every field. */
    public LockRecord set(int type, long start, long end, int pid) {
        this.type = type;
        this.start = start;
        this.end = end;
        this.pid = pid;
        return this;
    }
}
