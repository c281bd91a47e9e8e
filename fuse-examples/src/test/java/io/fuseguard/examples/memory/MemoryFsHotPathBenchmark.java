package io.fuseguard.examples.memory;

import com.sun.management.ThreadMXBean;
import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.OpenFlags;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Locale;

/**
 * What MemoryFs's per-request paths (getattr, which is also what a lookup asks, read, write, readdir) cost
 * in-process, without the kernel: nanoseconds and bytes allocated per call, on one thread. Not a test: run it
 * by hand, like {@link MemoryFsBenchmark}, which measures the same paths through a mount.
 *
 * <pre>
 * java -cp TEST_CLASSPATH io.fuseguard.examples.memory.MemoryFsHotPathBenchmark [rounds=5] [callsPerRound=2000000]
 * </pre>
 *
 * It calls only MemoryFs's public API, so the same test classes can measure an older MemoryFs by putting that
 * one's classes first on the class path. Bytes per call come from the JVM's per-thread allocation counter:
 * a lock helper that allocated per call (a capturing lambda the JIT did not remove) shows up there.
 */
public final class MemoryFsHotPathBenchmark {
    private static final int FILE_BYTES = 1 << 20;
    private static final int IO_BYTES = 4096;
    private static final int DIR_ENTRIES = 32;

    private MemoryFsHotPathBenchmark() {
    }

    /** One measured operation; returns something so the JIT cannot drop the call. */
    @FunctionalInterface
    private interface Op {
        long call(long i);
    }

    /** Runs the benchmark; args: rounds (default 5), calls per round and operation (default 2,000,000). */
    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int calls = args.length > 1 ? Integer.parseInt(args[1]) : 2_000_000;
        MemoryFs fs = MemoryFs.builder().capacity(64L << 20).build();
        fs.mkdir("/dir", 0755);
        long fh = fs.create("/dir/file", 0644, OpenFlags.of(0));
        fs.write("/dir/file", fh, ByteBuffer.allocate(FILE_BYTES), 0);
        for (int i = 0; i < DIR_ENTRIES; i++) {
            fs.release("/dir/e" + i, fs.create("/dir/e" + i, 0644, OpenFlags.of(0)), OpenFlags.of(0));
        }
        ByteBuffer buf = ByteBuffer.allocateDirect(IO_BYTES);
        int slots = FILE_BYTES / IO_BYTES;
        long[] sink = new long[1];
        DirectorySink counting = new DirectorySink() {
            @Override
            public void add(String name) {
                sink[0]++;
            }

            @Override
            public void add(String name, FileAttributes attributes) {
                sink[0] += attributes.size();
            }
        };
        String[] names = {"getattr", "read 4K", "write 4K", "readdir 34"};
        Op[] ops = {
            i -> fs.getattr("/dir/file").size(),
            i -> fs.read("/dir/file", fh, buf.clear(), (i % slots) * IO_BYTES),
            i -> fs.write("/dir/file", fh, buf.clear(), (i % slots) * IO_BYTES),
            i -> {
                fs.readdir("/dir", counting);
                return sink[0];
            },
        };
        // readdir does 34 entries per call: fewer calls keep its rounds as long as the others'.
        int[] perOp = {calls, calls, calls, Math.max(1, calls / 20)};
        double[][] ns = new double[ops.length][rounds];
        double[][] bytes = new double[ops.length][rounds];
        for (int k = 0; k < ops.length; k++) {
            measure(ops[k], perOp[k]); // warm-up, so the JIT has compiled what is then measured
        }
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < ops.length; k++) {
                double[] m = measure(ops[k], perOp[k]);
                ns[k][r] = m[0];
                bytes[k][r] = m[1];
            }
        }
        System.out.printf(Locale.ROOT, "MemoryFs hot paths, in-process, 1 thread, %d rounds (median, best):%n",
                rounds);
        for (int k = 0; k < ops.length; k++) {
            System.out.printf(Locale.ROOT, "  %-11s %8.1f ns/call (best %7.1f)   %7.1f B/call%n", names[k],
                    median(ns[k]), Arrays.stream(ns[k]).min().orElse(0), median(bytes[k]));
        }
        fs.release("/dir/file", fh, OpenFlags.of(0));
    }

    /** Calls {@code op} {@code n} times; returns {nanoseconds per call, bytes allocated per call}. */
    private static double[] measure(Op op, int n) {
        ThreadMXBean mx = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        long blackhole = 0;
        long a0 = mx.getCurrentThreadAllocatedBytes();
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            blackhole += op.call(i);
        }
        long t = System.nanoTime() - t0;
        long a = mx.getCurrentThreadAllocatedBytes() - a0;
        if (blackhole == 42) {
            System.out.print(""); // keeps the results alive
        }
        return new double[] {(double) t / n, (double) a / n};
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
