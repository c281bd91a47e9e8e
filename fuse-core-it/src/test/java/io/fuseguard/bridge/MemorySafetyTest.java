package io.fuseguard.internal.bridge;

import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Handlers that outlive their deadline and keep using the buffers they were given must not corrupt anything:
 * their buffers are heap copies owned by the framework, never libfuse's memory or another request's.
 */
class MemorySafetyTest {
    private static final byte[] GOOD = new byte[300_000];

    static {
        new java.util.Random(7).nextBytes(GOOD);
    }

    /** Reads of /scribble and writes to /scribble-write overrun the deadline and keep touching their buffers. */
    static final class ScribblingFs extends SmallFs {
        final AtomicLong lateScribbles = new AtomicLong();

        ScribblingFs() {
            withFile("/good", GOOD);
            withFile("/scribble", new byte[4096]);
            withFile("/scribble-write", new byte[0]);
        }

        @Override
        public int read(String path, long fh, ByteBuffer dst, long offset) {
            if (!path.equals("/scribble")) {
                return super.read(path, fh, dst, offset);
            }
            // Ignore the watchdog's interrupt and keep scribbling over the whole buffer for 1.5 s.
            long end = System.nanoTime() + Duration.ofMillis(1500).toNanos();
            byte[] junk = new byte[dst.capacity()];
            while (System.nanoTime() < end) {
                ThreadLocalRandom.current().nextBytes(junk);
                dst.clear();
                dst.put(junk);
                lateScribbles.incrementAndGet();
            }
            return dst.capacity();
        }

        @Override
        public int write(String path, long fh, ByteBuffer src, long offset) {
            if (!path.equals("/scribble-write")) {
                return super.write(path, fh, src, offset);
            }
            long end = System.nanoTime() + Duration.ofMillis(1500).toNanos();
            long sum = 0;
            while (System.nanoTime() < end) {
                ByteBuffer b = src.duplicate();
                while (b.hasRemaining()) {
                    sum += b.get();
                }
                lateScribbles.incrementAndGet();
            }
            return sum == Long.MIN_VALUE ? 0 : src.remaining();
        }
    }

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(ScribblingFs::new, FuseguardConfig.builder()
            .deadline(OperationKind.DATA, Duration.ofMillis(200))
            .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false).build());

    @Test
    void lateHandlersScribblingOnTheirBuffersCorruptNothing() throws Exception {
        String good = fuse.mountPoint().resolve("good").toString();
        Process[] scribblers = new Process[4];
        for (int i = 0; i < scribblers.length; i++) {
            scribblers[i] = i % 2 == 0
                    ? Child.start("cat", fuse.mountPoint().resolve("scribble").toString())
                    : Child.start("dd", "if=/dev/urandom", "of=" + fuse.mountPoint().resolve("scribble-write"),
                    "bs=65536", "count=4", "conv=notrunc");
        }
        ScribblingFs fs = (ScribblingFs) fuse.fileSystem();
        int reads = 0;
        long until = System.nanoTime() + Duration.ofSeconds(2).toNanos();
        while (System.nanoTime() < until) {
            Child.Result r = Child.run(Duration.ofSeconds(10), "sha256sum", good);
            assertThat(r.exit()).isZero();
            assertThat(r.out()).startsWith(sha256(GOOD));
            reads++;
        }
        for (Process p : scribblers) {
            assertThat(p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as("the overrunning request was answered with an error").isNotZero();
        }
        System.out.printf("%d correct reads of /good while late handlers scribbled %d times on their buffers%n",
                reads, fs.lateScribbles.get());
        assertThat(fs.lateScribbles.get()).isGreaterThan(100);
        // After the scribblers are done, the mount still answers correctly.
        assertThat(java.nio.file.Files.readAllBytes(fuse.mountPoint().resolve("good"))).isEqualTo(GOOD);
    }

    static String sha256(byte[] b) throws Exception {
        byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(b);
        StringBuilder sb = new StringBuilder();
        for (byte x : d) {
            sb.append(String.format("%02x", x));
        }
        return sb.toString();
    }

}
