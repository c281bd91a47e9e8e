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

    /**
     * Fills the cache to the last byte: data until a write fails, then empty files until a create fails (each
     * create appends a journal record; the data filled every block). Prints "BIG n ERRNO e" and "EMPTY k ERRNO e".
     */
    private static final String FILL = """
            import errno, os, sys
            mnt, name = sys.argv[1], sys.argv[2]
            fd = os.open(os.path.join(mnt, name), os.O_CREAT | os.O_WRONLY, 0o644)
            acked, err = 0, 0
            try:
                while True:
                    acked += os.write(fd, b"F" * 65536)
            except OSError as e:
                err = e.errno
            os.close(fd)
            print("BIG %d ERRNO %s" % (acked, errno.errorcode.get(err, err)), flush=True)
            k, err = 0, 0
            try:
                while k < 100000:
                    open(os.path.join(mnt, "%s-empty%d" % (name, k)), "w").close()
                    k += 1
            except OSError as e:
                err = e.errno
            print("EMPTY %d ERRNO %s" % (k, errno.errorcode.get(err, err)), flush=True)
            """;

    /**
     * A cache full of data and of journal (review of issue 17, finding 3): every {@code rm} used to fail with
     * ENOSPC, since a delete appends a journal record first, and a restart failed too, since it rewrites the
     * journal beside the old one. Now removals use the journal's reserve: {@code rm} of an empty file and of the
     * big one work, the mount takes writes again, and a restart on a cache that is full again starts (it appends
     * to the old journal) and can remove files.
     */
    @Test
    void aCacheFullOfDataAndJournalStillRemovesFilesAndRestarts() throws Exception {
        FuseAvailability.assumeUsable();
        Path work = FuseTestSupport.newTempDir("upload-full2-", "rwx------");
        Path cache = Files.createDirectories(work.resolve("cache"));
        Path mnt = Files.createDirectories(work.resolve("mnt"));
        Path backendDir = work.resolve("backend");
        Child.runOk("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", cache.toString());
        try {
            DirectoryBackend backend = new DirectoryBackend(backendDir);
            CachedUploadFs fs = new CachedUploadFs(cache, backend);
            try (FuseMount m = FuseMount.mount(fs, mnt, FuseguardConfig.builder().shutdownHook(false)
                    .fsName("upload-full2").build())) {
                String out = Child.run(Duration.ofSeconds(60), "python3", "-c", FILL, mnt.toString(), "big")
                        .assertOk().out().trim();
                System.out.println("4 MiB cache filled: " + out.replace('\n', ';'));
                assertThat(out).contains("ERRNO ENOSPC\nEMPTY").endsWith("ERRNO ENOSPC");
                assertThat(fs.awaitIdle(Duration.ofSeconds(30))).as("pending %s", fs.pendingPaths()).isTrue();
                // the cache is full: still, the user can remove files, and that makes room
                Child.Result rmEmpty = Child.run(Duration.ofSeconds(20), "rm", mnt.resolve("big-empty0").toString());
                assertThat(rmEmpty.exit()).as("rm of an empty file on a full cache: %s", rmEmpty.err()).isZero();
                Child.Result rmBig = Child.run(Duration.ofSeconds(20), "rm", mnt.resolve("big").toString());
                assertThat(rmBig.exit()).as("rm of the big file: %s", rmBig.err()).isZero();
                Child.runOk("sh", "-c", "printf again > " + mnt.resolve("after.txt"));
                assertThat(fs.awaitIdle(Duration.ofSeconds(30))).as("pending %s", fs.pendingPaths()).isTrue();
                assertThat(Files.readString(backendDir.resolve("after.txt"))).isEqualTo("again");
                assertThat(backendDir.resolve("big")).doesNotExist();
                assertThat(backendDir.resolve("big-empty0")).doesNotExist();
                assertThat(backendDir.resolve("big-empty1")).exists();
                // full again, then the daemon stops
                out = Child.run(Duration.ofSeconds(60), "python3", "-c", FILL, mnt.toString(), "big2")
                        .assertOk().out().trim();
                System.out.println("filled again: " + out.replace('\n', ';'));
                assertThat(out).endsWith("ERRNO ENOSPC");
            } finally {
                fs.close();
            }
            // a start on the full cache: it cannot write a second journal beside the first, and appends instead
            try (CachedUploadFs again = new CachedUploadFs(cache, backend)) {
                again.unlink("/big2");
                again.unlink("/big2-empty0");
                assertThat(again.awaitIdle(Duration.ofSeconds(30))).as("pending %s", again.pendingPaths()).isTrue();
            }
            assertThat(backendDir.resolve("big2")).doesNotExist();
            try (CachedUploadFs third = new CachedUploadFs(cache, backend)) {
                assertThat(third.pendingPaths()).as("the journal the full start appended to reads back").isEmpty();
                assertThat(third.getattr("/big2-empty1").size()).isZero();
            }
            backend.close();
        } finally {
            UploadCrashRecoveryTest.cleanupMount(mnt);
            new ProcessBuilder("umount", "-l", cache.toString()).start().waitFor(10, TimeUnit.SECONDS);
            new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
    }

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
