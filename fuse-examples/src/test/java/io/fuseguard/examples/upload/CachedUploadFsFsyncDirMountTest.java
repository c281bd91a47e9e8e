package io.fuseguard.examples.upload;

import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A real {@code fsync(2)} of a directory through the mount (review of issue 17, finding 4): FSYNCDIR had no
 * handler, the kernel answered 0 and nothing was made durable, so an atomic save (write a temp file, fsync it,
 * rename it over the document, fsync the directory) or sqlite's commit could be lost although every call
 * succeeded. Uploads are an hour away here: only the fsync of the directory can have put the names in the backend.
 */
class CachedUploadFsFsyncDirMountTest {
    /** The atomic save, then an unlink (a rollback journal's commit), each followed by an fsync of the directory. */
    private static final String SAVE = """
            import os, sys
            d = sys.argv[1]
            tmp, doc = os.path.join(d, "doc.tmp"), os.path.join(d, "doc")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
            os.write(fd, b"saved")
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, doc)
            dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            os.fsync(dfd)
            print("SAVED", flush=True)
            sys.stdin.readline()  # the test looks at the backend meanwhile
            os.unlink(os.path.join(d, "journal"))
            os.fsync(dfd)
            os.close(dfd)
            print("COMMITTED", flush=True)
            """;

    /** An fsync of the directory whose new name cannot be uploaded: prints the errno and the seconds it took. */
    private static final String FAILING = """
            import errno, os, sys, time
            d = sys.argv[1]
            with open(os.path.join(d, "new"), "w") as f:
                f.write("new")
            dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            t0 = time.monotonic()
            try:
                os.fsync(dfd)
                print("FSYNC OK", flush=True)
            except OSError as e:
                print("FSYNC " + errno.errorcode[e.errno], flush=True)
            print("%.2f" % (time.monotonic() - t0), file=sys.stderr, flush=True)
            """;

    /** SYNC requests' deadline in the test of a stalled backend. */
    private static final Duration SYNC_DEADLINE = Duration.ofSeconds(3);

    @Test
    void anFsyncOfTheDirectoryPutsTheSavedNameInTheBackendAndFailsWithEioWhenItCannot() throws Exception {
        FuseAvailability.assumeUsable();
        Path work = FuseTestSupport.newTempDir("upload-fsyncdir-", "rwx------");
        Path mnt = Files.createDirectories(work.resolve("mnt"));
        Path backendDir = work.resolve("backend");
        Files.createDirectories(backendDir.resolve("d"));
        Files.writeString(backendDir.resolve("d").resolve("journal"), "rollback journal");
        FaultInjectingBackend backend = new FaultInjectingBackend(new DirectoryBackend(backendDir));
        CachedUploadFs fs = new CachedUploadFs(work.resolve("cache"), backend,
                CachedUploadFs.Settings.defaults().withUploadDelay(Duration.ofHours(1)));
        try (FuseMount m = FuseMount.mount(fs, mnt, FuseguardConfig.builder().shutdownHook(false)
                .fsName("upload-fsyncdir").build())) {
            Path d = mnt.resolve("d");
            Process saver = new ProcessBuilder("python3", "-c", SAVE, d.toString()).redirectErrorStream(true).start();
            try (var out = new java.io.BufferedReader(new java.io.InputStreamReader(saver.getInputStream()));
                 var in = saver.getOutputStream()) {
                assertThat(out.readLine()).isEqualTo("SAVED");
                assertThat(backendDir.resolve("d").resolve("doc")).hasContent("saved");
                assertThat(backendDir.resolve("d").resolve("doc.tmp")).doesNotExist();
                assertThat(backendDir.resolve("d").resolve("journal")).exists();
                in.write('\n');
                in.flush();
                assertThat(out.readLine()).isEqualTo("COMMITTED");
                assertThat(backendDir.resolve("d").resolve("journal")).doesNotExist();
            } finally {
                saver.destroyForcibly();
                saver.waitFor(10, TimeUnit.SECONDS);
            }

            backend.faults().failUploads(true);
            String failed = Child.run(Duration.ofSeconds(60), "python3", "-c", FAILING, d.toString()).assertOk()
                    .out().trim();
            assertThat(failed).isEqualTo("FSYNC EIO");
            assertThat(fs.pendingPaths()).containsExactly("/d/new");
            backend.faults().failUploads(false);
            String again = Child.run(Duration.ofSeconds(60), "python3", "-c", FAILING, d.toString()).assertOk()
                    .out().trim();
            assertThat(again).as("the kernel did not take the EIO as 'no fsyncdir here'").isEqualTo("FSYNC OK");
            assertThat(backendDir.resolve("d").resolve("new")).hasContent("new");
        } finally {
            fs.close();
            backend.close();
            UploadCrashRecoveryTest.cleanupMount(mnt);
            new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
    }

    /**
     * A backend that hangs: the fsync of the directory answers EIO at the SYNC deadline, as an fsync of a file
     * does, instead of waiting for the upload for good; once the backend answers again, the next one answers 0.
     */
    @Test
    void aStalledBackendIsEioAtTheSyncDeadline() throws Exception {
        FuseAvailability.assumeUsable();
        Path work = FuseTestSupport.newTempDir("upload-fsyncdir-stall-", "rwx------");
        Path mnt = Files.createDirectories(work.resolve("mnt"));
        Path backendDir = work.resolve("backend");
        Files.createDirectories(backendDir.resolve("d"));
        FaultInjectingBackend backend = new FaultInjectingBackend(new DirectoryBackend(backendDir));
        CachedUploadFs fs = new CachedUploadFs(work.resolve("cache"), backend,
                CachedUploadFs.Settings.defaults().withUploadDelay(Duration.ofHours(1)));
        try (FuseMount m = FuseMount.mount(fs, mnt, FuseguardConfig.builder().shutdownHook(false)
                .deadline(OperationKind.SYNC, SYNC_DEADLINE).fsName("upload-fsyncdir-stall").build())) {
            String d = mnt.resolve("d").toString();
            backend.faults().stallUploads(true);
            Child.Result stalled = Child.run(Duration.ofSeconds(120), "python3", "-c", FAILING, d).assertOk();
            double seconds = Double.parseDouble(stalled.err().trim());
            System.out.println("fsync of the directory with a stalled backend: " + stalled.out().trim() + " after "
                    + seconds + " s (SYNC deadline " + SYNC_DEADLINE.toSeconds() + " s)");
            assertThat(stalled.out().trim()).isEqualTo("FSYNC EIO");
            assertThat(seconds).as("answered at the deadline, not when the backend answers")
                    .isLessThan(SYNC_DEADLINE.toSeconds() + 30);
            assertThat(fs.pendingPaths()).containsExactly("/d/new");
            backend.faults().stallUploads(false); // the stalled put goes on
            String again = Child.run(Duration.ofSeconds(60), "python3", "-c", FAILING, d).assertOk().out().trim();
            assertThat(again).isEqualTo("FSYNC OK");
            assertThat(backendDir.resolve("d").resolve("new")).hasContent("new");
        } finally {
            backend.faults().stallUploads(false);
            fs.close();
            backend.close();
            UploadCrashRecoveryTest.cleanupMount(mnt);
            new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
    }
}
