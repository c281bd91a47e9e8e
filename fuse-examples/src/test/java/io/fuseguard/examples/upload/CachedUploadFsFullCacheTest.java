package io.fuseguard.examples.upload;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * ENOSPC on a full cache reaches the writer with nothing lost (issue 17: it must keep holding with the
 * append-only journal, which shares the cache's filesystem): the cache is a 4 MiB tmpfs; a client writes 1 MiB
 * to one file, then 8 MiB to another in 64 KiB writes until one fails. The failure is ENOSPC, every byte
 * acknowledged before it is uploaded, and after the second file is removed the mount takes writes again and a
 * restart on the same cache finds a journal it can read.
 */
class CachedUploadFsFullCacheTest {
    private static final String SCRIPT = """
            import errno, os, sys
            mnt = sys.argv[1]
            with open(os.path.join(mnt, "small"), "wb") as f:
                f.write(b"s" * (1 << 20))
            fd = os.open(os.path.join(mnt, "big"), os.O_CREAT | os.O_WRONLY, 0o644)
            acked = 0
            err = 0
            try:
                while acked < 8 << 20:
                    acked += os.write(fd, bytes([65 + (acked >> 16) % 26]) * 65536)
            except OSError as e:
                err = e.errno
            os.close(fd)
            print("ACKED %d ERRNO %s" % (acked, errno.errorcode.get(err, err)), flush=True)
            """;

    @Test
    void aFullCacheIsEnospcForTheWriterAndNothingAcknowledgedIsLost() throws Exception {
        FuseAvailability.assumeUsable();
        Path work = FuseTestSupport.newTempDir("upload-full-", "rwx------");
        Path cache = Files.createDirectories(work.resolve("cache"));
        Path mnt = Files.createDirectories(work.resolve("mnt"));
        Path backendDir = work.resolve("backend");
        Child.runOk("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", cache.toString());
        try {
            DirectoryBackend backend = new DirectoryBackend(backendDir);
            String out;
            CachedUploadFs fs = new CachedUploadFs(cache, backend);
            try (FuseMount m = FuseMount.mount(fs, mnt, FuseguardConfig.builder().shutdownHook(false)
                    .fsName("upload-full").build())) {
                out = Child.run(Duration.ofSeconds(60), "python3", "-c", SCRIPT, mnt.toString()).assertOk()
                        .out().trim();
                System.out.println("4 MiB cache: " + out);
                assertThat(out).endsWith("ERRNO ENOSPC");
                long acked = Long.parseLong(out.split(" ")[1]);
                assertThat(fs.awaitIdle(Duration.ofSeconds(30))).as("pending %s", fs.pendingPaths()).isTrue();
                Map<String, byte[]> stored = CrashRig.files(backendDir, DirectoryBackend.INCOMING);
                assertThat(stored.get("/small")).hasSize(1 << 20);
                byte[] big = stored.get("/big");
                assertThat(big).as("the acknowledged bytes of big").isNotNull();
                assertThat((long) big.length).isGreaterThanOrEqualTo(acked);
                for (int i = 0; i < acked; i += 65536) {
                    // the last write may have been short (the kernel writes a passthrough-backed file itself)
                    byte[] chunk = Arrays.copyOfRange(big, i, (int) Math.min(i + 65536, acked));
                    byte expected = (byte) (65 + (i >> 16) % 26);
                    assertThat(chunk).as("chunk at %d", i).containsOnly(expected);
                }
                // room again: the mount takes writes, the journal works
                Child.runOk("rm", mnt.resolve("big").toString());
                Child.runOk("sh", "-c", "printf again > " + mnt.resolve("after.txt"));
                assertThat(fs.awaitIdle(Duration.ofSeconds(30))).isTrue();
                assertThat(Files.readString(backendDir.resolve("after.txt"))).isEqualTo("again");
                assertThat(backendDir.resolve("big")).doesNotExist();
            } finally {
                fs.close();
            }
            try (CachedUploadFs again = new CachedUploadFs(cache, backend)) {
                assertThat(again.pendingPaths()).isEmpty();
            }
            backend.close();
        } finally {
            UploadCrashRecoveryTest.cleanupMount(mnt);
            new ProcessBuilder("umount", "-l", cache.toString()).start().waitFor(10, TimeUnit.SECONDS);
            new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
    }
}
