package io.fuseguard.nodeguard;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import io.fuseguard.kernel.TaskStat;
import io.fuseguard.nodeguard.Decision.Action;
import io.fuseguard.nodeguard.Decision.Verdict;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The guard's rules on a fake /proc and fusectl: which connections it aborts, and which never. */
class NodeGuardDecisionTest {
    @TempDir
    Path tmp;

    private static Decision only(NodeGuard g) {
        List<Decision> d = g.scan().decisions();
        assertThat(d).hasSize(1);
        return d.get(0);
    }

    @Test
    void idleConnectionIsLeftAlone() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x").process(100, "daemon", 'S', 0).devFuse(100, 5, 77);
        NodeGuard g = new NodeGuard(n.settings().build());
        assertThat(only(g).verdict()).isEqualTo(Verdict.IDLE);
        assertThat(only(g).action()).isEqualTo(Action.NONE);
        assertThat(n.aborts(77)).isEmpty();
    }

    @Test
    void waitingRequestsWithALiveReaderAreServedNeverAborted() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x").waiting(77, 3)
                .process(100, "daemon", 'S', 0).devFuse(100, 5, 77).blocked(300, 300, "stat", 77, "/mnt/x");
        NodeGuard g = new NodeGuard(n.settings().build());
        for (int i = 0; i < 3; i++) {
            Decision d = only(g);
            assertThat(d.verdict()).isEqualTo(Verdict.SERVED);
            assertThat(d.action()).isEqualTo(Action.NONE);
            assertThat(d.readers()).anyMatch(r -> r.pid() == 100 && !r.fds().isEmpty());
        }
        assertThat(n.aborts(77)).isEmpty();
    }

    @Test
    void exitingDaemonWithWaitingRequestsIsAbortedAfterConfirmation() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x").waiting(77, 1)
                .process(100, "daemon", 'D', TaskStat.PF_EXITING).devFuse(100, 5, 77)
                .blocked(300, 300, "stat", 77, "/mnt/x");
        NodeGuard g = new NodeGuard(n.settings().build());
        Decision first = only(g);
        assertThat(first.verdict()).isEqualTo(Verdict.NO_READER_UNCONFIRMED);
        assertThat(first.action()).isEqualTo(Action.NONE);
        assertThat(n.aborts(77)).isEmpty();
        Decision second = only(g);
        assertThat(second.verdict()).isEqualTo(Verdict.WEDGED);
        assertThat(second.action()).isEqualTo(Action.ABORTED);
        assertThat(n.aborts(77)).isEqualTo("1");
        assertThat(second.readers()).anyMatch(r -> r.pid() == 100 && r.liveness().name().equals("EXITING"));
        assertThat(second.blockedTasks()).anyMatch(t -> t.pid() == 300
                && t.attribution() == BlockedTask.Attribution.MOUNT_NAMESPACE);
        JsonNode j = DecisionJson.mapper().readTree(second.toJson());
        assertThat(j.path("action").asText()).isEqualTo("aborted");
        assertThat(j.path("mountPoint").asText()).isEqualTo("/mnt/x");
        assertThat(j.path("blockedTasks").get(0).path("stack").get(0).asText()).isEqualTo("request_wait_answer");
        assertThat(j.path("blockedTasks").get(0).path("kernelWait").asText()).isEqualTo("stack");
    }

    @Test
    void aFuseguardDaemonThisProcDoesNotShowIsNeverCalledWedged() throws Exception {
        // The source names daemon pid 4242; /proc shows neither it nor any holder (it runs in a pid namespace this
        // /proc does not show, or this /proc is not the host's): no evidence it died, so never aborted.
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x", "fuseguard:4242:memory").waiting(77, 1)
                .blocked(300, 300, "stat", 77, "/mnt/x");
        NodeGuard g = new NodeGuard(n.settings().build());
        for (int i = 0; i < 3; i++) {
            Decision d = only(g);
            assertThat(d.verdict()).isEqualTo(Verdict.UNDECIDABLE);
            assertThat(d.action()).isEqualTo(Action.SKIPPED);
            assertThat(d.reason()).contains("fuseguard daemon pid 4242").contains("no evidence that the daemon died");
            assertThat(d.readers()).anyMatch(r -> r.pid() == 4242 && r.source().equals("fsname"));
        }
        assertThat(n.aborts(77)).isEmpty();
        // the same pid alive here but holding nothing (another process with that number): still no evidence
        n.process(4242, "other", 'S', 0);
        assertThat(only(g).action()).isEqualTo(Action.SKIPPED);
        assertThat(n.aborts(77)).isEmpty();
    }

    @Test
    void aFuseguardDaemonSeenHoldingItsConnectionThatDiedIsStillAborted() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x", "fuseguard:100:memory").waiting(77, 1)
                .process(100, "java", 'S', 0).devFuse(100, 5, 77).blocked(300, 300, "stat", 77, "/mnt/x");
        NodeGuard g = new NodeGuard(n.settings().build());
        assertThat(only(g).verdict()).isEqualTo(Verdict.SERVED);
        // killed, now reaped: the guard saw it hold the connection, so "gone" is evidence
        try (var s = Files.walk(n.proc.resolve("100"))) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        assertThat(only(g).verdict()).isEqualTo(Verdict.NO_READER_UNCONFIRMED);
        Decision d = only(g);
        assertThat(d.verdict()).isEqualTo(Verdict.WEDGED);
        assertThat(d.action()).isEqualTo(Action.ABORTED);
        assertThat(n.aborts(77)).isEqualTo("1");
    }

    @Test
    void aFuseguardDaemonThisProcShowsExitingIsEvidenceEnough() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x", "fuseguard:100:memory").waiting(77, 1)
                .process(100, "java", 'D', TaskStat.PF_EXITING).blocked(300, 300, "stat", 77, "/mnt/x");
        NodeGuard g = new NodeGuard(n.settings().dryRun(true).build());
        assertThat(only(g).verdict()).isEqualTo(Verdict.NO_READER_UNCONFIRMED);
        assertThat(only(g).action()).isEqualTo(Action.WOULD_ABORT);
    }

    @Test
    void dryRunOnlyReports() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x").waiting(77, 1)
                .process(100, "daemon", 'Z', 0);
        NodeGuard g = new NodeGuard(n.settings().dryRun(true).build());
        g.scan();
        Decision d = only(g);
        assertThat(d.action()).isEqualTo(Action.WOULD_ABORT);
        assertThat(n.aborts(77)).isEmpty();
    }

    @Test
    void connectionsOutsideTheScopeAreNotEvenJudged() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x").waiting(77, 1).mount(78, "/other/y")
                .waiting(78, 1);
        NodeGuard g = new NodeGuard(n.settings().under(Path.of("/other")).build());
        g.scan();
        Decision d = only(g);
        assertThat(d.connection()).isEqualTo(78);
        assertThat(d.action()).isEqualTo(Action.ABORTED);
        assertThat(n.aborts(77)).isEmpty();
    }

    @Test
    void unattachedDevFuseCountsAsAPossibleReaderOnlyOnKernelsThatDoNotNameConnections() throws Exception {
        FakeNode newer = new FakeNode(tmp.resolve("a"), "6.18.4").mount(77, "/mnt/x").waiting(77, 1)
                .process(100, "other-daemon", 'S', 0).devFuse(100, 5, -1);
        NodeGuard g = new NodeGuard(newer.settings().build());
        g.scan();
        assertThat(only(g).verdict()).isEqualTo(Verdict.WEDGED);

        FakeNode older = new FakeNode(tmp.resolve("b"), "6.1.0").mount(77, "/mnt/x").waiting(77, 1)
                .process(100, "other-daemon", 'S', 0).devFuse(100, 5, -1);
        NodeGuard h = new NodeGuard(older.settings().build());
        h.scan();
        Decision d = only(h);
        assertThat(d.verdict()).isEqualTo(Verdict.SERVED);
        assertThat(older.aborts(77)).isEmpty();
    }

    @Test
    void aReaderOfAnotherConnectionDoesNotServeThisOne() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x").waiting(77, 1).mount(78, "/mnt/y")
                .process(100, "daemon-y", 'S', 0).devFuse(100, 5, 78);
        NodeGuard g = new NodeGuard(n.settings().under(Path.of("/mnt/x")).build());
        g.scan();
        assertThat(only(g).action()).isEqualTo(Action.ABORTED);
    }

    @Test
    void stuckRuleIsOptInAndNeedsNoProgress() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x").waiting(77, 1)
                .process(100, "daemon", 'S', 0).devFuse(100, 5, 77).blocked(300, 300, "stat", 77, "/mnt/x");
        NodeGuard off = new NodeGuard(n.settings().build());
        NodeGuard on = new NodeGuard(n.settings().stuckLimit(Duration.ofMillis(100)).build());
        off.scan();
        on.scan();
        Thread.sleep(60);
        n.io(100, 11); // progress: a read system call
        assertThat(on.scan().decisions().get(0).verdict()).isEqualTo(Verdict.SERVED);
        Thread.sleep(150);
        assertThat(off.scan().decisions().get(0).verdict()).isEqualTo(Verdict.SERVED);
        assertThat(n.aborts(77)).isEmpty();
        Decision d = on.scan().decisions().get(0);
        assertThat(d.verdict()).isEqualTo(Verdict.STUCK);
        assertThat(d.action()).isEqualTo(Action.ABORTED);
        assertThat(n.aborts(77)).isEqualTo("1");
    }

    @Test
    void malformedAndVanishingEntriesAreTolerated() throws Exception {
        FakeNode n = new FakeNode(tmp, "garbage").mount(77, "/mnt/x").waiting(77, 1)
                .process(100, "daemon", 'S', 0).devFuse(100, 5, 77);
        FakeNode.write(n.proc.resolve("200/stat"), "not a stat line");
        FakeNode.write(n.proc.resolve("200/task/200/stat"), "200 (x) D");
        FakeNode.write(n.proc.resolve("201/stat"), "");
        Files.createDirectories(n.proc.resolve("202/fd"));
        Files.createSymbolicLink(n.proc.resolve("202/fd/3"), Path.of("/dev/fuse"));
        FakeNode.write(n.proc.resolve("202/fdinfo/3"), "flags: zz\nfuse_connection: -4\n");
        FakeNode.write(n.proc.resolve("203/task/203/stat"), FakeNode.stat(203, "x", 'D', 0, 1));
        FakeNode.write(n.proc.resolve("203/task/203/stack"), "\u0000\u0001garbage\n[<0>]\n");
        Files.createDirectories(n.proc.resolve("notapid/fd"));
        FakeNode.write(n.fusectl.resolve("abc/waiting"), "x");
        FakeNode.write(n.fusectl.resolve("79/waiting"), "lots");
        Files.writeString(n.mountinfo, Files.readString(n.mountinfo) + "garbage line\n\n1 2 3\n");
        NodeGuard g = new NodeGuard(n.settings().build());
        List<Decision> d = g.scan().decisions();
        assertThat(d).extracting(Decision::connection).containsExactly(77L, 79L);
        assertThat(d.get(0).verdict()).isEqualTo(Verdict.SERVED);
        assertThat(d.get(1).verdict()).isEqualTo(Verdict.IDLE);
        assertThat(d.get(1).waiting()).isEmpty();
        // The holder with the malformed fdinfo (an unknown connection) keeps 77 served even once 100 is gone.
        Files.walk(n.proc.resolve("100")).sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        FakeNode.write(n.proc.resolve("202/stat"), FakeNode.stat(202, "y", 'S', 0, 1));
        g.scan();
        assertThat(g.scan().decisions().get(0).verdict()).isEqualTo(Verdict.SERVED);
        assertThat(n.aborts(77)).isEmpty();
    }

    @Test
    void jsonEscapesWhateverUsersPutInMountPointsAndNames() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/we\\\"ird\\012name").waiting(77, 1);
        Decision d = new NodeGuard(n.settings().dryRun(true).build()).scan().decisions().get(0);
        String json = d.toJson();
        assertThat(json).doesNotContain("\n");
        JsonNode j = DecisionJson.mapper().readTree(json);
        assertThat(j.path("connection").asLong()).isEqualTo(77);
        assertThat(j.path("mountPoint").asText()).isEqualTo(d.mount().orElseThrow().mountPoint().toString());
        for (String f : List.of("time", "connection", "mountPoint", "fsType", "source", "waiting", "verdict",
                "action", "reason", "daemons", "blockedTasks")) {
            assertThat(j.has(f)).as(f).isTrue();
        }
    }

    @Test
    void aFusectlThatShowsNoneOfTheMountsMakesEveryConnectionUndecidableAndTheGuardNotReady() throws Exception {
        FakeNode n = new FakeNode(tmp, "6.18.4").mount(77, "/mnt/x").process(100, "daemon", 'S', 0)
                .devFuse(100, 5, 77);
        Path empty = Files.createDirectories(tmp.resolve("empty-fusectl"));
        io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        NodeGuard g = new NodeGuard(n.settings().fusectl(empty).build(), new GuardMetrics(registry));
        Decision d = only(g);
        assertThat(d.verdict()).as("not 'idle': nothing could be read").isEqualTo(Verdict.UNDECIDABLE);
        assertThat(d.action()).isEqualTo(Action.SKIPPED);
        assertThat(d.reason()).contains("lists none of the 1 FUSE connection(s)");
        assertThat(g.notReadyReason()).hasValueSatisfying(r -> r.contains(empty.toString()));
        assertThat(g.fusectlProblem()).isPresent();
        assertThat(registry.get("fuseguard.guard.ready").gauge().value()).isZero();

        NodeGuard healthy = new NodeGuard(n.settings().build(), new GuardMetrics(registry = 
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry()));
        assertThat(only(healthy).verdict()).isEqualTo(Verdict.IDLE);
        assertThat(healthy.notReadyReason()).isEmpty();
        assertThat(registry.get("fuseguard.guard.ready").gauge().value()).isEqualTo(1.0);
    }

    @Test
    void sysfsItselfIsNotFusectl() throws Exception {
        // /sys/fs/fuse is the sysfs directory fusectl is mounted below: what a host without fusectl mounted shows
        // at /sys/fs/fuse/connections (and what a pod's hostPath of it then gets)
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(Path.of("/sys/fs/fuse")), "no /sys/fs/fuse");
        FakeNode n = new FakeNode(tmp, "6.18.4");
        NodeGuard g = new NodeGuard(n.settings().fusectl(Path.of("/sys/fs/fuse")).build());
        assertThat(g.fusectlProblem()).hasValueSatisfying(r -> assertThat(r).contains("sysfs's own directory")
                .contains("not mounted"));
        assertThat(new NodeGuard(n.settings().fusectl(tmp.resolve("missing")).build()).fusectlProblem())
                .hasValueSatisfying(r -> assertThat(r).contains("does not exist"));
    }

    @Test
    void relativeUnderIsRefused() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> GuardSettings.builder().under(Path.of("mnt/x"))
                .build()).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("absolute");
    }
}
