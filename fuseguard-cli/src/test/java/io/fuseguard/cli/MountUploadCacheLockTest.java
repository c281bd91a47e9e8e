package io.fuseguard.cli;

import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * One cache, one daemon (review of issue 17, finding 1): a second {@code fuseguard mount upload} on a cache in
 * use exits with code 2 and one line naming the first daemon's pid (it used to mount, rewrite the first one's
 * journal, and the first one's acknowledged files were never uploaded); a supervised mount's next worker takes
 * the cache over when the active one is killed with SIGKILL, and when {@code fuseguard restart} hands over.
 */
class MountUploadCacheLockTest {
    @TempDir
    Path tmp;

    @BeforeEach
    void needsFuse() {
        FuseAvailability.assumeUsable();
        Edges.assumeFuseAndRoot();
    }

    private static List<String> fuseguard(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                FuseguardCommand.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Starts a daemon whose stderr lines go to {@code log} (and to this test's output). */
    private static Process start(List<String> cmd, BlockingQueue<String> log) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        Thread reader = new Thread(() -> {
            try (BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = err.readLine()) != null) {
                    System.out.println("[fuseguard " + p.pid() + "] " + l);
                    log.add(l);
                }
            } catch (IOException e) {
                // gone
            }
        });
        reader.setDaemon(true);
        reader.start();
        return p;
    }

    private static void awaitLine(BlockingQueue<String> log, String part) throws InterruptedException {
        String line;
        do {
            line = log.poll(60, TimeUnit.SECONDS);
            assertThat(line).as("a line with '%s'", part).isNotNull();
        } while (!line.contains(part));
    }

    private static void stop(Process p, Path... mountPoints) throws Exception {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
        for (Path m : mountPoints) {
            MountTable.load().findByMountPoint(m).ifPresent(e -> Edges.abortIfAlive(e.connectionId()));
            Edges.forceUnmount(m);
        }
    }

    @Test
    void aSecondDaemonOnTheSameCacheExitsWithCode2AndNamesTheFirst() throws Exception {
        Path mnt1 = Files.createDirectory(tmp.resolve("mnt1"));
        Path mnt2 = Files.createDirectory(tmp.resolve("mnt2"));
        Path cache = tmp.resolve("cache");
        Path backend = Files.createDirectory(tmp.resolve("backend"));
        BlockingQueue<String> log = new LinkedBlockingQueue<>();
        Process first = start(fuseguard("mount", "upload", mnt1.toString(), "--cache", cache.toString(),
                "--backend", backend.toString(), "--backend-stall"), log);
        try {
            awaitLine(log, "Serving upload");
            Child.Result second = Child.run(Duration.ofSeconds(60), fuseguard("mount", "upload", mnt2.toString(),
                    "--cache", cache.toString(), "--backend", backend.toString()));
            assertThat(second.exit()).as(second.err()).isEqualTo(2);
            assertThat(second.err()).contains("fuseguard: the cache " + cache + " is in use by process "
                    + first.pid() + " (");
            assertThat(second.err().lines().filter(l -> l.startsWith("fuseguard: ")).count()).isEqualTo(1);
            assertThat(MountTable.load().findByMountPoint(mnt2)).as("nothing mounted").isEmpty();
            // the first daemon goes on, its journal untouched
            Files.writeString(mnt1.resolve("acked.txt"), "acked");
            await().atMost(Duration.ofSeconds(10)).until(() -> Files.exists(cache.resolve("data/acked.txt")));
            new ProcessBuilder("kill", "-TERM", Long.toString(first.pid())).start().waitFor();
            assertThat(first.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(log).anySatisfy(l -> assertThat(l).contains("still pending at shutdown").contains("/acked.txt"));
        } finally {
            stop(first, mnt1, mnt2);
        }
    }

    @Test
    void aSupervisedMountsNextWorkerTakesTheCacheOverAfterAKillAndARestart() throws Exception {
        Path mp = Files.createDirectory(tmp.resolve("mnt"));
        Path cache = tmp.resolve("cache");
        Path backend = Files.createDirectory(tmp.resolve("backend"));
        Path pidFile = tmp.resolve("worker.pid");
        BlockingQueue<String> log = new LinkedBlockingQueue<>();
        // uploads take 2 s: the files written are still pending when the worker is killed
        Process p = start(fuseguard("mount", "upload", mp.toString(), "--cache", cache.toString(), "--backend",
                backend.toString(), "--backend-latency", "2s", "--supervise", "--worker-pid-file",
                pidFile.toString()), log);
        try {
            awaitLine(log, "Supervising upload");
            int first = Integer.parseInt(Files.readString(pidFile).trim());
            for (int i = 1; i <= 5; i++) {
                Files.writeString(mp.resolve("s" + i), "acked " + i);
            }
            new ProcessBuilder("kill", "-KILL", Integer.toString(first)).start().waitFor();
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                String s = Files.exists(pidFile) ? Files.readString(pidFile).trim() : "";
                return !s.isEmpty() && Integer.parseInt(s) != first;
            });
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                for (int i = 1; i <= 5; i++) {
                    Path f = backend.resolve("s" + i);
                    if (!Files.exists(f) || !Files.readString(f).equals("acked " + i)) {
                        return false;
                    }
                }
                return true;
            });
            Child.Result restart = Child.run(Duration.ofSeconds(60), fuseguard("restart", mp.toString()));
            assertThat(restart.exit()).as(restart.err()).isZero();
            Files.writeString(mp.resolve("after-restart"), "after");
            await().atMost(Duration.ofSeconds(30)).until(() -> Files.exists(backend.resolve("after-restart")));
            assertThat(log).noneSatisfy(l -> assertThat(l).contains("is in use by"));
            new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("SIGTERM stops the supervisor").isTrue();
            assertThat(MountTable.load().findByMountPoint(mp)).as("unmounted").isEmpty();
        } finally {
            stop(p, mp);
        }
    }
}
