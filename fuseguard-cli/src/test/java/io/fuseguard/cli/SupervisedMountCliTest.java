package io.fuseguard.cli;

import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.PyClient;
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
 * {@code fuseguard mount ... --supervise} and {@code fuseguard restart} as an operator runs them: a worker killed
 * with SIGKILL is replaced while a client keeps a file open, a restart hands over without an error, SIGTERM
 * unmounts; memory refuses to be supervised and says why.
 */
class SupervisedMountCliTest {
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

    @Test
    void memoryRefusesSupervisionWithTheReason() throws Exception {
        Path mp = Files.createDirectory(tmp.resolve("mem"));
        Child.Result r = Child.run(Duration.ofSeconds(60), fuseguard("mount", "memory", mp.toString(), "--capacity",
                "16M", "--supervise"));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("cannot be supervised").contains("heap");
        assertThat(MountTable.load().findByMountPoint(mp)).isEmpty();
    }

    @Test
    void aKilledWorkerIsReplacedARestartHandsOverAndSigtermUnmounts() throws Exception {
        Path src = Files.createDirectory(tmp.resolve("src"));
        Path mp = Files.createDirectory(tmp.resolve("mnt"));
        Path pidFile = tmp.resolve("worker.pid");
        Process p = new ProcessBuilder(fuseguard("mount", "passthrough", mp.toString(), "--source",
                src.toString(), "--supervise", "--worker-pid-file", pidFile.toString()))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        BlockingQueue<String> log = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = err.readLine()) != null) {
                    System.out.println("[fuseguard] " + l);
                    log.add(l);
                }
            } catch (IOException e) {
                // gone
            }
        });
        reader.setDaemon(true);
        reader.start();
        long connection = -1;
        try (PyClient client = new PyClient()) {
            String line;
            do {
                line = log.poll(60, TimeUnit.SECONDS);
                assertThat(line).as("the supervisor says it supervises").isNotNull();
            } while (!line.contains("Supervising passthrough"));
            connection = MountTable.load().findByMountPoint(mp).orElseThrow().connectionId();
            int first = Integer.parseInt(Files.readString(pidFile).trim());
            assertThat(first).isNotEqualTo(p.pid());

            Duration limit = Duration.ofSeconds(30);
            client.call(limit, "open held " + mp.resolve("held") + " rwc").assertOk();
            client.call(limit, "write held before-").assertOk();

            new ProcessBuilder("kill", "-KILL", Integer.toString(first)).start().waitFor();
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                String s = Files.exists(pidFile) ? Files.readString(pidFile).trim() : "";
                return !s.isEmpty() && Integer.parseInt(s) != first;
            });
            client.call(limit, "write held after").assertOk();
            assertThat(Files.readString(src.resolve("held"))).isEqualTo("before-after");

            int second = Integer.parseInt(Files.readString(pidFile).trim());
            Child.Result restart = Child.run(Duration.ofSeconds(60), fuseguard("restart", mp.toString()));
            assertThat(restart.exit()).as(restart.err()).isZero();
            assertThat(restart.out()).startsWith("restarted " + mp + ": worker ").contains("took over after a pause");
            assertThat(Integer.parseInt(Files.readString(pidFile).trim())).isNotEqualTo(second);
            client.call(limit, "write held -again").assertOk();
            client.call(limit, "fsync held").assertOk();
            client.call(limit, "close held").assertOk();
            assertThat(Files.readString(src.resolve("held"))).isEqualTo("before-after-again");
            assertThat(MountTable.load().findByMountPoint(mp).orElseThrow().connectionId())
                    .as("one connection all along").isEqualTo(connection);

            new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("SIGTERM stops the supervisor").isTrue();
            assertThat(p.exitValue()).isZero();
            assertThat(MountTable.load().findByMountPoint(mp)).as("unmounted").isEmpty();
            assertThat(pidFile).as("the pid file is removed").doesNotExist();
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            Edges.forceUnmount(mp);
            if (connection >= 0) {
                Edges.abortIfAlive(connection);
            }
        }
    }

    @Test
    void restartOfAnUnsupervisedMountSaysWhy() throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(60), fuseguard("restart", tmp.toString()));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("is not a FUSE mount point");
    }
}
