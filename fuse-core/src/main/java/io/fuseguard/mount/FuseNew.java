package io.fuseguard.mount;

import com.kenai.jffi.Function;
import com.kenai.jffi.Invoker;
import com.kenai.jffi.Type;
import jnr.ffi.Pointer;
import jnr.ffi.Struct;
import ru.serce.jnrfuse.struct.FuseOperations;

/**
 * Calls {@code fuse_new@FUSE_2.6}. libfuse.so.2 also exports a base-versioned {@code fuse_new} (the 2.2-era
 * {@code fuse_new_compat2(int fd, const char *opts, ...)}), and a plain {@code dlsym} returns that one; called
 * with today's arguments it fails with "unknown option". So the symbol is looked up by version.
 */
final class FuseNew {
    private static final int RTLD_NOW = 2;
    /** struct fuse_operations (2.9) has 38 function pointers, getattr to bmap, before its flags word. */
    private static final int OPERATIONS_BEFORE_FLAGS = 38;
    private static volatile Function function;

    private FuseNew() {
    }

    /** {@code fuse_new(ch, args, ops, sizeof ops, NULL)}; returns NULL when libfuse rejects the arguments. */
    static Pointer call(Pointer channel, Pointer args, FuseOperations ops) {
        Function f = function();
        // jnr-fuse's operations struct lives in heap memory (address 0); libfuse copies the table in fuse_new,
        // so a native copy that outlives this call is enough.
        Pointer heap = Struct.getMemory(ops);
        int size = Struct.size(ops);
        Pointer opsMemory = jnr.ffi.Memory.allocateDirect(jnr.ffi.Runtime.getSystemRuntime(), size, true);
        heap.transferTo(0, opsMemory, 0, size);
        // flag_utime_omit_ok (bit 2 of the flags word after bmap): without it libfuse 2 drops a SETATTR that
        // sets only one of atime/mtime (touch -m, touch -a) instead of passing UTIME_OMIT for the other.
        long flags = (long) OPERATIONS_BEFORE_FLAGS * jnr.ffi.Runtime.getSystemRuntime().addressSize();
        opsMemory.putByte(flags, (byte) (opsMemory.getByte(flags) | 0b100));
        long r = Invoker.getInstance().invokeNNNNNrN(f, channel.address(), args.address(), opsMemory.address(),
                size, 0L);
        java.lang.ref.Reference.reachabilityFence(opsMemory);
        return r == 0 ? null : jnr.ffi.Pointer.wrap(jnr.ffi.Runtime.getSystemRuntime(), r);
    }

    private static Function function() {
        Function f = function;
        if (f == null) {
            LibC dl = LibC.load();
            Pointer handle = dl.dlopen("libfuse.so.2", RTLD_NOW);
            if (handle == null) {
                throw new MountException(MountException.Reason.LIBFUSE_MISSING, "libfuse.so.2 could not be "
                        + "opened: install the libfuse2 package");
            }
            Pointer sym = dl.dlvsym(handle, "fuse_new", "FUSE_2.6");
            if (sym == null) {
                throw new MountException(MountException.Reason.LIBFUSE_MISSING, "libfuse.so.2 has no "
                        + "fuse_new@FUSE_2.6: libfuse 2.6 or newer (2.9 recommended) is required");
            }
            f = new Function(sym.address(), Type.POINTER, Type.POINTER, Type.POINTER, Type.POINTER, Type.UINT64,
                    Type.POINTER);
            function = f;
        }
        return f;
    }
}
