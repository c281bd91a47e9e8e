package io.fuseguard.supervise;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.mount.MountEnd;
import io.fuseguard.mount.Supervisor;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A supervised mount survives its worker: killed with SIGKILL again and again while clients write, fsync and read
 * through descriptors opened before the kills and through new opens, it costs them a pause and not one error,
 * and every acknowledged byte is there; a planned handover under load likewise.
 */
@SuppressWarnings("unchecked")
class SupervisedRestartTest {
    private static final double SECONDS = 12;
    private static final int CLIENTS = 3;
    private Supervisor supervisor;
    private Path mp;
    private Path source;
    private Path controlDir;

    @BeforeEach
    void start() throws Exception {
        Edges.assumeFuseAndRoot();
        mp = Edges.newDir("supervised-");
        source = Edges.newDir("supervised-src-");
        List<String> worker = Edges.java(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-XX:+ExitOnOutOfMemoryError"), PassthroughWorker.class, source.toString(), mp.toString());
        controlDir = Files.createTempDirectory(Path.of("/tmp"), "fg-"); // a Unix socket path is short
        supervisor = Supervisor.start(mp, FuseguardConfig.builder().fsName("supervised").shutdownHook(false).build(),
                new Supervisor.Options(worker, true, Edges.newDir("pid-").resolve("worker.pid"), controlDir));
    }

    @AfterEach
    void stop() {
        if (supervisor != null) {
            supervisor.close();
        }
        Edges.forceUnmount(mp);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private static Map<String, String> counts(String line) {
        Map<String, String> m = new HashMap<>();
        for (String kv : line.trim().split(" ")) {
            int eq = kv.indexOf('=');
            if (eq > 0) {
                m.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        return m;
    }

    private List<CompletableFuture<Child.Result>> clients() {
        List<CompletableFuture<Child.Result>> runs = new ArrayList<>();
        for (int i = 0; i < CLIENTS; i++) {
            String id = Integer.toString(i);
            runs.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return Child.run(Duration.ofSeconds((long) SECONDS + 60), Edges.python(),
                            Edges.resource("durable_client.py").toString(), mp.toString(), Double.toString(SECONDS),
                            id).assertOk();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }));
        }
        return runs;
    }

    private void assertClients(List<CompletableFuture<Child.Result>> runs) throws Exception {
        for (int i = 0; i < runs.size(); i++) {
            Child.Result r = runs.get(i).get();
            Map<String, String> c = counts(r.out());
            System.out.println("client " + i + ": " + c + (r.err().isBlank() ? "" : " " + r.err().trim()));
            assertThat(c.get("errors")).as("client %d saw no error (first: %s)", i, c.get("first")).isEqualTo("0");
            assertThat(c.get("badreads")).isEqualTo("0");
            int blocks = Integer.parseInt(c.get("blocks"));
            assertThat(blocks).isPositive();
            byte[] data = Files.readAllBytes(source.resolve("held-" + i));
            assertThat(data.length).as("client %d: every acknowledged block in the file", i)
                    .isGreaterThanOrEqualTo(blocks * 4096);
        }
    }

    /**
     * Once every client closed its files and the kernel forgot its inodes: the last worker knows only the root
     * node, has no open handle and no backing file open, and the kernel matched every answer of every worker
     * since its start to a waiting request (none answered twice).
     */
    private void assertNothingLeaked() throws Exception {
        Map<String, String>[] last = new Map[1];
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(500))
                .until(() -> {
                    Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "2"); // the kernel sends its FORGETs
                    last[0] = counts(supervisor.workerStatus(Duration.ofSeconds(5)).orElse(""));
                    return "1".equals(last[0].get("nodes")) && "0".equals(last[0].get("handles"))
                            && "0".equals(last[0].get("closework"));
                });
        System.out.println("last worker after the clients: " + last[0]);
        assertThat(last[0].get("unmatched")).as("answers the kernel matched to no request").isEqualTo("0");
        List<String> open = new ArrayList<>();
        try (var fds = Files.list(Path.of("/proc", Integer.toString(supervisor.workerPid()), "fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    Path target = Files.readSymbolicLink(fd);
                    if (target.startsWith(source) && !target.equals(source)) { // the root stays open
                        open.add(target.toString());
                    }
                } catch (java.io.IOException e) {
                    // closed meanwhile
                }
            }
        }
        assertThat(open).as("backing files the last worker still holds").isEmpty();
    }

    @Test
    void aWorkerKilledAgainAndAgainCostsClientsAPauseAndNoError() throws Exception {
        List<CompletableFuture<Child.Result>> runs = clients();
        int kills = 0;
        long end = System.nanoTime() + (long) ((SECONDS - 2) * 1e9);
        Thread.sleep(1500);
        while (System.nanoTime() < end) {
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30)).until(supervisor::standbyReady);
            int pid = supervisor.workerPid();
            if (pid > 0 && ProcessHandle.of(pid).map(ProcessHandle::destroyForcibly).orElse(false)) {
                kills++; // SIGKILL
            }
            Thread.sleep(1500);
        }
        assertClients(runs);
        System.out.printf("%d worker kills under load: pauses %s, restarts %d%n", kills, supervisor.pauses(),
                supervisor.restarts());
        assertThat(kills).isGreaterThanOrEqualTo(3);
        assertThat(supervisor.restarts()).isGreaterThanOrEqualTo(kills);
        assertNothingLeaked();
    }

    /**
     * The worker and its standby killed together (an OOM kill of the container's JVMs, a pkill java), then the
     * filesystem unable to start for a while (its source directory moved away): the supervisor keeps starting
     * workers, with growing pauses, and the mount is served again once the source is back; a client's read that
     * waited meanwhile succeeds.
     */
    @Test
    void noWorkerLeftAndNoneCanStartForAWhileThenTheMountIsServedAgain() throws Exception {
        Files.writeString(source.resolve("f"), "still here");
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60)).until(supervisor::standbyReady);
        Path away = source.resolveSibling(source.getFileName() + "-away");
        Files.move(source, away);
        int worker = supervisor.workerPid();
        int standby = supervisor.standbyPid();
        ProcessHandle.of(worker).ifPresent(ProcessHandle::destroyForcibly);
        ProcessHandle.of(standby).ifPresent(ProcessHandle::destroyForcibly);
        long t0 = System.nanoTime();
        CompletableFuture<Child.Result> reader = CompletableFuture.supplyAsync(() -> {
            try {
                return Child.run(Duration.ofSeconds(90), "cat", mp.resolve("f").toString());
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        Thread.sleep(3000); // workers fail to start meanwhile (no source), and are retried
        assertThat(reader).as("the reader waits, it does not fail").isNotDone();
        Files.move(away, source);
        Child.Result r = reader.get(90, java.util.concurrent.TimeUnit.SECONDS);
        System.out.printf("worker and standby killed, source away for 3 s: the reader got its answer after %d ms%n",
                Edges.ms(t0));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).isEqualTo("still here");
        // the worker answers requests a moment before its "took over" message reaches the supervisor
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10))
                .until(() -> !java.util.Set.of(0, worker, standby).contains(supervisor.workerPid()));
    }

    /**
     * PassthroughFs backs its opens where the kernel allows it, but the kernel's backing ids belong to the
     * connection and a new worker would not know them: a file held open across a worker's death must open again
     * (the kernel refuses a second backing file for an inode that has one), read and be read through the old
     * descriptor.
     */
    @Test
    void aFileHeldOpenAcrossAWorkersDeathOpensAgain() throws Exception {
        Files.writeString(source.resolve("shared"), "shared content");
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60)).until(supervisor::standbyReady);
        Process holder = Child.start(Edges.python(), "-c", """
                import sys, time
                f = open(sys.argv[1], "rb")
                print(f.read().decode(), flush=True)
                time.sleep(6)
                f.seek(0)
                print(f.read().decode(), flush=True)
                """, mp.resolve("shared").toString());
        try {
            java.io.BufferedReader out = new java.io.BufferedReader(
                    new java.io.InputStreamReader(holder.getInputStream()));
            assertThat(out.readLine()).isEqualTo("shared content");
            int worker = supervisor.workerPid();
            ProcessHandle.of(worker).ifPresent(ProcessHandle::destroyForcibly);
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(30))
                    .until(() -> supervisor.workerPid() != worker && supervisor.workerPid() > 0);
            Child.Result again = Child.run(Duration.ofSeconds(30), "cat", mp.resolve("shared").toString());
            assertThat(again.exit()).as("open again after the worker's death: %s", again.err()).isZero();
            assertThat(again.out()).isEqualTo("shared content");
            assertThat(out.readLine()).as("read through the descriptor held across the death")
                    .isEqualTo("shared content");
            assertThat(holder.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            assertThat(holder.exitValue()).isZero();
        } finally {
            holder.destroyForcibly();
        }
    }

    /**
     * An abort from outside (fusectl, as fuseguard abort and the node guard do) ends a connection no worker can
     * serve again: supervision ends (no standby is sent onto it, no respawn loop), the dead mount is unmounted.
     */
    @Test
    void anAbortFromOutsideEndsSupervisionInsteadOfRespawningWorkers() throws Exception {
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60)).until(supervisor::standbyReady);
        long id = supervisor.connectionId();
        new FuseControl().abort(id);
        assertEnded(MountEnd.ABORTED);
        assertThat(Edges.mountAt(mp)).as("the dead mount is unmounted").isEmpty();
        Edges.assertConnectionEnded(id);
    }

    /** The worker dies without a word (stopped, then SIGKILLed) after the abort: the supervisor sees it itself. */
    @Test
    void anAbortIsSeenOnTheConnectionWhenTheWorkerCannotTell() throws Exception {
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60)).until(supervisor::standbyReady);
        int worker = supervisor.workerPid();
        Child.runOk("kill", "-STOP", Integer.toString(worker));
        new FuseControl().abort(supervisor.connectionId());
        Child.runOk("kill", "-KILL", Integer.toString(worker));
        assertEnded(MountEnd.ABORTED);
    }

    @Test
    void anUnmountFromOutsideEndsSupervision() throws Exception {
        org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(60)).until(supervisor::standbyReady);
        Child.runOk("umount", mp.toString());
        assertEnded(MountEnd.UNMOUNTED);
    }

    private void assertEnded(MountEnd how) throws Exception {
        CompletableFuture<Void> end = CompletableFuture.runAsync(() -> {
            try {
                supervisor.awaitEnd();
            } catch (InterruptedException e) {
                throw new RuntimeException(e);
            }
        });
        end.get(20, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(supervisor.end()).contains(how);
        assertThat(supervisor.restarts()).as("no worker sent onto the ended connection").isZero();
        assertThat(supervisor.workerPid()).isZero();
        assertThat(supervisor.standbyPid()).isZero();
    }

    @Test
    void aPlannedHandoverUnderLoadCostsNoError() throws Exception {
        List<CompletableFuture<Child.Result>> runs = clients();
        Thread.sleep(2000);
        Duration first = supervisor.restart();
        Thread.sleep(2000);
        String answer = Supervisor.requestRestart(controlDir, supervisor.connectionId()); // fuseguard restart's way
        assertClients(runs);
        System.out.printf("planned handovers under load: %s, then %s%n", first, answer);
        assertThat(answer).startsWith("RESTARTED ");
        assertThat(supervisor.restarts()).isEqualTo(2);
        assertNothingLeaked();
    }
}
