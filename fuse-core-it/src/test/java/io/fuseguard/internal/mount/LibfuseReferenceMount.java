package io.fuseguard.internal.mount;

import com.kenai.jffi.CallContext;
import com.kenai.jffi.CallContextCache;
import com.kenai.jffi.CallingConvention;
import com.kenai.jffi.Invoker;
import com.kenai.jffi.Library;
import com.kenai.jffi.Type;
import io.fuseguard.internal.sys.Syscalls;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a mount looked like when fuseguard mounted through libfuse 2.9: calls libfuse's {@code fuse_mount} with
 * the given options (as fuseguard did until it stopped loading libfuse), prints the mount's line of
 * /proc/self/mountinfo, detaches the mount and exits (which ends the connection). Run as root, in its own JVM:
 * the tests' JVM must not map libfuse.
 *
 * <pre>
 * LibfuseReferenceMount &lt;mount point&gt; &lt;options, comma-separated&gt;
 * </pre>
 * Prints {@code LINE <mountinfo line>}, or {@code FAILED}.
 */
public final class LibfuseReferenceMount {
    private LibfuseReferenceMount() {
    }

    public static void main(String[] args) throws Exception {
        Path mp = Path.of(args[0]);
        Library lib = Library.getCachedInstance("libfuse.so.2", Library.NOW);
        if (lib == null) {
            throw new IllegalStateException("libfuse.so.2 cannot be loaded: " + Library.getLastError());
        }
        long fuseMount = lib.getSymbolAddress("fuse_mount"); // the default version: FUSE_2.6
        CallContext two = CallContextCache.getInstance().getCallContext(Type.POINTER,
                new Type[] {Type.POINTER, Type.POINTER}, CallingConvention.DEFAULT, false);
        String[] argv = {"reference", "-o", args[1]};
        long array = Syscalls.allocate(8L * (argv.length + 1));
        for (int i = 0; i < argv.length; i++) {
            Syscalls.putAddress(array + 8L * i, Syscalls.cString(argv[i]));
        }
        long fuseArgs = Syscalls.allocate(24); // struct fuse_args { int argc; char **argv; int allocated; }
        Syscalls.putInt(fuseArgs, argv.length);
        Syscalls.putAddress(fuseArgs + 8, array);
        long channel = Invoker.getInstance().invokeN2(two, fuseMount, Syscalls.cString(mp.toString()), fuseArgs);
        if (channel == 0) {
            System.out.println("FAILED");
            return;
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            if (line.split(" ")[4].equals(mp.toString())) {
                System.out.println("LINE " + line);
            }
        }
        System.out.flush();
        Syscalls.umount2(mp.toString(), Syscalls.MNT_DETACH);
        Runtime.getRuntime().halt(0); // the descriptor closes with the process: the connection ends
    }
}
