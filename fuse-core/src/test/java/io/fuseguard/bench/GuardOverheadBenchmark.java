package io.fuseguard.bench;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.NonBlocking;
import io.fuseguard.api.Operation;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.guard.RequestGuard;
import io.fuseguard.guard.RequestSource;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testfs.SmallFs;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * What the guard costs per request. Prints figures; asserts nothing (speed targets live here, not in tests).
 * <ol>
 *   <li>in the JVM: a direct call, the guard inline ({@code @NonBlocking}), the guard with the worker hand-off;</li>
 *   <li>through the kernel: a GETATTR round trip (attribute caching off) on a handler that is
 *       {@code @NonBlocking} versus one that is handed to a worker.</li>
 * </ol>
 * Run: {@code mvn -q -pl fuse-core test-compile} then
 * {@code java -cp fuse-core/target/test-classes:fuse-core/target/classes:$(cat cp.txt) io.fuseguard.bench.GuardOverheadBenchmark}.
 */
public final class GuardOverheadBenchmark {
    private GuardOverheadBenchmark() {
    }

    /** SmallFs with an inline getattr. */
    public static final class InlineFs extends SmallFs {
        @Override
        @NonBlocking
        public synchronized FileAttributes getattr(String path) {
            return super.getattr(path);
        }
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
        inJvm(n);
        throughKernel(Math.max(2_000, n / 10));
    }

    static void inJvm(int n) {
        try (RequestGuard guard = new RequestGuard(FuseguardConfig.defaults(), RequestSource.NONE)) {
            int[] sink = new int[1];
            for (int round = 0; round < 2; round++) { // the first round warms up
                long direct = time(n, () -> sink[0] += work());
                long inline = time(n, () -> sink[0] += guard.run(Operation.GETATTR, "/f", true, () -> work(), null));
                long pooled = time(n, () -> sink[0] += guard.run(Operation.GETATTR, "/f", false, () -> work(), null));
                if (round == 1) {
                    System.out.printf("in-JVM, %d calls: direct %.2f us, guard inline %.2f us, guard with worker "
                                    + "hand-off %.2f us per call (sink %d)%n", n, direct / 1000.0 / n,
                            inline / 1000.0 / n, pooled / 1000.0 / n, sink[0] & 1);
                }
            }
        }
    }

    static void throughKernel(int n) throws Exception {
        for (boolean inline : new boolean[] {true, false}) {
            Path dir = Files.createTempDirectory("fuseguard-bench-");
            SmallFs fs = inline ? new InlineFs() : new SmallFs();
            fs.withFile("/f", new byte[] {1});
            FuseguardConfig c = FuseguardConfig.builder().selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING)
                    .mountOption("attr_timeout=0").mountOption("entry_timeout=0").shutdownHook(false).build();
            try (FuseMount m = FuseMount.mount(fs, dir, c)) {
                Path f = dir.resolve("f");
                long[] samples = new long[n];
                for (int i = 0; i < n; i++) {
                    long t0 = System.nanoTime();
                    Files.readAttributes(f, "unix:ino", LinkOption.NOFOLLOW_LINKS);
                    samples[i] = System.nanoTime() - t0;
                }
                Arrays.sort(samples);
                System.out.printf("kernel round trip (lookup+getattr), %s: median %.1f us, p99 %.1f us over %d "
                                + "stats; mount took %d ms%n", inline ? "@NonBlocking inline" : "worker hand-off",
                        samples[n / 2] / 1000.0, samples[n * 99 / 100] / 1000.0, n, m.mountTime().toMillis());
            } finally {
                Files.deleteIfExists(dir);
            }
        }
    }

    private static int work() {
        return 1;
    }

    private static long time(int n, Runnable r) {
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            r.run();
        }
        return System.nanoTime() - t0;
    }
}
