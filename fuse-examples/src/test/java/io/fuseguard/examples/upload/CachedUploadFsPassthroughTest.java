package io.fuseguard.examples.upload;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@link CachedUploadFs} with FUSE passthrough (a root daemon on Linux 6.9+): opens of complete cache copies are
 * backed by the cache file, and what the kernel writes there itself is still uploaded, also when an upload of an
 * earlier version finished while the file was open.
 */
class CachedUploadFsPassthroughTest {
    final Path work = FuseTestSupport.newTempDir("upload-pt-", "rwx------");
    final DirectoryBackend backend = newBackend(work.resolve("backend"));
    CachedUploadFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false).fsName("upload-pt").build());

    private static DirectoryBackend newBackend(Path dir) {
        try {
            return new DirectoryBackend(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
        if (fs != null) {
            fs.close();
        }
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(20, TimeUnit.SECONDS);
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    private void awaitUploaded(String name, byte[] content) {
        Path uploaded = backend.root().resolve(name);
        await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                .until(() -> Files.exists(uploaded) && Arrays.equals(Files.readAllBytes(uploaded), content));
    }

    @Test
    void backedOpensAreUploadedAndReadBack() throws Exception {
        assertThat(fuse.mount().passthrough().active()).isTrue();
        byte[] content = random(1 << 20, 1);
        Files.write(fuse.mountPoint().resolve("a.bin"), content);
        awaitUploaded("a.bin", content);
        assertThat(Files.readAllBytes(fuse.mountPoint().resolve("a.bin"))).isEqualTo(content);
        assertThat(fuse.mount().passthrough().backedOpens()).as("the create and the read").isEqualTo(2);
        assertThat(fuse.mount().passthrough().fallbackOpens()).isZero();
    }

    @Test
    void anAppendWhileAReaderHoldsTheFileIsBackedToo() throws Exception {
        Path f = fuse.mountPoint().resolve("log");
        Files.write(f, "one\n".getBytes());
        try (FileChannel reader = FileChannel.open(f, StandardOpenOption.READ)) {
            Child.runOk("sh", "-c", "echo two >> " + f);
            ByteBuffer b = ByteBuffer.allocate(64);
            reader.read(b, 0);
            assertThat(new String(b.array(), 0, b.position())).isEqualTo("one\ntwo\n");
        }
        awaitUploaded("log", "one\ntwo\n".getBytes());
        assertThat(fuse.mount().passthrough().openBackingIds()).isZero();
    }

    @Test
    void whatTheKernelWroteAfterAnFsyncUploadIsUploadedAtRelease() throws Exception {
        Path f = fuse.mountPoint().resolve("b.bin");
        byte[] first = random(65536, 2);
        byte[] second = random(65536, 3);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(first));
            ch.force(true); // uploads this version now: its journal entry is done
            awaitUploaded("b.bin", first);
            ch.write(ByteBuffer.wrap(second)); // through the cache file, unseen by the daemon
        }
        byte[] both = new byte[first.length + second.length];
        System.arraycopy(first, 0, both, 0, first.length);
        System.arraycopy(second, 0, both, first.length, second.length);
        awaitUploaded("b.bin", both);
    }

    /**
     * fsync of a backed open is a durability point like any other: what the kernel wrote into the cache file since
     * the last upload is in the backend when fsync returns 0, through the writing descriptor or another one (it used
     * to answer 0 with the backend still holding the previous version: the daemon never saw those writes).
     */
    @Test
    void fsyncUploadsWhatTheKernelWroteThroughABackedOpen() throws Exception {
        Path f = fuse.mountPoint().resolve("c.bin");
        Path uploaded = backend.root().resolve("c.bin");
        byte[] first = random(65536, 4);
        byte[] second = random(65536, 5);
        byte[] third = random(65536, 6);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(first));
            ch.force(true);
            assertThat(Files.readAllBytes(uploaded)).as("after the first fsync").isEqualTo(first);
            ch.write(ByteBuffer.wrap(second), 0); // through the cache file, unseen by the daemon
            ch.force(true);
            assertThat(Files.readAllBytes(uploaded)).as("after the second fsync, same descriptor").isEqualTo(second);
            ch.write(ByteBuffer.wrap(third), 0);
            try (FileChannel other = FileChannel.open(f, StandardOpenOption.READ)) {
                other.force(true);
            }
            assertThat(Files.readAllBytes(uploaded)).as("after an fsync through another descriptor")
                    .isEqualTo(third);
        }
        assertThat(fuse.mount().passthrough().backedOpens()).isPositive();
    }
}
