package io.fuseguard.nodeguard;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import io.fuseguard.drill.DrillFs;
import io.fuseguard.kernel.MountTable;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.byref.IntByReference;

/**
 * The fd-leak scenario's daemon: a plain jnr-fuse daemon (the drill's {@link DrillFs}) that, once mounted,
 * starts a child ({@code sleep}) with {@code posix_spawn}, which inherits every descriptor without
 * {@code O_CLOEXEC}, its {@code /dev/fuse} included (libfuse 2 opens it without). The child never reads it.
 * When the daemon is then killed, the connection has a live holder that will never answer: clients hang.
 *
 * <p>Arguments: {@code MOUNTPOINT}. Prints {@code READY <daemon pid> <child pid> <fd>}.
 */
public final class LeakDaemon {

    /** The one libc function needed. */
    public interface LibC {
        /**
         * posix_spawn(3).
         *
         * @param pid         out: the child's pid
         * @param path        the program
         * @param fileActions null
         * @param attr        null
         * @param argv        NULL-terminated argument vector
         * @param envp        NULL-terminated environment
         * @return 0 or an errno
         */
        int posix_spawn(IntByReference pid, String path, Pointer fileActions, Pointer attr, Pointer argv,
                        Pointer envp);
    }

    private LeakDaemon() {
    }

    /** Entry point. */
    public static void main(String[] args) throws Exception {
        Path mp = Path.of(args[0]);
        DrillFs fs = new DrillFs(false);
        fs.mount(mp, false, false, new String[] {"-o", "big_writes"});
        long until = System.nanoTime() + 10_000_000_000L;
        while (MountTable.load().findByMountPoint(mp).isEmpty() && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        int devFuse = -1;
        try (var s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : s.toList()) {
                try {
                    if (Files.readSymbolicLink(p).toString().equals("/dev/fuse")) {
                        devFuse = Integer.parseInt(p.getFileName().toString());
                    }
                } catch (java.io.IOException e) {
                    // closed meanwhile
                }
            }
        }
        Runtime rt = Runtime.getSystemRuntime();
        LibC libc = LibraryLoader.create(LibC.class).load("c");
        List<String> argv = List.of("sleep", "600");
        Pointer vec = Memory.allocateDirect(rt, 8 * (argv.size() + 1));
        Pointer[] keep = new Pointer[argv.size()];
        for (int i = 0; i < argv.size(); i++) {
            byte[] b = (argv.get(i) + "\0").getBytes(StandardCharsets.US_ASCII);
            keep[i] = Memory.allocateDirect(rt, b.length);
            keep[i].put(0, b, 0, b.length);
            vec.putPointer(8L * i, keep[i]);
        }
        vec.putAddress(8L * argv.size(), 0L);
        Pointer env = Memory.allocateDirect(rt, 8);
        env.putAddress(0, 0L);
        IntByReference child = new IntByReference();
        int rc = libc.posix_spawn(child, "/bin/sleep", null, null, vec, env);
        if (rc != 0) {
            throw new IllegalStateException("posix_spawn failed: " + rc);
        }
        System.out.println("READY " + ProcessHandle.current().pid() + " " + child.intValue() + " " + devFuse);
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
        System.out.println(keep.length); // keep the argument memory reachable
    }
}
