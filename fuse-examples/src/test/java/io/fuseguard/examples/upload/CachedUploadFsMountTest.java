package io.fuseguard.examples.upload;

import io.fuseguard.testkit.Child;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.FileOutputStream;
import java.io.IOException;
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

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** {@link CachedUploadFs} through the kernel: uploads after close, stalls, fsync errors, namespace. */
class CachedUploadFsMountTest {
    final Path work = createWork();
    final DirectoryBackend backend = newBackend(work.resolve("backend"));
    final FaultInjectingBackend faulty = new FaultInjectingBackend(backend);
    CachedUploadFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false)
            .deadline(OperationKind.SYNC, Duration.ofSeconds(5)).fsName("upload-test").build());

    private static Path createWork() {
        return FuseTestSupport.newTempDir("upload-", "rwx------");
    }

    private static DirectoryBackend newBackend(Path dir) {
        try {
            return new DirectoryBackend(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private CachedUploadFs newFs() {
        try {
            fs = new CachedUploadFs(work.resolve("cache"), faulty, CachedUploadFs.Settings.defaults()
                    .withBackoff(Duration.ofMillis(50), Duration.ofMillis(500)));
            return fs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        faulty.faults().reset();
        if (fs != null) {
            fs.close();
        }
        // runs before the unmount (the extension's callback comes last); nothing reads the cache any more
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(20, TimeUnit.SECONDS);
    }

    Path mnt() {
        return fuse.mountPoint();
    }


    static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void closedFileIsUploadedWithIdenticalContent() throws Exception {
        byte[] content = random(2 << 20, 1);
        Path src = Files.write(work.resolve("src.bin"), content);
        long t0 = System.nanoTime();
        Child.runOk("cp", src.toString(), mnt().resolve("file.bin").toString());
        Path uploaded = backend.root().resolve("file.bin");
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(10))
                .until(() -> Files.exists(uploaded) && Files.size(uploaded) == content.length);
        System.out.printf("cp of 2 MiB + upload visible in the backend after %d ms%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        assertThat(Files.readAllBytes(uploaded)).isEqualTo(content);
        await().atMost(Duration.ofSeconds(5)).until(() -> fs.pendingPaths().isEmpty());
        assertThat(Child.runOk("cat", mnt().resolve("file.bin").toString()).length()).isPositive();
    }

    @Test
    void stalledBackendDoesNotStallClose() throws Exception {
        faulty.faults().stallUploads(true);
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
        await().atMost(Duration.ofSeconds(5)).until(() -> faulty.faults().stalledUploads() == 1);
        // a second writer, a child process this time, while the first upload is stuck
        long t1 = System.nanoTime();
        Child.runOk("sh", "-c", "printf second > " + mnt().resolve("second.txt"));
        long childMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1);
        System.out.printf("close() of a 512 KiB file with the backend stalled: %.3f ms; "
                + "child 'sh -c printf > file' (incl. process start): %d ms%n", closeNanos / 1e6, childMs);
        assertThat(Duration.ofNanos(closeNanos)).isLessThan(Duration.ofSeconds(1));

        // reads, listings and stats are served from the cache meanwhile
        assertThat(Files.readAllBytes(f)).isEqualTo(content);
        assertThat(Child.runOk("ls", mnt().toString())).contains("stalled.bin", "second.txt");
        assertThat(Files.exists(backend.root().resolve("stalled.bin"))).isFalse();
        assertThat(fs.pendingPaths()).contains("/stalled.bin", "/second.txt");
        assertThat(backend.uploadsInFlight()).isPositive();

        long t2 = System.nanoTime();
        faulty.faults().stallUploads(false);
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.pendingPaths().isEmpty());
        System.out.printf("pending uploads drained %d ms after the stall was released%n",
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t2));
        assertThat(Files.readAllBytes(backend.root().resolve("stalled.bin"))).isEqualTo(content);
        assertThat(Files.readString(backend.root().resolve("second.txt"))).isEqualTo("second");
    }

    @Test
    void fsyncReportsBackendFailureAsEio() throws Exception {
        Path f = mnt().resolve("synced.txt");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("important".getBytes(StandardCharsets.UTF_8)));
            faulty.faults().failUploads(true);
            assertThatThrownBy(() -> ch.force(true)).isInstanceOf(IOException.class)
                    .hasMessageContaining("Input/output error");
            // the data is still there and pending
            assertThat(fs.pendingPaths()).contains("/synced.txt");
            faulty.faults().failUploads(false);
            ch.force(true); // durability point now succeeds: uploaded before force returns
            assertThat(Files.readString(backend.root().resolve("synced.txt"))).isEqualTo("important");
        }

        // the same through a child: dd conv=fsync fails with EIO
        faulty.faults().failUploads(true);
        Process p = new ProcessBuilder("dd", "if=/dev/zero", "of=" + mnt().resolve("dd.bin"), "bs=4k", "count=4",
                "conv=fsync").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(20, TimeUnit.SECONDS)).isTrue();
        System.out.println("dd conv=fsync with the backend down: exit " + p.exitValue() + ": " + out.trim());
        assertThat(p.exitValue()).isNotZero();
        assertThat(out).contains("Input/output error");
        faulty.faults().failUploads(false);
        fs.retryPending();
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.pendingPaths().isEmpty());
        assertThat(Files.size(backend.root().resolve("dd.bin"))).isEqualTo(16384);
    }

    @Test
    void fsyncOnAStalledBackendFailsAtItsDeadlineAndTheMountStaysUsable() throws Exception {
        faulty.faults().stallUploads(true);
        Path f = mnt().resolve("slow.txt");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("late".getBytes(StandardCharsets.UTF_8)));
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> ch.force(true)).isInstanceOf(IOException.class)
                    .hasMessageContaining("Input/output error");
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            System.out.printf("fsync with the backend stalled answered EIO after %d ms (SYNC deadline 5 s)%n", ms);
            assertThat(ms).isBetween(4000L, 9000L);
        }
        // the mount still answers, and the upload goes through once the backend recovers
        assertThat(Child.runOk("cat", f.toString())).isEqualTo("late");
        faulty.faults().stallUploads(false);
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.pendingPaths().isEmpty());
        assertThat(Files.readString(backend.root().resolve("slow.txt"))).isEqualTo("late");
    }

    @Test
    void failedUploadsAreRetriedWithBackoff() throws Exception {
        faulty.faults().failNext(3);
        Child.runOk("sh", "-c", "printf retried > " + mnt().resolve("r.txt"));
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.pendingPaths().isEmpty());
        assertThat(Files.readString(backend.root().resolve("r.txt"))).isEqualTo("retried");
        assertThat(fs.failedAttempts()).isGreaterThanOrEqualTo(3);
    }

    @Test
    void namespaceChangesReachTheBackend() throws Exception {
        // a file that exists only in the backend is listed and fetched on first open
        Files.createDirectories(backend.root().resolve("remote"));
        Files.writeString(backend.root().resolve("remote/old.txt"), "from the backend");
        assertThat(Child.runOk("ls", mnt().resolve("remote").toString()).trim()).isEqualTo("old.txt");
        assertThat(Child.runOk("cat", mnt().resolve("remote/old.txt").toString())).isEqualTo("from the backend");

        Child.runOk("mkdir", "-p", mnt().resolve("dir/sub").toString());
        Child.runOk("sh", "-c", "printf one > " + mnt().resolve("dir/sub/one.txt"));
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.exists(backend.root().resolve("dir/sub/one.txt")));

        Child.runOk("mv", mnt().resolve("dir/sub/one.txt").toString(), mnt().resolve("dir/renamed.txt").toString());
        Child.runOk("mv", mnt().resolve("remote").toString(), mnt().resolve("moved-remote").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.pendingPaths().isEmpty());
        assertThat(backend.root().resolve("dir/sub/one.txt")).doesNotExist();
        assertThat(Files.readString(backend.root().resolve("dir/renamed.txt"))).isEqualTo("one");
        assertThat(backend.root().resolve("remote")).doesNotExist();
        assertThat(Files.readString(backend.root().resolve("moved-remote/old.txt"))).isEqualTo("from the backend");

        Child.runOk("rm", "-r", mnt().resolve("dir").toString());
        Child.runOk("rm", mnt().resolve("moved-remote/old.txt").toString());
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.pendingPaths().isEmpty());
        assertThat(backend.root().resolve("dir")).doesNotExist();
        assertThat(backend.root().resolve("moved-remote/old.txt")).doesNotExist();
        assertThat(Child.runOk("ls", "-A", mnt().toString()).trim()).isEqualTo("moved-remote");
        Child.runOk("rmdir", mnt().resolve("moved-remote").toString());
        assertThat(Child.runOk("ls", "-A", mnt().toString()).trim()).isEmpty();
    }
}
