package io.fuseguard.benchmark;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.mount.FuseMount;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Mounts one benchmark variant on a directory, prints {@code READY <pid>} once the mount answers, and serves
 * until SIGTERM/Ctrl-C, which unmounts cleanly.
 *
 * <pre>
 * BenchLauncher plain|adapter|memory MOUNTPOINT [-o OPT[,OPT...]]...
 * </pre>
 *
 * <ul>
 *   <li>{@code plain}: {@link ChunkedMemoryFs} mounted by jnr-fuse's own {@code mount()} (blocking, in the
 *       main thread; jnr-fuse's shutdown hook unmounts). READY comes from a watcher thread that stats the
 *       mount point until it shows the filesystem's device.</li>
 *   <li>{@code adapter}: the same class through {@link JnrFuseMount#mount(ru.serce.jnrfuse.FuseFS, Path,
 *       FuseguardConfig)}, default configuration plus the options given. READY when {@code mount()}
 *       returned (it returns when the filesystem answers).</li>
 *   <li>{@code memory}: fuseguard's {@link MemoryFs} (4 GiB capacity) through {@code FuseMount.mount}. The
 *       benchmark itself mounts MemoryFs with {@code fuseguard mount memory}; this is for trying it in-process.</li>
 * </ul>
 *
 * <p>The options are the same list for every variant. fuseguard always mounts with {@code big_writes} and
 * {@code max_write} from its configuration, so for the fuseguard variants {@code big_writes} is left out and
 * {@code max_write=N} becomes {@code maxWrite(N)}; every other option goes through
 * {@code FuseguardConfig.Builder.mountOption}.
 */
public final class BenchLauncher {
    private BenchLauncher() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: BenchLauncher plain|adapter|memory MOUNTPOINT [-o OPT[,OPT...]]...");
            System.exit(2);
        }
        String variant = args[0];
        Path mp = Path.of(args[1]).toAbsolutePath().normalize();
        List<String> options = new ArrayList<>();
        for (int i = 2; i < args.length; i++) {
            if (args[i].equals("-o") && i + 1 < args.length) {
                for (String o : args[++i].split(",")) {
                    if (!o.isBlank()) {
                        options.add(o.trim());
                    }
                }
            } else {
                System.err.println("unexpected argument: " + args[i]);
                System.exit(2);
            }
        }
        long pid = ProcessHandle.current().pid();
        switch (variant) {
            case "plain" -> plain(mp, options, pid);
            case "adapter" -> guarded(new ChunkedMemoryFs(), null, mp, options, pid, "adapter");
            case "memory" -> guarded(null, MemoryFs.builder().capacity(4L << 30).build(), mp, options, pid,
                    "memory");
            default -> {
                System.err.println("unknown variant: " + variant + " (plain, adapter or memory)");
                System.exit(2);
            }
        }
    }

    private static void plain(Path mp, List<String> options, long pid) throws Exception {
        Object before = Files.getAttribute(mp, "unix:dev");
        Thread watcher = new Thread(() -> {
            long deadline = System.nanoTime() + 30_000_000_000L;
            while (System.nanoTime() < deadline) {
                try {
                    if (!before.equals(Files.getAttribute(mp, "unix:dev"))) {
                        System.out.println("READY " + pid);
                        System.out.flush();
                        return;
                    }
                } catch (Exception e) {
                    // not mounted yet, or mounting
                }
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    return;
                }
            }
            System.err.println("plain: the mount did not answer within 30 s");
        }, "bench-ready-watcher");
        watcher.setDaemon(true);
        watcher.start();
        String[] fuseOpts = options.isEmpty() ? new String[0] : new String[] {"-o", String.join(",", options)};
        // Blocking: fuse_main runs (multi-threaded, foreground) in this thread until the unmount.
        new ChunkedMemoryFs().mount(mp, true, false, fuseOpts);
    }

    private static void guarded(ChunkedMemoryFs legacy, MemoryFs memoryFs, Path mp, List<String> options, long pid,
                                String name) throws Exception {
        FuseguardConfig.Builder b = FuseguardConfig.builder().fsName(name);
        for (String o : options) {
            if (o.equals("big_writes")) {
                continue;
            }
            if (o.startsWith("max_write=")) {
                b.maxWrite(Integer.parseInt(o.substring("max_write=".length())));
            } else {
                b.mountOption(o);
            }
        }
        FuseguardConfig config = b.build();
        // The configuration's shutdown hook (on by default) unmounts on SIGTERM; awaitUnmount then returns.
        try (FuseMount m = legacy != null ? JnrFuseMount.mount(legacy, mp, config)
                : FuseMount.mount(memoryFs, mp, config)) {
            System.out.println("READY " + pid);
            System.out.flush();
            m.awaitUnmount();
        }
    }
}
