package io.fuseguard.examples.upload;

import io.fuseguard.api.OpenFlags;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Bytes allocated and time per call of {@link CachedUploadFs}'s hot paths (getattr of a cached file, a 4 KiB read,
 * a 4 KiB write to a file already pending upload), called directly on one thread, without a mount: it shows what
 * the filesystem itself costs per request. Not a test: run it by hand with fuse-examples' test classpath.
 *
 * <pre>
 * java -cp TEST_CLASSPATH io.fuseguard.examples.upload.UploadHotPathBenchmark [calls=300000]
 * </pre>
 */
public final class UploadHotPathBenchmark {
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private UploadHotPathBenchmark() {
    }

    @FunctionalInterface
    private interface Call {
        void run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 300_000;
        Path dir = Files.createTempDirectory("upload-hot-path");
        FaultInjectingBackend backend = new FaultInjectingBackend(new DirectoryBackend(dir.resolve("backend")));
        backend.faults().stallUploads(true); // the file stays pending: every write is a write to a pending file
        try (CachedUploadFs fs = new CachedUploadFs(dir.resolve("cache"), backend)) {
            long fh = fs.create("/f", 0644, OpenFlags.of(2));
            ByteBuffer buf = ByteBuffer.allocateDirect(4096);
            fs.write("/f", fh, buf, 0);
            measure("getattr", n, () -> fs.getattr("/f"));
            measure("read", n, () -> fs.read("/f", fh, buf.clear(), 0));
            measure("write", n, () -> fs.write("/f", fh, buf.clear(), 0));
        } finally {
            new ProcessBuilder("rm", "-rf", dir.toString()).start().waitFor();
        }
    }

    /** Runs {@code call} n times to warm up, then n times measured. */
    private static void measure(String name, int n, Call call) throws Exception {
        for (int i = 0; i < n; i++) {
            call.run();
        }
        long tid = Thread.currentThread().getId();
        long bytes = THREADS.getThreadAllocatedBytes(tid);
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            call.run();
        }
        long nanos = System.nanoTime() - t0;
        bytes = THREADS.getThreadAllocatedBytes(tid) - bytes;
        System.out.printf("%-8s %8.1f bytes/call %8.0f ns/call%n", name, bytes / (double) n, nanos / (double) n);
    }
}
