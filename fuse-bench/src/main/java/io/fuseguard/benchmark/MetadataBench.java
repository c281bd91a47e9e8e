package io.fuseguard.benchmark;

import io.fuseguard.examples.upload.CachedUploadFs;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;
import java.util.Locale;

/**
 * The metadata phases of the benchmark, timed separately, in one directory:
 * <ol>
 *   <li>create N empty files ({@code open(O_CREAT|O_EXCL|O_WRONLY)} + {@code close});</li>
 *   <li>{@value #STAT_PASSES} times: wait WAIT_MS (longer than the mount's {@code attr_timeout}/{@code entry_timeout}),
 *       then {@code lstat} each file once: every cached entry has expired, so every stat is a LOOKUP answered
 *       by the daemon. The figure is the median pass: one pass of 10,000 stats takes a few hundred
 *       milliseconds, short enough for a neighbour's burst on a shared machine to halve it, and the passes do
 *       the same work (a filesystem that reports birth times is asked for them in the first pass only: Java's
 *       stat asks for the birth time, and the kernel has no other way to learn it);</li>
 *   <li>wait WAIT_MS again, then unlink each file.</li>
 * </ol>
 * These phases run twice, each time in a fresh directory. The first round is timed and printed with a
 * {@code first_} prefix: it is what a daemon that has never created or removed a file does (a JVM daemon is
 * then still compiling those paths: MemoryFs's first 10,000 creates ran at two thirds of the rate of the next
 * 10,000, 8.5k against 12.6k ops/s, means of 7 fresh daemons on a 2-core machine where the compiler threads
 * compete with the daemon and the client for the cores). The
 * second round is the daemon's steady state, the main figures. A warm-up of min(N, 500) files in another
 * directory runs before both, untimed, so the client's own JIT is not what the first round measures.
 * Prints {@code create_ops_s=… stat_ops_s=… unlink_ops_s=… first_create_ops_s=… first_stat_ops_s=…
 * first_unlink_ops_s=…}, and every stat pass of the main round on a second line.
 *
 * With UPLOAD_CACHE (the upload example's cache directory) each round starts once that daemon has nothing left to
 * upload or delete (as {@link UploadIdle} checks), so the second round does not pay for the first one's uploads.
 *
 * <pre>MetadataBench DIR N WAIT_MS [UPLOAD_CACHE]</pre>
 */
public final class MetadataBench {
    /** Passes of the stat phase; the median one is reported. */
    static final int STAT_PASSES = 3;

    private MetadataBench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3 && args.length != 4) {
            System.err.println("usage: MetadataBench DIR N WAIT_MS [UPLOAD_CACHE]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int n = Integer.parseInt(args[1]);
        long waitMs = Long.parseLong(args[2]);

        Path warm = dir.resolve("warm-up");
        Files.createDirectories(warm);
        int w = Math.min(n, 500);
        create(warm, w);
        stat(warm, w);
        unlink(warm, w);
        Files.delete(warm);

        Path uploadCache = args.length == 4 ? Path.of(args[3]) : null;
        settle(uploadCache);
        Round first = round(dir.resolve("first"), n, waitMs, 1);
        settle(uploadCache);
        Round main = round(dir.resolve("files"), n, waitMs, STAT_PASSES);
        System.out.println(String.format(Locale.ROOT, "create_ops_s=%.1f stat_ops_s=%.1f unlink_ops_s=%.1f "
                        + "first_create_ops_s=%.1f first_stat_ops_s=%.1f first_unlink_ops_s=%.1f",
                main.create, main.stat, main.unlink, first.create, first.stat, first.unlink));
        StringBuilder each = new StringBuilder("stat passes (ops/s):");
        for (double p : main.statPasses) {
            each.append(String.format(Locale.ROOT, " %.1f", p));
        }
        System.out.println(each);
    }

    /** Most time to wait for the upload daemon to catch up before a round. */
    static final long SETTLE_LIMIT_MS = 120_000;

    /** Waits until the upload daemon of {@code cache} (none: returns at once) has nothing pending, or says not. */
    private static void settle(Path cache) throws Exception {
        if (cache == null) {
            return;
        }
        long t0 = System.nanoTime();
        while (!CachedUploadFs.journaledPaths(cache).isEmpty()) {
            if ((System.nanoTime() - t0) / 1_000_000 > SETTLE_LIMIT_MS) {
                System.err.println("MetadataBench: the upload daemon did not catch up in " + SETTLE_LIMIT_MS
                        + " ms; the round starts anyway");
                return;
            }
            Thread.sleep(20);
        }
    }

    /** One round's rates (ops/s), the stat figure the median of its passes. */
    private record Round(double create, double stat, double unlink, double[] statPasses) {
    }

    /** Creates N files in a new directory D, stats them in {@code statPasses} passes, unlinks them, removes D. */
    private static Round round(Path d, int n, long waitMs, int statPasses) throws Exception {
        Files.createDirectories(d);
        double create = create(d, n);
        double[] passes = new double[statPasses];
        for (int p = 0; p < statPasses; p++) {
            Thread.sleep(waitMs);
            passes[p] = stat(d, n);
        }
        double[] sorted = passes.clone();
        Arrays.sort(sorted);
        Thread.sleep(waitMs);
        double unlink = unlink(d, n);
        Files.delete(d);
        return new Round(create, sorted[statPasses / 2], unlink, passes);
    }

    private static Path file(Path d, int i) {
        return d.resolve(String.format(Locale.ROOT, "f%06d", i));
    }

    private static double create(Path d, int n) throws Exception {
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            FileChannel.open(file(d, i), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE).close();
        }
        return n / ((System.nanoTime() - t0) / 1e9);
    }

    private static double stat(Path d, int n) throws Exception {
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            BasicFileAttributes a = Files.readAttributes(file(d, i), BasicFileAttributes.class,
                    LinkOption.NOFOLLOW_LINKS);
            if (!a.isRegularFile()) {
                throw new IllegalStateException(file(d, i) + " is not a regular file");
            }
        }
        return n / ((System.nanoTime() - t0) / 1e9);
    }

    private static double unlink(Path d, int n) throws Exception {
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            Files.delete(file(d, i));
        }
        return n / ((System.nanoTime() - t0) / 1e9);
    }
}
