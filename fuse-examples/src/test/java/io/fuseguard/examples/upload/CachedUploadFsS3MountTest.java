package io.fuseguard.examples.upload;

import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.jclouds.blobstore.domain.Blob;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * {@link CachedUploadFs} over an {@link S3Backend} through the kernel, against S3Proxy on 127.0.0.1: files
 * written through the mount reach the bucket after close, a second daemon with an empty cache reads them back,
 * and a stalled store keeps close fast while fsync gets its deadline error.
 */
class CachedUploadFsS3MountTest {
    static final String PREFIX = "drive";
    static final AtomicInteger buckets = new AtomicInteger();
    static S3ProxyServer server;

    final Path work = createWork();
    final String bucket = "mount-" + buckets.incrementAndGet();
    final FaultInjectingBackend backend = newBackend(bucket);
    CachedUploadFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, config("upload-s3-test"));

    @BeforeAll
    static void startServer() throws Exception {
        server = S3ProxyServer.start();
    }

    @AfterAll
    static void stopServer() throws Exception {
        server.close();
    }

    private static FuseguardConfig config(String name) {
        return FuseguardConfig.builder().selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false)
                .deadline(OperationKind.SYNC, Duration.ofSeconds(5)).fsName(name).build();
    }

    private static Path createWork() {
        return FuseTestSupport.newTempDir("upload-s3-", "rwx------");
    }

    private static FaultInjectingBackend newBackend(String bucket) {
        server.createBucket(bucket);
        return new FaultInjectingBackend(server.backend(new S3Location(bucket, PREFIX)).build());
    }

    private CachedUploadFs newFs() {
        try {
            fs = new CachedUploadFs(work.resolve("cache"), backend, CachedUploadFs.Settings.defaults()
                    .withBackoff(Duration.ofMillis(50), Duration.ofMillis(500)));
            return fs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        backend.faults().reset();
        if (fs != null) {
            fs.close();
        }
        backend.close();
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(20, TimeUnit.SECONDS);
    }

    Path mnt() {
        return fuse.mountPoint();
    }

    /** The object's bytes as S3Proxy stores them, or null. */
    byte[] stored(String key) throws IOException {
        Blob b = server.blobStore().getBlob(bucket, PREFIX + "/" + key);
        if (b == null) {
            return null;
        }
        try (InputStream in = b.getPayload().openStream()) {
            return in.readAllBytes();
        }
    }

    static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void filesWrittenThroughTheMountReachTheBucketAndANewDaemonReadsThemBack() throws Exception {
        byte[] big = random(7 << 20, 1); // below the 16 MiB multipart threshold: one PutObject
        Path src = Files.write(work.resolve("src.bin"), big);
        long t0 = System.nanoTime();
        Child.runOk("cp", src.toString(), mnt().resolve("big.bin").toString());
        Child.runOk("mkdir", "-p", mnt().resolve("docs/2026").toString());
        Child.runOk("sh", "-c", "printf 'hello s3' > " + mnt().resolve("docs/2026/note.txt"));
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(10))
                .until(() -> fs.pendingPaths().isEmpty());
        System.out.printf("cp of 7 MiB + a small file: in S3Proxy %d ms after the cp started%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        assertThat(stored("big.bin")).isEqualTo(big);
        assertThat(stored("docs/2026/note.txt")).asString(StandardCharsets.UTF_8).isEqualTo("hello s3");

        // a second daemon, empty cache, same bucket: lists the bucket and fetches on first open
        Path cache2 = work.resolve("cache2");
        Path mp2 = Files.createDirectory(work.resolve("mnt2"));
        try (FaultInjectingBackend backend2 = newBackendOn(bucket);
             CachedUploadFs fs2 = new CachedUploadFs(cache2, backend2);
             FuseMount m2 = FuseMount.mount(fs2, mp2, config("upload-s3-second"))) {
            assertThat(Child.runOk("ls", mp2.toString()).lines()).containsExactly("big.bin", "docs");
            assertThat(Child.runOk("ls", mp2.resolve("docs").toString()).trim()).isEqualTo("2026");
            assertThat(Child.runOk("cat", mp2.resolve("docs/2026/note.txt").toString())).isEqualTo("hello s3");
            long t1 = System.nanoTime();
            String sum = Child.runOk("sha256sum", mp2.resolve("big.bin").toString()).split(" ")[0];
            System.out.printf("second daemon: first read of 7 MiB from S3Proxy (fetch + sha256sum) %d ms%n",
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1));
            assertThat(sum).isEqualTo(sha256(big));
            assertThat(m2.isMounted()).isTrue();
        }
    }

    private static FaultInjectingBackend newBackendOn(String bucket) {
        return new FaultInjectingBackend(server.backend(new S3Location(bucket, PREFIX)).build());
    }

    private static String sha256(byte[] b) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(b));
    }

    @Test
    void stalledStoreKeepsCloseFastAndFsyncGetsItsDeadlineError() throws Exception {
        backend.faults().stallUploads(true);
        byte[] content = random(512 << 10, 2);
        Path f = mnt().resolve("stalled.bin");
        long closeNanos;
        FileOutputStream out = new FileOutputStream(f.toFile());
        try {
            out.write(content);
        } finally {
            long t0 = System.nanoTime();
            out.close();
            closeNanos = System.nanoTime() - t0;
        }
        await().atMost(Duration.ofSeconds(5)).until(() -> backend.faults().stalledUploads() == 1);
        System.out.printf("close() of a 512 KiB file with S3 stalled: %.3f ms%n", closeNanos / 1e6);
        assertThat(Duration.ofNanos(closeNanos)).isLessThan(Duration.ofSeconds(1));
        assertThat(stored("stalled.bin")).isNull();

        Path g = mnt().resolve("synced.txt");
        try (FileChannel ch = FileChannel.open(g, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("late".getBytes(StandardCharsets.UTF_8)));
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> ch.force(true)).isInstanceOf(IOException.class)
                    .hasMessageContaining("Input/output error");
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            System.out.printf("fsync with S3 stalled answered EIO after %d ms (SYNC deadline 5 s)%n", ms);
            assertThat(ms).isBetween(4000L, 9000L);
        }
        // the mount still answers; released, both uploads reach the bucket
        assertThat(Child.runOk("cat", g.toString())).isEqualTo("late");
        backend.faults().stallUploads(false);
        await().atMost(Duration.ofSeconds(15)).until(() -> fs.pendingPaths().isEmpty());
        assertThat(stored("stalled.bin")).isEqualTo(content);
        assertThat(stored("synced.txt")).asString(StandardCharsets.UTF_8).isEqualTo("late");
    }

    @Test
    void pathsLongerThanAnS3KeyAreRefusedWithEnametoolongBeforeAnythingIsWritten() throws Exception {
        // keys are "drive/" + the path without its slash: paths up to 1019 bytes fit in S3's 1024
        assertThat(backend.maxPathLength()).isEqualTo(1019);
        String dirs = "/" + "a".repeat(200) + "/" + "b".repeat(200) + "/" + "c".repeat(200) + "/" + "d".repeat(200);
        Child.runOk("mkdir", "-p", mnt() + dirs);
        String fits = dirs + "/" + "f".repeat(1019 - dirs.length() - 1);
        String tooLong = fits + "g";
        assertThat(fits).hasSize(1019);
        Child.runOk("sh", "-c", "printf fits > '" + mnt() + fits + "'");

        for (String[] cmd : new String[][] {
                {"touch", mnt() + tooLong},                                    // create
                {"mkdir", mnt() + tooLong},                                    // mkdir
                {"mv", mnt() + fits, mnt() + tooLong},                         // rename of a file
                {"mv", mnt() + dirs, mnt() + dirs + "x"}}) { // one byte more for the file inside
            Child.Result r = Child.run(Duration.ofSeconds(10), cmd);
            assertThat(r.exit()).as(String.join(" ", cmd)).isNotZero();
            assertThat(r.err()).as(cmd[0]).contains("File name too long");
        }
        assertThat(Child.run(Duration.ofSeconds(10), "mknod", mnt() + tooLong, "p").err())
                .contains("Operation not permitted"); // a FIFO is refused as outside the subset first
        await().atMost(Duration.ofSeconds(20)).until(() -> fs.pendingPaths().isEmpty());
        assertThat(fs.parkedPaths()).isEmpty();
        assertThat(stored(fits.substring(1))).asString(StandardCharsets.UTF_8).isEqualTo("fits");
        assertThat(Child.runOk("cat", mnt() + fits)).isEqualTo("fits");
    }
}
