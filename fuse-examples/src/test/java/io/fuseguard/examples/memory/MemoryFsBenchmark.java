package io.fuseguard.examples.memory;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Sequential throughput of MemoryFs through the kernel, measured with {@code dd} in a child process (the way
 * any program would use the mount). Not a test: run it by hand.
 *
 * <pre>
 * mvn -q -pl fuse-examples -am test-compile
 * mvn -q -pl fuse-examples dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
 * java -cp "$(cat /tmp/cp.txt):fuse-examples/target/classes:fuse-examples/target/test-classes" \
 *     io.fuseguard.examples.memory.MemoryFsBenchmark [MiB=256] [rounds=3]
 * </pre>
 *
 * Each round writes the file with {@code dd if=/dev/zero bs=1M} and reads it back with {@code dd of=/dev/null
 * bs=1M}; the reads reach the daemon because libfuse 2 drops the page cache of a file on every open unless
 * {@code kernel_cache} is set. The same is run on {@code /dev/shm} (tmpfs) as a baseline when it exists.
 */
public final class MemoryFsBenchmark {
    private MemoryFsBenchmark() {
    }

    /** Runs the benchmark; args: size in MiB (default 256), rounds (default 3). */
    public static void main(String[] args) throws Exception {
        int mib = args.length > 0 ? Integer.parseInt(args[0]) : 256;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        Path base = Path.of(System.getProperty("java.io.tmpdir"));
        Path dir = Files.createTempDirectory(base, "memoryfs-bench-");
        MemoryFs fs = MemoryFs.builder().capacity((long) (mib + 64) << 20).build();
        // No self-access happens here (dd is a child process), so the production defaults apply unchanged.
        FuseguardConfig config = FuseguardConfig.builder().fsName("memoryfs-bench").build();
        List<double[]> results = new ArrayList<>();
        try (FuseMount mount = FuseMount.mount(fs, dir, config)) {
            System.out.printf(Locale.ROOT, "MemoryFs mounted at %s in %d ms; %d MiB, bs=1M, %d rounds%n", dir,
                    mount.mountTime().toMillis(), mib, rounds);
            Path file = dir.resolve("bench.bin");
            for (int r = 0; r < rounds; r++) {
                double w = ddWrite(file, mib);
                double rd = ddRead(file, mib);
                results.add(new double[] {w, rd});
                System.out.printf(Locale.ROOT, "  round %d: write %8.1f MiB/s   read %8.1f MiB/s%n", r + 1, w, rd);
                // Through a child too: the daemon must not touch its own mount (the self-access guard refuses).
                rm(file);
            }
        } finally {
            Files.deleteIfExists(dir);
        }
        System.out.printf(Locale.ROOT, "MemoryFs best:  write %8.1f MiB/s   read %8.1f MiB/s%n",
                results.stream().mapToDouble(x -> x[0]).max().orElse(0),
                results.stream().mapToDouble(x -> x[1]).max().orElse(0));

        Path shm = Path.of("/dev/shm");
        if (Files.isDirectory(shm)) {
            Path file = shm.resolve("memoryfs-bench-" + ProcessHandle.current().pid());
            try {
                double w = ddWrite(file, mib);
                double rd = ddRead(file, mib);
                System.out.printf(Locale.ROOT, "tmpfs baseline: write %8.1f MiB/s   read %8.1f MiB/s%n", w, rd);
            } finally {
                Files.deleteIfExists(file);
            }
        }
    }

    private static void rm(Path file) throws IOException, InterruptedException {
        if (new ProcessBuilder("rm", file.toString()).inheritIO().start().waitFor() != 0) {
            throw new IOException("rm " + file + " failed");
        }
    }

    private static double ddWrite(Path file, int mib) throws IOException, InterruptedException {
        return timedMiBps(mib, "dd", "if=/dev/zero", "of=" + file, "bs=1M", "count=" + mib, "status=none");
    }

    private static double ddRead(Path file, int mib) throws IOException, InterruptedException {
        return timedMiBps(mib, "dd", "if=" + file, "of=/dev/null", "bs=1M", "status=none");
    }

    /** Runs the command and returns {@code mib} divided by its wall-clock time (process start included). */
    private static double timedMiBps(int mib, String... cmd) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        int exit = p.waitFor();
        long ns = System.nanoTime() - t0;
        if (exit != 0) {
            throw new IOException(String.join(" ", cmd) + " failed with exit code " + exit);
        }
        return mib / (ns / 1e9);
    }
}
