package io.fuseguard.mount;

import io.fuseguard.guard.RequestSource;
import jnr.ffi.Pointer;

/**
 * Reads the current request's caller and interrupt flag from libfuse. Only valid on a libfuse thread while it
 * processes a request (which is where the guard calls it).
 */
final class NativeRequestSource implements RequestSource {
    // struct fuse_context { struct fuse *fuse; uid_t uid; gid_t gid; pid_t pid; ... } on LP64
    private static final int UID_OFFSET = 8;
    private static final int GID_OFFSET = 12;
    private static final int PID_OFFSET = 16;

    private final LibFuse2 lib;

    NativeRequestSource(LibFuse2 lib) {
        this.lib = lib;
    }

    @Override
    public Caller caller() {
        Pointer ctx = lib.fuse_get_context();
        if (ctx == null || ctx.address() == 0) {
            return RequestSource.NONE.caller();
        }
        return new Caller(ctx.getInt(PID_OFFSET), Integer.toUnsignedLong(ctx.getInt(UID_OFFSET)),
                Integer.toUnsignedLong(ctx.getInt(GID_OFFSET)));
    }

    @Override
    public boolean interrupted() {
        return lib.fuse_interrupted() != 0;
    }
}
