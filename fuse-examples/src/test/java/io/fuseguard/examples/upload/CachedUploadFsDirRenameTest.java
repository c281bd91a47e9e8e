package io.fuseguard.examples.upload;

import io.fuseguard.api.OperationKind;
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

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A directory rename is one journal record and never left half done by the metadata deadline (100 ms here, as
 * in issue 17): 150 files renamed in one request reach the backend under the new name only; a directory whose
 * files the backend alone has, and cannot deliver within half the deadline, is refused with EIO before
 * anything changed, and renamed once its files are in the cache.
 */
class CachedUploadFsDirRenameTest {
    final Path work = FuseTestSupport.newTempDir("upload-dirrename-", "rwx------");
    final DirectoryBackend store = newBackend(work.resolve("backend"));
    final CachedUploadFsDownloadRaceTest.SlowBackend slow = new CachedUploadFsDownloadRaceTest.SlowBackend(store);
    CachedUploadFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .shutdownHook(false).deadline(OperationKind.METADATA, Duration.ofMillis(100))
            .fsName("upload-dirrename").build());

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
        slow.stop.set(true);
        if (fs != null) {
            fs.close();
        }
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(30, TimeUnit.SECONDS);
    }

    @Test
    void aDirectoryOf150FilesIsRenamedWithinA100msDeadlineAndReachesTheBackendWhole() throws Exception {
        Path mnt = fuse.mountPoint();
        Child.runOk("python3", "-c", """
                import os, sys
                d = os.path.join(sys.argv[1], "d")
                os.makedirs(os.path.join(d, "sub"))
                for i in range(150):
                    with open(os.path.join(d, "sub" if i % 3 == 0 else "", "f%03d" % i), "w") as f:
                        f.write("file %d" % i)
                """, mnt.toString());
        assertThat(fs.awaitIdle(Duration.ofSeconds(30))).isTrue();
        long t0 = System.nanoTime();
        Child.Result mv = Child.run(Duration.ofSeconds(30), "mv", mnt.resolve("d").toString(),
                mnt.resolve("e").toString());
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.printf("mv of a directory of 150 files with a 100 ms metadata deadline: exit %d in %d ms "
                + "(mv's own start included)%n", mv.exit(), ms);
        assertThat(mv.exit()).as("mv: %s", mv.err()).isZero();
        assertThat(fs.awaitIdle(Duration.ofSeconds(30))).as("pending %s", fs.pendingPaths()).isTrue();
        Map<String, byte[]> stored = CrashRig.files(store.root(), DirectoryBackend.INCOMING);
        assertThat(stored).hasSize(150);
        assertThat(stored.keySet()).allMatch(p -> p.startsWith("/e/"));
        assertThat(new String(stored.get("/e/sub/f000"))).isEqualTo("file 0");
        assertThat(CrashRig.files(mnt)).hasSize(150);
    }

    @Test
    void aRenameThatWouldWaitForTheBackendIsRefusedBeforeAnythingChanges() throws Exception {
        Path remote = Files.createDirectories(store.root().resolve("remote"));
        Files.write(remote.resolve("big.bin"), new byte[16 << 20]); // 4 s at the slow backend's 4 MiB/s
        Files.writeString(remote.resolve("small.txt"), "small");
        Path mnt = fuse.mountPoint();
        long t0 = System.nanoTime();
        Child.Result mv = Child.run(Duration.ofSeconds(30), "mv", mnt.resolve("remote").toString(),
                mnt.resolve("moved").toString());
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.printf("mv of a directory whose 16 MiB file is still downloading: exit %d after %d ms: %s%n",
                mv.exit(), ms, mv.err().trim());
        assertThat(mv.exit()).isNotZero();
        assertThat(mv.err()).contains("Input/output error");
        // nothing changed: the old name in the mount and in the backend, no new name anywhere
        assertThat(Child.runOk("ls", mnt.toString()).trim()).isEqualTo("remote");
        assertThat(Child.runOk("ls", mnt.resolve("remote").toString()).lines()).containsExactly("big.bin",
                "small.txt");
        assertThat(store.root().resolve("moved")).doesNotExist();
        assertThat(fs.pendingPaths()).isEmpty();
        // the downloads went on: once the files are in the cache the rename goes through at once
        await().atMost(Duration.ofSeconds(20)).until(() -> fs.isCached("/remote/big.bin"));
        Child.runOk("mv", mnt.resolve("remote").toString(), mnt.resolve("moved").toString());
        assertThat(fs.awaitIdle(Duration.ofSeconds(30))).isTrue();
        assertThat(Files.size(store.root().resolve("moved/big.bin"))).isEqualTo(16 << 20);
        assertThat(store.root().resolve("remote")).doesNotExist();
    }
}
