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
        BlockingQueue<String> log = followStderr(p, "fuseguard", null);
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

    /**
     * Copies a daemon's stderr to the test's output, tagged, on a daemon thread: returns the lines as they come
     * (also added to {@code keep} when given).
     */
    private static BlockingQueue<String> followStderr(Process p, String tag, List<String> keep) {
        BlockingQueue<String> log = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = err.readLine()) != null) {
                    System.out.println("[" + tag + "] " + l);
                    if (keep != null) {
                        keep.add(l);
                    }
                    log.add(l);
                }
            } catch (IOException e) {
                // gone
            }
        });
        reader.setDaemon(true);
        reader.start();
        return log;
    }

    /** A {@code fuseguard mount passthrough} run by a test: its process, its log lines, its mount point. */
    private final class Daemon implements AutoCloseable {
        final Process p;
        final Path mp;
        final List<String> lines = new java.util.concurrent.CopyOnWriteArrayList<>();
        final long connection;

        Daemon(String name, boolean supervise) throws Exception {
            Path src = Files.createDirectories(tmp.resolve(name + "-src"));
            mp = Files.createDirectory(tmp.resolve(name));
            List<String> args = new ArrayList<>(List.of("mount", "passthrough", mp.toString(), "--source",
                    src.toString()));
            if (supervise) {
                args.add("--supervise");
            }
            p = new ProcessBuilder(fuseguard(args.toArray(String[]::new)))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            BlockingQueue<String> log = followStderr(p, "fuseguard " + name, lines);
            String ready = supervise ? "Supervising passthrough" : "Serving passthrough";
            String line;
            do {
                line = log.poll(60, TimeUnit.SECONDS);
                if (line == null) {
                    close();
                    throw new AssertionError("fuseguard mount did not say '" + ready + "' within 60 s");
                }
            } while (!line.contains(ready));
            connection = MountTable.load().findByMountPoint(mp).orElseThrow().connectionId();
        }

        /** Waits for the daemon's exit (at most {@code seconds}): its exit code. */
        int exit(int seconds) throws InterruptedException {
            assertThat(p.waitFor(seconds, TimeUnit.SECONDS)).as("the daemon exits by itself within %d s; its log: %s",
                    seconds, lines).isTrue();
            return p.exitValue();
        }

        long count(String text) {
            return lines.stream().filter(l -> l.contains(text)).count();
        }

        @Override
        public void close() throws Exception {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            Edges.forceUnmount(mp);
            Edges.abortIfAlive(connection);
        }
    }

    /**
     * A supervised connection aborted from outside (fusectl, as fuseguard abort and the node guard do) cannot be
     * served by any worker: the supervisor must not respawn workers onto it forever but exit 1 (so that systemd's
     * Restart=on-failure mounts it again), with one line saying why, and leave no dead mount behind.
     */
    @Test
    void anAbortedSupervisedMountEndsItsSupervisorWithExit1() throws Exception {
        try (Daemon d = new Daemon("aborted", true)) {
            Files.writeString(Path.of("/sys/fs/fuse/connections", Long.toString(d.connection), "abort"), "1");
            assertThat(d.exit(20)).isEqualTo(1);
            assertThat(d.count("was aborted from outside")).as("one line in the supervisor, one in the worker")
                    .isEqualTo(2);
            assertThat(d.count("took over")).as("no worker took over the dead connection").isZero();
            assertThat(MountTable.load().findByMountPoint(d.mp)).as("the dead mount is unmounted").isEmpty();
        }
    }

    /** Unmounted from outside: supervision ends, exit 0 (as an unsupervised daemon's), no respawned worker. */
    @Test
    void aSupervisedMountUnmountedFromOutsideEndsItsSupervisorWithExit0() throws Exception {
        try (Daemon d = new Daemon("unmounted", true)) {
            Child.runOk("umount", d.mp.toString());
            assertThat(d.exit(20)).isZero();
            assertThat(d.count("was unmounted from outside")).isEqualTo(2);
            assertThat(d.count("took over")).isZero();
        }
    }

    /** The same without --supervise: 1 after an abort (a service manager restarts it), 0 after an unmount. */
    @Test
    void anUnsupervisedDaemonExits1AfterAnAbortAnd0AfterAnUnmount() throws Exception {
        try (Daemon d = new Daemon("plain-aborted", false)) {
            Files.writeString(Path.of("/sys/fs/fuse/connections", Long.toString(d.connection), "abort"), "1");
            assertThat(d.exit(20)).isEqualTo(1);
            assertThat(d.count("was aborted from outside")).isEqualTo(1);
            assertThat(MountTable.load().findByMountPoint(d.mp)).as("the dead mount is unmounted").isEmpty();
        }
        try (Daemon d = new Daemon("plain-unmounted", false)) {
            Child.runOk("umount", d.mp.toString());
            assertThat(d.exit(20)).isZero();
            assertThat(d.count("was unmounted from outside")).isEqualTo(1);
        }
    }

    /** A supervisor that does not answer (SIGSTOP): fuseguard restart gives up after --timeout, exit 1, says so. */
    @Test
    void restartOfAStoppedSupervisorGivesUpAfterItsTimeout() throws Exception {
        try (Daemon d = new Daemon("stopped", true)) {
            Child.runOk("kill", "-STOP", Long.toString(d.p.pid()));
            Child.Result r;
            try {
                r = Child.run(Duration.ofSeconds(60), fuseguard("restart", d.mp.toString(), "--timeout", "2s"));
            } finally {
                Child.runOk("kill", "-CONT", Long.toString(d.p.pid()));
            }
            assertThat(r.timedOut()).isFalse();
            assertThat(r.exit()).as(r.err()).isEqualTo(1);
            assertThat(r.err()).contains("did not answer within 2s");
            // resumed, it finds the request in its socket and carries it out, as the message warns
            await().atMost(Duration.ofSeconds(30)).until(() -> d.count("handed over from worker") == 1);
            Child.runOk("kill", "-TERM", Long.toString(d.p.pid()));
            assertThat(d.exit(30)).isZero();
        }
    }

    @Test
    void restartOfAnUnsupervisedMountSaysWhy() throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(60), fuseguard("restart", tmp.toString()));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("is not a FUSE mount point");
    }
}
