package io.fuseguard.examples.upload;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Through a real mount: {@code rm -rf} of a tree just copied in (its uploads stalled in the backend) and of a
 * tree known only to the backend decides on what the mount shows, so it succeeds the first time while every
 * backend operation is still pending, and the deletes run without a failure once the backend answers (a
 * directory after its files); a sparse file of 1 TiB with 8 KiB of data is fsynced in about a second and stored
 * with its holes.
 */
class CachedUploadFsTreeAndSparseTest {
    final Path work = FuseTestSupport.newTempDir("upload-tree-", "rwx------");
    final DirectoryBackend backend = newBackend(work.resolve("backend"));
    final FaultInjectingBackend slow = new FaultInjectingBackend(backend);
    CachedUploadFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .shutdownHook(false).fsName("upload-tree").build());

    private static DirectoryBackend newBackend(Path dir) {
        try {
            return new DirectoryBackend(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private CachedUploadFs newFs() {
        try {
            fs = new CachedUploadFs(work.resolve("cache"), slow);
            return fs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        slow.faults().reset();
        if (fs != null) {
            fs.close();
        }
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(30, TimeUnit.SECONDS);
    }

    @Test
    void rmRfDecidesOnTheViewTheMountShows() throws Exception {
        Path src = work.resolve("src");
        for (int d = 0; d < 10; d++) {
            for (int s = 0; s < 3; s++) {
                Path dir = Files.createDirectories(src.resolve("d" + d).resolve("s" + s));
                for (int f = 0; f < 12; f++) {
                    Files.writeString(dir.resolve("f" + f), "file " + d + s + f);
                }
            }
        }
        // a tree only in the backend, three levels deep
        for (int i = 0; i < 40; i++) {
            Path p = backend.root().resolve("remote/a" + i % 4 + "/b" + i % 3 + "/r" + i);
            Files.createDirectories(p.getParent());
            Files.writeString(p, "remote " + i);
        }
        Path mnt = fuse.mountPoint();
        slow.faults().stallUploads(true);
        Child.runOk("cp", "-a", src.toString(), mnt.resolve("copy").toString());
        int pendingAtRm = fs.pendingPaths().size();
        long t0 = System.nanoTime();
        Child.Result rm = Child.run(Duration.ofSeconds(60), "rm", "-rf", mnt.resolve("copy").toString(),
                mnt.resolve("remote").toString());
        long rmMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        int pendingAfterRm = fs.pendingPaths().size();
        System.out.printf("rm -rf of 360 files just copied in (uploads stalled: %d backend operations pending) and of 40 backend-only "
                + "files: exit %d in %d ms, %d backend operations still pending after it%n", pendingAtRm, rm.exit(),
                rmMs, pendingAfterRm);
        assertThat(rm.exit()).as("rm -rf: %s", rm.err()).isZero();
        assertThat(Child.runOk("ls", "-A", mnt.toString()).trim()).isEmpty();
        slow.faults().stallUploads(false);
        assertThat(fs.awaitIdle(Duration.ofSeconds(60))).as("pending %s", fs.pendingPaths()).isTrue();
        try (Stream<Path> s = Files.list(backend.root())) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactly(DirectoryBackend.INCOMING);
        }
        assertThat(fs.failedAttempts()).as("no delete failed and was retried").isZero();
    }

    @Test
    void aSparseFileIsUploadedWithoutItsHoles() throws Exception {
        Path f = fuse.mountPoint().resolve("sparse.img");
        long t0 = System.nanoTime();
        Child.runOk("python3", "-c", """
                import os, sys
                fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o644)
                os.ftruncate(fd, 1 << 40)
                os.pwrite(fd, b"x" * 4096, 0)
                os.pwrite(fd, b"y" * 4096, 1 << 39)
                os.fsync(fd)
                os.close(fd)
                """, f.toString());
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        Path stored = backend.root().resolve("sparse.img");
        long allocated = (Long) Files.getAttribute(stored, "unix:size") > 0
                ? blocks(stored) * 512 : -1;
        System.out.printf("1 TiB sparse file with 8 KiB of data: written and fsynced in %d ms; the backend's copy "
                + "has %d bytes allocated%n", ms, allocated);
        assertThat(Files.size(stored)).isEqualTo(1L << 40);
        assertThat(allocated).isLessThan(1 << 20);
        assertThat(ms).isLessThan(10_000);
        try (var ch = java.nio.channels.FileChannel.open(stored)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4);
            ch.read(b, 1L << 39);
            assertThat(new String(b.array())).isEqualTo("yyyy");
            b.clear();
            ch.read(b, 1L << 38);
            assertThat(b.array()).containsOnly(0);
        }
    }

    private static long blocks(Path p) throws Exception {
        String out = Child.runOk("stat", "-c", "%b", p.toString()).trim();
        return Long.parseLong(out);
    }
}
