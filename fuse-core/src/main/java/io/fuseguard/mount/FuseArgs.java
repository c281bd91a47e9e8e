package io.fuseguard.mount;

import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A native {@code struct fuse_args { int argc; char **argv; int allocated; }}. The Java side keeps every
 * string alive for the life of the object; libfuse may replace argv with its own copy (then
 * {@code allocated} is set and {@link LibFuse2#fuse_opt_free_args} frees it).
 */
final class FuseArgs {
    private final Pointer struct;
    private final List<Pointer> keepAlive = new ArrayList<>();

    FuseArgs(List<String> argv) {
        Runtime rt = Runtime.getSystemRuntime();
        Pointer array = Memory.allocateDirect(rt, 8L * (argv.size() + 1), true);
        for (int i = 0; i < argv.size(); i++) {
            byte[] b = argv.get(i).getBytes(StandardCharsets.UTF_8);
            Pointer s = Memory.allocateDirect(rt, b.length + 1, true);
            s.put(0, b, 0, b.length);
            s.putByte(b.length, (byte) 0);
            keepAlive.add(s);
            array.putPointer(8L * i, s);
        }
        keepAlive.add(array);
        struct = Memory.allocateDirect(rt, 24, true);
        struct.putInt(0, argv.size());
        struct.putPointer(8, array);
        struct.putInt(16, 0);
    }

    Pointer pointer() {
        return struct;
    }
}
