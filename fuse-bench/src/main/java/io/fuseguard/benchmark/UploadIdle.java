package io.fuseguard.benchmark;

import io.fuseguard.examples.upload.CachedUploadFs;

import java.nio.file.Path;
import java.util.Set;

/**
 * Waits until the upload daemon working on a cache directory has nothing pending: its journal (read without
 * disturbing the daemon) holds no upload or delete. Prints {@code idle_ms=N pending=P}, the time it waited and
 * what was left when it gave up (0 when idle). bench/run runs it before each of issue 17's workloads on the
 * upload variant, so a workload does not pay for the uploads of the one before, and after {@code tar -x} to
 * measure how long the uploads of the extracted tree take to reach the backend.
 *
 * <pre>UploadIdle CACHE_DIR LIMIT_MS</pre>
 */
public final class UploadIdle {
    private UploadIdle() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: UploadIdle CACHE_DIR LIMIT_MS");
            System.exit(2);
        }
        Path cache = Path.of(args[0]);
        long limit = Long.parseLong(args[1]);
        long t0 = System.nanoTime();
        Set<String> pending;
        while (!(pending = CachedUploadFs.journaledPaths(cache)).isEmpty()
                && (System.nanoTime() - t0) / 1_000_000 < limit) {
            Thread.sleep(20);
        }
        System.out.printf("idle_ms=%d pending=%d%n", (System.nanoTime() - t0) / 1_000_000, pending.size());
    }
}
