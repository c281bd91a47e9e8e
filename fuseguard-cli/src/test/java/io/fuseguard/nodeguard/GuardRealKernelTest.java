package io.fuseguard.nodeguard;

import static io.fuseguard.nodeguard.GuardFixture.awaitTrue;
import static io.fuseguard.nodeguard.GuardFixture.metric;
import static io.fuseguard.nodeguard.GuardFixture.waiting;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.StreamSupport;

import com.fasterxml.jackson.databind.JsonNode;
import io.fuseguard.cli.FuseguardCommand;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.testkit.FuseTestSupport;
import io.fuseguard.kernel.Tasks;
import io.fuseguard.testkit.Child;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The node guard against the real kernel: real daemons wedged on purpose, the guard as a separate process
 * ({@code fuseguard guard}), always scoped to this test's mounts ({@code --under}) or pid namespace
 * ({@code --pidns}), so that it never acts on anybody else's connection on a shared machine.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class GuardRealKernelTest {

    @BeforeEach
    void needsFuseAndRoot() throws Exception {
        FuseTestSupport.assumeFuseUsable();
        boolean root = (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
        if (!root) {
            if (io.fuseguard.junit.FuseAvailability.required()) {
                throw new AssertionError("FUSEGUARD_REQUIRE_FUSE=true but not root: the guard tests abort connections (fusectl)");
            }
            org.junit.jupiter.api.Assumptions.abort("skipped: the guard tests need root (fusectl abort)");
        }
        java.util.Optional<String> view = ProcView.hostProblem(Path.of("/proc"));
        if (view.isPresent()) {
            // the guard refuses to start there (it could not see every daemon)
            if (io.fuseguard.junit.FuseAvailability.required()) {
                throw new AssertionError("FUSEGUARD_REQUIRE_FUSE=true but the tests do not run in the host's pid"
                        + " namespace: " + view.get());
            }
            org.junit.jupiter.api.Assumptions.abort("skipped: the guard tests need the host's pid namespace: "
                    + view.get());
        }
    }

    private static boolean connection(JsonNode j, long id) {
        return j.path("type").asText().equals("decision") && j.path("connection").asLong() == id;
    }

    private static List<JsonNode> list(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).toList();
    }

    @Test
    void thirdPartyWedgeIsAbortedWithinIntervalPlusGraceWithTheEvidence() throws Exception {
        try (GuardFixture fx = new GuardFixture("guard-wedge")) {
            Path mp = fx.mountPoint("mnt");
            GuardFixture.Daemon d = fx.startPlain(mp, "hold");
            GuardFixture.Guard g = fx.startGuard("--interval", "200ms", "--grace", "1s", "--under",
                    fx.dir.toString(), "--metrics-port", "0", "--metrics-bind", "127.0.0.1");
            g.await(j -> connection(j, d.connection()) && j.path("verdict").asText().equals("idle"),
                    Duration.ofSeconds(30));

            long t0 = System.nanoTime();
            d.process().destroyForcibly(); // SIGKILL: the daemon dies holding a file on its own mount
            GuardFixture.Guard.Line aborted = g.await(j -> connection(j, d.connection())
                    && j.path("action").asText().equals("aborted"), Duration.ofSeconds(20));
            long abortMs = TimeUnit.NANOSECONDS.toMillis(aborted.nanos() - t0);
            assertThat(d.process().waitFor(10, TimeUnit.SECONDS)).as("the daemon finished exiting").isTrue();
            long goneMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            System.out.printf("guard: kill -9 -> abort line %d ms, daemon gone %d ms (interval 200 ms + grace 1000 ms)%n",
                    abortMs, goneMs);
            assertThat(goneMs).as("within interval + grace (+ scan and JVM slack)").isLessThan(200 + 1000 + 1500);

            JsonNode j = aborted.json();
            assertThat(j.path("verdict").asText()).isEqualTo("wedged");
            assertThat(j.path("mountPoint").asText()).isEqualTo(mp.toString());
            assertThat(j.path("waiting").asInt()).isGreaterThanOrEqualTo(1);
            JsonNode daemon = list(j.path("daemons")).stream().filter(x -> x.path("pid").asInt() == d.pid())
                    .findFirst().orElseThrow(() -> new AssertionError("daemon pid missing: " + j));
            assertThat(daemon.path("source").asText()).isEqualTo("earlier-scan");
            assertThat(daemon.path("liveness").asText()).isIn("zombie", "exiting", "gone");
            JsonNode task = list(j.path("blockedTasks")).stream().filter(x -> x.path("pid").asInt() == d.pid())
                    .findFirst().orElseThrow(() -> new AssertionError("blocked daemon thread missing: " + j));
            assertThat(task.path("exiting").asBoolean()).isTrue();
            assertThat(task.path("wchan").asText() + list(task.path("stack"))).contains("request_wait_answer");
            if (task.path("kernelWait").asText().equals("stack")) {
                assertThat(list(task.path("stack")).stream().map(JsonNode::asText).toList())
                        .contains("fuse_flush", "do_exit");
            }
            assertThat(list(j.path("released")).stream().map(x -> x.path("tid").asInt()).toList())
                    .contains(task.path("tid").asInt());
            awaitTrue("no request waits any more", Duration.ofSeconds(5),
                    () -> new FuseControl().waiting(d.connection()).orElse(0) == 0);

            String metrics = g.scrape();
            assertThat(metric(metrics, "fuseguard_guard_aborted_total")).isEqualTo(1.0);
            assertThat(metric(metrics, "fuseguard_guard_tasks_released_total")).isGreaterThanOrEqualTo(1.0);
            assertThat(metrics).contains("fuseguard_guard_wedged_total{rule=\"no-live-reader\"} 1.0");
            assertThat(metric(metrics, "fuseguard_guard_scans_total")).isGreaterThan(2.0);
            assertThat(metric(metrics, "fuseguard_guard_connections_seen_total")).isEqualTo(1.0);
            assertThat(metrics).contains("fuseguard_guard_scan_duration_seconds_count");
            assertThat(g.healthz()).isEqualTo(200);
            assertThat(g.stop()).as("SIGTERM ends the guard cleanly, exit 0").isZero();
            assertThat(g.stderr()).doesNotContain("NOT JSON");
        }
    }

    @Test
    void fdLeakedToALiveChildIsLeftAloneByDefaultAndAbortedOnlyByTheOptInRule() throws Exception {
        try (GuardFixture fx = new GuardFixture("guard-leak")) {
            Path mp = fx.mountPoint("mnt");
            GuardFixture.Daemon d = fx.startLeak(mp);
            int child = Integer.parseInt(d.ready().split(" ")[2]);
            d.process().destroyForcibly();
            assertThat(d.process().waitFor(10, TimeUnit.SECONDS)).as("the daemon itself exits").isTrue();
            List<Process> clients = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                clients.add(fx.start(List.of("timeout", "60", "stat", mp.resolve("new-" + i).toString()), "client"));
            }
            // Lookups in one directory are serialized by the kernel (libfuse 2 does not ask for parallel dirops):
            // one request waits, the other clients wait for it.
            awaitTrue("requests waiting, clients blocked", Duration.ofSeconds(10), () -> waiting(d.connection()) >= 1
                    && clients.stream().allMatch(c -> c.children().anyMatch(s ->
                    GuardFixture.stuckInFuse((int) s.pid()))));
            Thread.sleep(500);
            assertThat(clients).allMatch(Process::isAlive);

            // Default rules: the child holds the connection's /dev/fuse and is alive: not provably wedged.
            Child.Result once = GuardFixture.guardOnce("--once", "--under", fx.dir.toString(), "--grace", "300ms");
            assertThat(once.exit()).as(once.err()).isZero();
            JsonNode j = GuardFixture.jsonLines(once.out()).get(0);
            assertThat(j.path("verdict").asText()).isEqualTo("served");
            assertThat(j.path("action").asText()).isEqualTo("none");
            JsonNode holder = list(j.path("daemons")).stream().filter(x -> x.path("pid").asInt() == child)
                    .findFirst().orElseThrow(() -> new AssertionError("the child is not named: " + j));
            assertThat(holder.path("comm").asText()).isEqualTo("sleep");
            assertThat(holder.path("liveness").asText()).isEqualTo("live");
            assertThat(holder.path("attachedPerFdinfo").asBoolean()).isTrue();
            assertThat(waiting(d.connection())).isGreaterThanOrEqualTo(1);
            assertThat(clients).allMatch(Process::isAlive);

            // The opt-in rule: the child makes no system call at all, the clients stay blocked: aborted.
            long t0 = System.nanoTime();
            GuardFixture.Guard g = fx.startGuard("--interval", "200ms", "--stuck-limit", "2s", "--under",
                    fx.dir.toString());
            GuardFixture.Guard.Line aborted = g.await(x -> connection(x, d.connection())
                    && x.path("action").asText().equals("aborted"), Duration.ofSeconds(30));
            assertThat(aborted.json().path("verdict").asText()).isEqualTo("stuck");
            assertThat(aborted.json().path("reason").asText()).contains("stuck rule");
            for (Process c : clients) {
                assertThat(c.waitFor(10, TimeUnit.SECONDS)).as("client released").isTrue();
                assertThat(c.exitValue()).as("the client's stat failed (connection aborted)").isNotZero();
            }
            System.out.printf("guard: stuck rule (limit 2 s) aborted the leaked connection %d ms after the guard"
                    + " started%n", TimeUnit.NANOSECONDS.toMillis(aborted.nanos() - t0));
            assertThat(g.stop()).as("SIGTERM ends the guard cleanly, exit 0").isZero();
        }
    }

    @Test
    void healthyBusyMountIsNeverAbortedAtA100msInterval() throws Exception {
        try (GuardFixture fx = new GuardFixture("guard-load")) {
            Path mp = fx.mountPoint("mnt");
            Process mount = fx.start(GuardFixture.java(FuseguardCommand.class.getName(), "mount", "memory",
                    mp.toString(), "--capacity", "64M"), "mount");
            long conn = fx.awaitConnection(mp, (int) mount.pid());
            GuardFixture.Guard g = fx.startGuard("--interval", "100ms", "--under", fx.dir.toString(),
                    "--metrics-port", "0", "--metrics-bind", "127.0.0.1");
            g.await(j -> connection(j, conn), Duration.ofSeconds(30));
            double scansBefore = metric(g.scrape(), "fuseguard_guard_scans_total");
            long cpu0 = GuardFixture.cpuTicks((int) g.process.pid());
            long t0 = System.nanoTime();
            int seconds = 30;
            List<Process> clients = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                String f = mp.resolve("f" + i).toString();
                String script = "end=$(( $(date +%s) + " + seconds + " )); n=0; while [ $(date +%s) -lt $end ]; do "
                        + "dd if=/dev/zero of=" + f + " bs=64k count=16 2>/dev/null || exit 11; "
                        + "cat " + f + " > /dev/null || exit 12; ls " + mp + " > /dev/null || exit 13; "
                        + "stat " + f + " > /dev/null || exit 14; rm " + f + " || exit 15; n=$((n+1)); done; echo $n";
                clients.add(new ProcessBuilder("sh", "-c", script).redirectErrorStream(true).start());
            }
            int ops = 0;
            for (Process c : clients) {
                assertThat(c.waitFor(seconds + 30, TimeUnit.SECONDS)).isTrue();
                String out = new String(c.getInputStream().readAllBytes()).trim();
                assertThat(c.exitValue()).as("client error, output: " + out).isZero();
                ops += Integer.parseInt(out.lines().reduce((a, b) -> b).orElse("0"));
            }
            long wallMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            long cpuMs = (GuardFixture.cpuTicks((int) g.process.pid()) - cpu0) * 10; // USER_HZ = 100
            String metrics = g.scrape();
            double scans = metric(metrics, "fuseguard_guard_scans_total") - scansBefore;
            System.out.printf("guard under load: %d client loops in %d ms, %.0f scans, guard CPU %d ms (%.1f%% of one"
                    + " core), scan mean %.2f ms%n", ops, wallMs, scans, cpuMs, 100.0 * cpuMs / wallMs,
                    1000 * metric(metrics, "fuseguard_guard_scan_duration_seconds_sum")
                            / metric(metrics, "fuseguard_guard_scan_duration_seconds_count"));
            assertThat(ops).isPositive();
            assertThat(scans).as("about one scan per 100 ms").isGreaterThan(wallMs / 100.0 * 0.6);
            assertThat(metric(metrics, "fuseguard_guard_aborted_total")).isZero();
            assertThat(metric(metrics, "fuseguard_guard_would_abort_total")).isZero();
            assertThat(g.lines).noneMatch(l -> !l.json().path("action").asText().equals("none"));
            assertThat(g.lines).allMatch(l -> List.of("idle", "served").contains(l.json().path("verdict").asText()));
            assertThat(mount.isAlive()).isTrue();
            assertThat(new FuseControl().exists(conn)).isTrue();
            assertThat(g.stop()).as("SIGTERM ends the guard cleanly, exit 0").isZero();
            new ProcessBuilder("kill", "-TERM", Long.toString(mount.pid())).start().waitFor();
            assertThat(mount.waitFor(20, TimeUnit.SECONDS)).isTrue();
        }
    }

    @Test
    void dryRunChangesNothingAndOncePidnsTouchesOnlyThatNamespace() throws Exception {
        try (GuardFixture fx = new GuardFixture("guard-ns")) {
            // B: wedged in the host pid namespace.
            Path mpB = fx.mountPoint("b");
            GuardFixture.Daemon b = fx.startPlain(mpB, "hold");
            b.process().destroyForcibly();
            awaitTrue("B wedged", Duration.ofSeconds(10),
                    () -> waiting(b.connection()) >= 1 && GuardFixture.stuckInFuse(b.pid()));

            Child.Result dry = GuardFixture.guardOnce("--once", "--dry-run", "--under", fx.dir.toString(),
                    "--grace", "300ms");
            assertThat(dry.exit()).as(dry.err()).isZero();
            JsonNode jb = GuardFixture.jsonLines(dry.out()).get(0);
            assertThat(jb.path("connection").asLong()).isEqualTo(b.connection());
            assertThat(jb.path("verdict").asText()).isEqualTo("wedged");
            assertThat(jb.path("action").asText()).isEqualTo("would-abort");
            Thread.sleep(300);
            assertThat(new FuseControl().exists(b.connection())).isTrue();
            assertThat(waiting(b.connection())).as("dry run left it wedged").isGreaterThanOrEqualTo(1);
            assertThat(GuardFixture.stuckInFuse(b.pid())).isTrue();

            // A: a "container": own pid and mount namespaces (copies of other FUSE mounts detached inside it),
            // a jnr-fuse daemon holding its own file, and the namespace's init killed (the seed's docker kill).
            Path mpA = fx.mountPoint("a");
            String inner = String.join(" ", GuardFixture.java(io.fuseguard.drill.DrillDaemon.class.getName(),
                    "plain", mpA.toString(), "hold").stream().map(s -> "'" + s.replace("'", "'\\''") + "'").toList());
            String script = "grep -E ' - fuse(blk)?(\\.[^ ]*)? ' /proc/self/mountinfo | awk '{print $5}' | "
                    + "while read m; do umount -l \"$m\"; done; " + inner + " & wait";
            Process unshare = fx.start(List.of("unshare", "--pid", "--fork", "--mount", "--propagation", "private",
                    "sh", "-c", script), "container");
            GuardFixture.awaitStdoutLine(unshare, "READY", Duration.ofSeconds(30));
            int init = (int) unshare.children().findFirst().orElseThrow().pid();
            int javaPid = Tasks.descendants(init).stream()
                    .filter(p -> Tasks.stat(p).map(s -> s.comm().equals("java")).orElse(false)).findFirst()
                    .orElseThrow();
            long connA = fx.awaitConnection(mpA, javaPid);
            String ns = Files.readSymbolicLink(Path.of("/proc", Integer.toString(javaPid), "ns", "pid")).toString();
            new ProcessBuilder("kill", "-KILL", Integer.toString(init)).start().waitFor();
            awaitTrue("A wedged", Duration.ofSeconds(10),
                    () -> waiting(connA) >= 1 && GuardFixture.stuckInFuse(javaPid));
            assertThat(unshare.waitFor(1, TimeUnit.SECONDS)).as("the container's teardown hangs").isFalse();

            long t0 = System.nanoTime();
            Child.Result r = GuardFixture.guardOnce("--once", "--pidns", ns, "--grace", "300ms");
            assertThat(r.exit()).as(r.err()).isZero();
            List<JsonNode> lines = GuardFixture.jsonLines(r.out());
            List<JsonNode> decisions = lines.stream().filter(x -> x.path("type").asText().equals("decision")).toList();
            assertThat(decisions).as(r.out()).hasSize(1);
            JsonNode ja = decisions.get(0);
            assertThat(ja.path("connection").asLong()).isEqualTo(connA);
            assertThat(ja.path("action").asText()).isEqualTo("aborted");
            assertThat(list(ja.path("blockedTasks"))).anyMatch(t -> t.path("pidNamespace").asText().equals(ns));
            assertThat(unshare.waitFor(10, TimeUnit.SECONDS)).as("the container is gone").isTrue();
            System.out.printf("guard --once --pidns: container gone %d ms after the guard started (grace 300 ms,"
                    + " JVM start included)%n", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            // B, in another pid namespace, was not touched.
            assertThat(waiting(b.connection())).isGreaterThanOrEqualTo(1);
            assertThat(GuardFixture.stuckInFuse(b.pid())).isTrue();
        }
    }

    /**
     * The reviewer's case: a healthy fuseguard daemon, stopped (SIGSTOP) with a request waiting, and a guard whose
     * /proc is not the host's (a pod without hostPID: {@code unshare --pid --fork --mount-proc}), or no procfs at
     * all. It used to print "wedged"/"would-abort" (and abort without --dry-run); now it refuses to start, and
     * when told to accept its own pid namespace it still leaves the connection alone.
     */
    @Test
    void aGuardThatCannotSeeTheDaemonRefusesAndNeverAbortsAStoppedHealthyDaemon() throws Exception {
        Child.Result probe = Child.run(Duration.ofSeconds(20), "unshare", "--pid", "--fork", "--mount-proc", "true");
        if (probe.timedOut() || probe.exit() != 0) {
            org.junit.jupiter.api.Assumptions.abort("skipped: unshare --pid --fork --mount-proc does not work here: "
                    + probe.err().trim());
        }
        try (GuardFixture fx = new GuardFixture("guard-pidns-view")) {
            Path mp = fx.mountPoint("mnt");
            Process mount = fx.start(GuardFixture.java(FuseguardCommand.class.getName(), "mount", "memory",
                    mp.toString(), "--capacity", "16M"), "mount");
            long conn = fx.awaitConnection(mp, (int) mount.pid());
            String pid = Long.toString(mount.pid());
            Process client;
            new ProcessBuilder("kill", "-STOP", pid).start().waitFor();
            try {
                client = fx.start(List.of("timeout", "60", "stat", mp.resolve("x").toString()), "client");
                awaitTrue("a request waits on the stopped daemon", Duration.ofSeconds(10), () -> waiting(conn) >= 1);
                String under = fx.dir.toString();

                // A pod without hostPID: refused, exit 2, one line saying what to do; nothing on stdout.
                Child.Result pod = inOwnPidNamespace("--once", "--dry-run", "--under", under, "--grace", "300ms");
                assertThat(pod.exit()).as(pod.err()).isEqualTo(2);
                assertThat(pod.err().trim().lines().count()).as(pod.err()).isEqualTo(1);
                assertThat(pod.err()).startsWith("fuseguard: ").contains("hostPID: true").contains("--proc")
                        .contains("not the host's (pid:[4026531836])");
                assertThat(pod.out()).isEmpty();

                // --proc at something that is no procfs: refused the same way.
                Path empty = Files.createDirectories(fx.dir.resolve("empty"));
                for (String proc : List.of("/tmp", empty.toString())) {
                    Child.Result r = GuardFixture.guardOnce("--once", "--dry-run", "--under", under, "--proc", proc);
                    assertThat(r.exit()).as(proc + ": " + r.err()).isEqualTo(2);
                    assertThat(r.err()).startsWith("fuseguard: ").contains("not a procfs").contains("hostPID");
                    assertThat(r.out()).isEmpty();
                }

                // Told to accept its own pid namespace, and not a dry run: the source names a daemon it cannot
                // see and has no evidence is dead, so it is left alone.
                Child.Result own = inOwnPidNamespace("--once", "--under", under, "--grace", "300ms",
                        "--own-pid-namespace");
                assertThat(own.exit()).as(own.err()).isZero();
                JsonNode j = GuardFixture.jsonLines(own.out()).get(0);
                assertThat(j.path("connection").asLong()).as(own.out()).isEqualTo(conn);
                assertThat(j.path("verdict").asText()).as(own.out()).isEqualTo("undecidable");
                assertThat(j.path("action").asText()).as(own.out()).isEqualTo("skipped");
                assertThat(j.path("reason").asText()).contains("fuseguard daemon pid " + pid);
                assertThat(GuardFixture.jsonLines(own.out()).get(1).path("aborted").asInt()).isZero();

                // The host's view: the stopped daemon holds the connection, so it is served.
                Child.Result host = GuardFixture.guardOnce("--once", "--dry-run", "--under", under, "--grace",
                        "300ms");
                assertThat(host.exit()).as(host.err()).isZero();
                assertThat(GuardFixture.jsonLines(host.out()).get(0).path("verdict").asText()).as(host.out())
                        .isEqualTo("served");

                assertThat(new FuseControl().exists(conn)).as("never aborted").isTrue();
                assertThat(waiting(conn)).as("the request still waits for the stopped daemon").isGreaterThanOrEqualTo(1);
            } finally {
                new ProcessBuilder("kill", "-CONT", pid).start().waitFor();
            }
            assertThat(client.waitFor(30, TimeUnit.SECONDS)).as("the client is answered once the daemon goes on")
                    .isTrue();
            assertThat(new FuseControl().exists(conn)).isTrue();
            new ProcessBuilder("kill", "-TERM", pid).start().waitFor();
            assertThat(mount.waitFor(20, TimeUnit.SECONDS)).isTrue();
        }
    }

    /** {@code fuseguard guard ARGS} in a new pid namespace with its own /proc (a pod without hostPID). */
    private static Child.Result inOwnPidNamespace(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("unshare", "--pid", "--fork", "--mount-proc"));
        cmd.addAll(GuardFixture.guardCommand(args));
        Child.Result r = Child.run(Duration.ofSeconds(60), cmd);
        if (r.timedOut()) {
            throw new AssertionError("guard did not finish in 60 s: " + r.err());
        }
        return r;
    }

    @Test
    void badInputIsOneLineAndExitCode2() throws Exception {
        for (String[] args : List.of(new String[] {"--interval", "1ms"}, new String[] {"--pidns", "abc"},
                new String[] {"--metrics-port", "70000"}, new String[] {"--once", "--metrics-port", "9"},
                new String[] {"--grace", "soon"}, new String[] {"--under", ""})) {
            Child.Result r = GuardFixture.guardOnce(args);
            assertThat(r.exit()).as(String.join(" ", args) + ": " + r.err()).isEqualTo(2);
            assertThat(r.err().trim().lines().count()).as(r.err()).isEqualTo(1);
            assertThat(r.err()).startsWith("fuseguard: ");
            assertThat(r.out()).isEmpty();
        }
    }
}
