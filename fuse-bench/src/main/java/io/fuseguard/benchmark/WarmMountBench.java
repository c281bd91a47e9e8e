package io.fuseguard.benchmark;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.mount.FuseMount;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code mount()} and {@code close()} in a warm JVM (issue 9's goal: mount ≤ 30 ms): mounts and unmounts
 * MemoryFs and the adapter (jnr-fuse's code through fuseguard) in turn, interleaved, many times in one process,
 * then plain jnr-fuse's own non-blocking {@code mount()} a few times for comparison. The first rounds warm the JVM
 * (class loading, JIT) and are not counted. A mount counts as done when {@code mount()} returned and a
 * {@code stat} of the mount point shows the filesystem (fuseguard's {@code mount()} returns only once the
 * filesystem answers; jnr-fuse's returns on its own schedule).
 *
 * <pre>
 * WarmMountBench WORKDIR ROUNDS    prints: VARIANT warm_mount_ms=MEDIAN warm_unmount_ms=MEDIAN n=N
 * </pre>
 */
public final class WarmMountBench {
    private static final int WARMUP = 3;
    private static final int PLAIN_ROUNDS = 3;

    private WarmMountBench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: WarmMountBench WORKDIR ROUNDS");
            System.exit(2);
        }
        Path work = Path.of(args[0]);
        int rounds = Integer.parseInt(args[1]);
        Path mp = Files.createDirectories(work.resolve("warm-mount"));
        FuseguardConfig config = FuseguardConfig.builder().fsName("warm").shutdownHook(false).build();
        List<Double> memMount = new ArrayList<>();
        List<Double> memClose = new ArrayList<>();
        List<Double> adaMount = new ArrayList<>();
        List<Double> adaClose = new ArrayList<>();
        for (int i = 0; i < WARMUP + rounds; i++) {
            boolean counted = i >= WARMUP;
            // The filesystems are made before the clock starts: a jnr-fuse filesystem loads its own libfuse
            // binding in its constructor, which is the user's cost, not mount()'s.
            MemoryFs memoryFs = MemoryFs.builder().capacity(64L << 20).build();
            ChunkedMemoryFs jnrFs = new ChunkedMemoryFs();
            long t0 = System.nanoTime();
            FuseMount m = FuseMount.mount(memoryFs, mp, config);
            long t1 = System.nanoTime();
            answering(mp);
            m.close();
            long t2 = System.nanoTime();
            if (counted) {
                memMount.add((t1 - t0) / 1e6);
                memClose.add((t2 - t1) / 1e6);
            }
            t0 = System.nanoTime();
            m = JnrFuseMount.mount(jnrFs, mp, config);
            t1 = System.nanoTime();
            answering(mp);
            m.close();
            t2 = System.nanoTime();
            if (counted) {
                adaMount.add((t1 - t0) / 1e6);
                adaClose.add((t2 - t1) / 1e6);
            }
        }
        print("memoryfs", memMount, memClose);
        print("adapter", adaMount, adaClose);

        List<Double> plainMount = new ArrayList<>();
        List<Double> plainClose = new ArrayList<>();
        Object unmounted = Files.getAttribute(mp, "unix:dev");
        for (int i = 0; i < PLAIN_ROUNDS; i++) {
            ChunkedMemoryFs fs = new ChunkedMemoryFs();
            long t0 = System.nanoTime();
            fs.mount(mp, false, false, new String[0]);
            while (unmounted.equals(Files.getAttribute(mp, "unix:dev"))) {
                Thread.onSpinWait(); // jnr-fuse may return before the kernel shows the mount
            }
            long t1 = System.nanoTime();
            fs.umount();
            long t2 = System.nanoTime();
            plainMount.add((t1 - t0) / 1e6);
            plainClose.add((t2 - t1) / 1e6);
        }
        print("plain", plainMount, plainClose);
    }

    private static void answering(Path mp) throws Exception {
        if (!Files.isDirectory(mp)) {
            throw new IllegalStateException("the mount did not answer");
        }
    }

    private static void print(String variant, List<Double> mount, List<Double> close) {
        System.out.printf(Locale.ROOT, "%s warm_mount_ms=%.2f warm_unmount_ms=%.2f n=%d%n", variant, median(mount),
                median(close), mount.size());
    }

    private static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        s.sort(null);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
