package io.fuseguard.edges;

import io.fuseguard.internal.mount.KernelMount;
import io.fuseguard.kernel.Tasks;
import io.fuseguard.mount.MountRouteDaemon;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A daemon (its own JVM, as root) mounted through each route serves and unmounts on SIGTERM; with
 * {@code auto_unmount} a {@code kill -9} leaves a plain directory instead of a dead mount; without a fusermount
 * helper, {@code auto_unmount} is refused before anything is mounted.
 */
class MountRoutesDaemonTest {
    private final List<Path> mountPoints = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private final List<Long> connections = new ArrayList<>();

    @BeforeEach
    void needsRoot() {
        Edges.assumeFuseAndRoot();
    }

    @AfterEach
    void cleanUp() {
        processes.forEach(Edges::kill);
        mountPoints.forEach(Edges::forceUnmount);
        connections.forEach(Edges::abortIfAlive);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    /** A daemon's READY line: {@code READY <connection> <helper pid> <route>}. */
    private record Ready(long connection, int helperPid, String route) {
        static Ready parse(String line) {
            String[] f = line.split(" ", 4);
            return new Ready(Long.parseLong(f[1]), Integer.parseInt(f[2]), f[3]);
        }
    }

    private DaemonProcess daemon(Path mp, String method, String... options) throws Exception {
        List<String> args = new ArrayList<>(List.of(mp.toString()));
        for (String o : options) {
            args.addAll(List.of("-o", o));
        }
        DaemonProcess d = new DaemonProcess(Edges.java(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-D" + KernelMount.METHOD_PROPERTY + "=" + method), MountRouteDaemon.class, args.toArray(String[]::new)));
        processes.add(d.process());
        return d;
    }

    private Ready ready(DaemonProcess d) throws InterruptedException {
        Ready r = Ready.parse(d.expectLine("READY", Duration.ofSeconds(30)));
        connections.add(r.connection);
        return r;
    }

    private Path mountPoint(String prefix) throws Exception {
        Path mp = Edges.newDir(prefix).toRealPath();
        mountPoints.add(mp);
        return mp;
    }

    /** {@code stat} and {@code ls} of a path that may be a dead mount, in a child with a time limit. */
    private static Child.Result statAndList(Path p) throws Exception {
        return Child.run(Duration.ofSeconds(15), "timeout", "5", "sh", "-c", "stat " + p + " >/dev/null && ls -a "
                + p);
    }

    @Test
    void aDaemonMountedThroughEachRouteServesAndUnmountsOnSigterm() throws Exception {
        for (String method : List.of("new-api", "mount", "fusermount")) {
            Path mp = mountPoint("route-" + method + "-");
            try (DaemonProcess d = daemon(mp, method)) {
                Ready r = ready(d);
                switch (method) {
                    case "new-api" -> assertThat(r.route).isEqualTo("new mount API");
                    case "mount" -> assertThat(r.route).isEqualTo("mount(2)");
                    default -> assertThat(Path.of(r.route).getFileName().toString()).isIn("fusermount3",
                            "fusermount");
                }
                assertThat(r.helperPid).as("no helper stays without auto_unmount").isEqualTo(-1);
                assertThat(Edges.mountAt(mp)).isPresent();
                assertThat(Child.runOk("cat", mp.resolve("hello").toString())).isEqualTo("hello\n");

                long t0 = System.nanoTime();
                Edges.sigterm(d.process().pid());
                assertThat(d.process().waitFor(20, TimeUnit.SECONDS)).as("SIGTERM stops the daemon").isTrue();
                System.out.printf("mounted via %s: unmounted and gone %d ms after SIGTERM%n", r.route, Edges.ms(t0));
                assertThat(d.awaitLine("UNMOUNTED", Duration.ofSeconds(5))).isPresent();
                assertThat(Edges.mountAt(mp)).as("unmounted").isEmpty();
                Edges.assertConnectionEnded(r.connection);
            }
        }
    }

    @Test
    void withAutoUnmountAKilledDaemonLeavesAPlainDirectory() throws Exception {
        Path mp = mountPoint("auto-");
        try (DaemonProcess d = daemon(mp, "auto", "auto_unmount")) {
            Ready r = ready(d);
            System.out.printf("auto_unmount: mounted via %s, helper pid %d%n", r.route, r.helperPid);
            assertThat(Path.of(r.route).getFileName().toString()).as("root uses the helper for auto_unmount")
                    .isIn("fusermount3", "fusermount");
            assertThat(Tasks.isAlive(r.helperPid)).as("the helper waits").isTrue();
            assertThat(Child.runOk("cat", mp.resolve("hello").toString())).isEqualTo("hello\n");

            long t0 = System.nanoTime();
            Child.kill9(d.process());
            assertThat(d.process().waitFor(10, TimeUnit.SECONDS)).isTrue();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (Edges.mountAt(mp).isPresent() && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            long ms = Edges.ms(t0);
            System.out.printf("auto_unmount: mount point clean %d ms after kill -9 of the daemon%n", ms);
            assertThat(Edges.mountAt(mp)).as("the helper unmounted the dead mount").isEmpty();
            Child.Result after = statAndList(mp);
            assertThat(after.exit()).as(after.err()).isZero();
            assertThat(after.err()).doesNotContain("Transport endpoint is not connected");
            Edges.assertConnectionEnded(r.connection);
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (Tasks.isAlive(r.helperPid) && System.nanoTime() < end) {
                Thread.sleep(5);
            }
            assertThat(Tasks.isAlive(r.helperPid)).as("the helper is done").isFalse();
        }
    }

    @Test
    void withoutAutoUnmountAKilledDaemonLeavesADeadMount() throws Exception {
        // The control of the test above: the same kill without the option leaves ENOTCONN behind.
        Path mp = mountPoint("noauto-");
        try (DaemonProcess d = daemon(mp, "auto")) {
            ready(d);
            Child.kill9(d.process());
            assertThat(d.process().waitFor(10, TimeUnit.SECONDS)).isTrue();
            Thread.sleep(300);
            assertThat(Edges.mountAt(mp)).as("nobody unmounts it").isPresent();
            Child.Result after = statAndList(mp);
            assertThat(after.exit()).isNotZero();
            assertThat(after.err()).contains("Transport endpoint is not connected");
        }
    }

    @Test
    void withAutoUnmountSigtermUnmountsAndTheHelperIsReaped() throws Exception {
        Path mp = mountPoint("auto-term-");
        try (DaemonProcess d = daemon(mp, "auto", "auto_unmount")) {
            Ready r = ready(d);
            Edges.sigterm(d.process().pid());
            assertThat(d.process().waitFor(20, TimeUnit.SECONDS)).isTrue();
            assertThat(d.awaitLine("UNMOUNTED", Duration.ofSeconds(5))).isPresent();
            assertThat(Edges.mountAt(mp)).isEmpty();
            assertThat(Tasks.state(r.helperPid)).as("the daemon reaped its helper before it exited").isEmpty();
            assertThat(d.stderr()).doesNotContain("still running 2 s after");
        }
    }

    @Test
    void autoUnmountWithoutAHelperIsRefusedBeforeMounting() throws Exception {
        Path mp = mountPoint("nohelper-");
        List<String> cmd = new ArrayList<>(hidingHelpers());
        cmd.addAll(Edges.java(MountRouteDaemon.class, mp.toString(), "-o", "auto_unmount"));
        Child.Result r = Child.run(Duration.ofSeconds(60), cmd);
        assertThat(r.exit()).as(r.err()).isEqualTo(2);
        assertThat(r.out()).startsWith("FAILED FUSERMOUNT_MISSING").contains("auto_unmount").contains("fuse3");
        assertThat(Edges.mountAt(mp)).isEmpty();
    }

    /**
     * A command prefix that runs the rest in a private mount namespace where every fusermount3 and fusermount on
     * PATH or in the usual directories is covered by /dev/null (not a regular file: not found).
     */
    static List<String> hidingHelpers() {
        String script = "for d in $(echo \"$PATH\" | tr : ' ') /usr/bin /bin /usr/local/bin /usr/sbin /sbin; do "
                + "for n in fusermount3 fusermount; do "
                + "if [ -e \"$d/$n\" ]; then mount --bind /dev/null \"$d/$n\" || exit 99; fi; done; done; exec \"$@\"";
        return List.of("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "hide-helpers");
    }
}
