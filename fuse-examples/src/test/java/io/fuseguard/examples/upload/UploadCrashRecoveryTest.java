package io.fuseguard.examples.upload;

import io.fuseguard.testkit.Child;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The crash drill: the daemon (a separate JVM) is SIGKILLed while an upload is in flight; a new daemon on the
 * same cache and backend finishes it from the journal. Nothing acknowledged is lost, mode, owner and mtime
 * included.
 */
class UploadCrashRecoveryTest {

    @Test
    void killMinus9MidUploadThenRemountCompletesTheUpload() throws Exception {
        FuseAvailability.assumeUsable();
        Path work = FuseTestSupport.newTempDir("upload-crash-", "rwx------");
        Path mnt = Files.createDirectories(work.resolve("mnt")).toRealPath();
        Path cache = work.resolve("cache");
        Path backendDir = work.resolve("backend");
        byte[] content = new byte[8 << 20];
        new Random(42).nextBytes(content);
        Path src = Files.write(work.resolve("src.bin"), content);
        String sha = sha256(content);

        Daemon first = null;
        Daemon second = null;
        try {
            String classpath = snapshotClasspath(work.resolve("cp"));
            first = Daemon.start(classpath, mnt, cache, backendDir, true, work.resolve("daemon1.log"));
            System.out.printf("daemon 1 (stalling backend) ready in %d ms, pid %d%n", first.readyMs, first.pid());
            Child.runOk("cp", src.toString(), mnt.resolve("big.bin").toString());
            Child.runOk("sh", "-c", "printf small > " + mnt.resolve("small.txt"));
            // metadata lives in the cache file: it must survive the kill too
            Child.runOk("chmod", "0640", mnt.resolve("small.txt").toString());
            Child.runOk("chown", "1234:5678", mnt.resolve("small.txt").toString());
            Child.runOk("touch", "-m", "-d", "2001-02-03 04:05:06 UTC", mnt.resolve("small.txt").toString());

            // the upload is in flight: its first chunk sits in the backend's incoming directory
            await().atMost(Duration.ofSeconds(10)).until(() -> count(backendDir.resolve(DirectoryBackend.INCOMING)) > 0);
            assertThat(backendDir.resolve("big.bin")).doesNotExist();
            assertThat(CachedUploadFs.journaledPaths(cache)).containsExactly("/big.bin", "/small.txt");

            long k0 = System.nanoTime();
            first.process.destroyForcibly(); // SIGKILL
            assertThat(first.process.waitFor(10, TimeUnit.SECONDS)).as("daemon 1 exits after SIGKILL").isTrue();
            System.out.printf("daemon 1 gone %d ms after SIGKILL (exit %d)%n",
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - k0), first.process.exitValue());
            boolean leftover = cleanupMount(mnt);
            System.out.println("mount entry left after SIGKILL: " + leftover + " (detached with umount -l)");
            assertThat(backendDir.resolve("big.bin")).doesNotExist();

            long r0 = System.nanoTime();
            second = Daemon.start(classpath, mnt, cache, backendDir, false, work.resolve("daemon2.log"));
            await().atMost(Duration.ofSeconds(60)).pollInterval(Duration.ofMillis(20))
                    .until(() -> Files.exists(backendDir.resolve("big.bin"))
                            && Files.exists(backendDir.resolve("small.txt")));
            long resumeMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - r0);
            System.out.printf("resume: backend has both files %d ms after starting daemon 2 "
                    + "(mount ready after %d ms)%n", resumeMs, second.readyMs);
            assertThat(sha256(Files.readAllBytes(backendDir.resolve("big.bin")))).isEqualTo(sha);
            assertThat(Files.readString(backendDir.resolve("small.txt"))).isEqualTo("small");
            await().atMost(Duration.ofSeconds(10)).until(() -> CachedUploadFs.journaledPaths(cache).isEmpty());
            assertThat(count(backendDir.resolve(DirectoryBackend.INCOMING))).isZero();
            // and the mount serves the same bytes
            assertThat(Child.runOk("sha256sum", mnt.resolve("big.bin").toString())).startsWith(sha);
            assertThat(Child.runOk("stat", "-c", "%a %u %g %Y", mnt.resolve("small.txt").toString()).trim())
                    .as("mode, owner, group and mtime after kill -9 and restart").isEqualTo("640 1234 5678 981173106");
        } finally {
            if (second != null) {
                second.stop();
            }
            if (first != null) {
                first.stop();
            }
            cleanupMount(mnt);
            new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** A daemon JVM running {@link UploadDaemonMain}. */
    static final class Daemon {
        final Process process;
        long readyMs;

        private Daemon(Process process) {
            this.process = process;
        }

        long pid() {
            return process.pid();
        }

        static Daemon start(String classpath, Path mnt, Path cache, Path backend, boolean stall, Path log)
                throws Exception {
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            List<String> cmd = new ArrayList<>(List.of(java, "-cp", classpath,
                    UploadDaemonMain.class.getName(), mnt.toString(), cache.toString(), backend.toString(),
                    Boolean.toString(stall)));
            long t0 = System.nanoTime();
            Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
            Daemon d = new Daemon(p);
            CompletableFuture<String> ready = new CompletableFuture<>();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        if (line.startsWith("READY")) {
                            ready.complete(line);
                        }
                    }
                    ready.completeExceptionally(new IOException("daemon exited before READY"));
                } catch (IOException e) {
                    ready.completeExceptionally(e);
                }
            }, "daemon-stdout-" + p.pid());
            reader.setDaemon(true);
            reader.start();
            try {
                ready.get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                d.stop();
                throw new AssertionError("daemon not ready: " + e + "\n" + Files.readString(log), e);
            }
            d.readyMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            return d;
        }

        /** SIGTERM (its shutdown hook unmounts), then SIGKILL if it does not exit. */
        void stop() throws InterruptedException {
            if (!process.isAlive()) {
                return;
            }
            process.destroy();
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    /**
     * The test classpath with its class directories copied to {@code dir}: both daemons must run the same
     * classes even if a build recompiles target/ meanwhile.
     */
    static String snapshotClasspath(Path dir) throws Exception {
        String mainClass = UploadDaemonMain.class.getName().replace('.', '/') + ".class";
        for (int attempt = 0; ; attempt++) {
            List<String> out = new ArrayList<>();
            boolean complete = false;
            int i = 0;
            for (String entry : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
                Path p = Path.of(entry);
                if (Files.isDirectory(p)) {
                    Path copy = dir.resolve(attempt + "-" + i++);
                    Files.createDirectories(copy);
                    Child.runOk("cp", "-a", p + "/.", copy.toString());
                    complete |= Files.exists(copy.resolve(mainClass));
                    out.add(copy.toString());
                } else {
                    out.add(entry);
                }
            }
            if (complete || attempt >= 5) {
                return String.join(java.io.File.pathSeparator, out);
            }
            Thread.sleep(2000); // a concurrent build is rewriting target/: wait for it
        }
    }

    /** Aborts and lazily detaches a mount left at {@code mnt}; returns whether there was one. */
    static boolean cleanupMount(Path mnt) throws Exception {
        boolean found = false;
        for (int i = 0; i < 5; i++) {
            Optional<MountEntry> e = MountTable.load().findByMountPoint(mnt.toAbsolutePath().normalize());
            if (e.isEmpty()) {
                return found;
            }
            found = true;
            FuseControl.ensureMounted();
            FuseControl control = new FuseControl();
            if (control.exists(e.get().connectionId())) {
                control.abort(e.get().connectionId());
            }
            new ProcessBuilder("umount", "-l", mnt.toString()).inheritIO().start().waitFor(10, TimeUnit.SECONDS);
        }
        return found;
    }

    static long count(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.getFileName().toString().endsWith(".tmp")).count();
        }
    }


    static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }
}
