package io.fuseguard.edges;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.PyClient;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static io.fuseguard.internal.sys.Syscalls.EROFS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Mount points and connections are identified by what the kernel says, not by the path the caller gave (issue
 * 8, "Identity and mount table"): a mount point reached through a symlink, a read-only mount, a copy of the
 * mount held by another mount namespace.
 */
class MountIdentityTest {
    private final List<Path> mountPoints = new ArrayList<>();
    private final List<FuseMount> mounts = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();
    private final List<Long> connections = new ArrayList<>();

    @BeforeEach
    void needsFuse() {
        Edges.assumeFuseAndRoot();
    }

    @AfterEach
    void cleanUp() {
        mounts.forEach(FuseMount::close);
        processes.forEach(Edges::kill);
        mountPoints.forEach(Edges::forceUnmount);
        connections.forEach(Edges::abortIfAlive);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private static SmallFs hello() {
        return new SmallFs().withFile("/hello", "hello\n".getBytes(StandardCharsets.UTF_8));
    }

    private static FuseguardConfig.Builder config(String name) {
        return FuseguardConfig.builder().fsName(name).shutdownHook(false);
    }

    private FuseMount mount(SmallFs fs, Path at, FuseguardConfig config) {
        FuseMount m = FuseMount.mount(fs, at, config);
        mounts.add(m);
        m.connectionId().ifPresent(connections::add);
        return m;
    }

    /** {@code stat} and {@code ls} of a path that may be a dead mount, in a child with a time limit. */
    private static Child.Result statAndList(Path p) throws Exception {
        return Child.run(Duration.ofSeconds(15), "timeout", "5", "sh", "-c", "stat " + p + " >/dev/null && ls -a "
                + p);
    }

    /** After close(): nothing left at the real path, in the mount table or in fusectl, and the path works. */
    private static void assertGoneCompletely(Path real, long connection) throws Exception {
        assertThat(Edges.mountAt(real)).as("no mount left at %s", real).isEmpty();
        assertThat(Edges.mountsOf(connection)).as("no mount of connection %d left", connection).isEmpty();
        Edges.assertConnectionEnded(connection);
        Child.Result r = statAndList(real);
        assertThat(r.exit()).as("the mount point is a plain directory again (%s)", r.err()).isZero();
        assertThat(r.err()).doesNotContain("Transport endpoint is not connected");
    }

    private void closeFastAndCompletely(FuseMount m, Path real, String what) throws Exception {
        long connection = m.connectionId().orElseThrow(() -> new AssertionError("connection not identified"));
        long t0 = System.nanoTime();
        m.close();
        long ms = Edges.ms(t0);
        System.out.printf("close() of %s: %d ms (unmount timeout %d ms)%n", what, ms,
                m.config().mount().unmountTimeout().toMillis());
        assertThat(ms).as("close() does not wait for the unmount timeout")
                .isLessThan(m.config().mount().unmountTimeout().toMillis() / 2);
        assertGoneCompletely(real, connection);
    }

    @Test
    void aMountPointUnderASymlinkedDirectoryLikeVarRunMountsAndUnmountsCompletely() throws Exception {
        Path base = Edges.newDir("symparent-");
        Path realParent = Files.createDirectory(base.resolve("run"));
        Path real = Files.createDirectory(realParent.resolve("mnt"));
        Path linkParent = Files.createSymbolicLink(base.resolve("var-run"), realParent);
        Path given = linkParent.resolve("mnt");
        mountPoints.add(real);
        FuseMount m = mount(hello(), given, config("symparent").build());
        assertThat(m.mountPoint()).as("the real path").isEqualTo(real.toRealPath());
        Optional<MountEntry> e = Edges.mountAt(real);
        assertThat(e).as("mountinfo shows the resolved path").isPresent();
        assertThat(m.connectionId()).as("the connection is identified").hasValue(e.get().connectionId());
        assertThat(Files.readString(given.resolve("hello"))).isEqualTo("hello\n");
        closeFastAndCompletely(m, real, "a mount under a symlinked directory");
    }

    @Test
    void aMountPointThatIsASymlinkToADirectoryMountsAndUnmountsCompletely() throws Exception {
        Path base = Edges.newDir("symlink-");
        Path real = Files.createDirectory(base.resolve("target"));
        Path link = Files.createSymbolicLink(base.resolve("link"), real);
        mountPoints.add(real);
        FuseMount m = mount(hello(), link, config("symlink").build());
        assertThat(m.mountPoint()).isEqualTo(real.toRealPath());
        assertThat(m.connectionId()).isPresent();
        assertThat(Edges.mountAt(real)).isPresent();
        assertThat(Files.readString(link.resolve("hello"))).isEqualTo("hello\n");
        closeFastAndCompletely(m, real, "a mount on a symlink to a directory");
    }

    @Test
    void aDaemonMountedThroughASymlinkStopsCleanlyOnSigterm() throws Exception {
        Path base = Edges.newDir("symdaemon-");
        Path real = Files.createDirectory(base.resolve("target"));
        Path link = Files.createSymbolicLink(base.resolve("link"), real);
        mountPoints.add(real);
        try (DaemonProcess d = new DaemonProcess(Edges.java(EdgeDaemon.class, link.toString()))) {
            processes.add(d.process());
            String ready = d.expectLine("READY", Duration.ofSeconds(30));
            long connection = Long.parseLong(ready.split(" ")[1]);
            connections.add(connection);
            assertThat(connection).as("the daemon identified its connection").isNotNegative();
            assertThat(Edges.mountAt(real)).isPresent();
            assertThat(Child.runOk("cat", link.resolve("hello").toString())).isEqualTo("hello\n");

            long t0 = System.nanoTime();
            Edges.sigterm(d.process().pid());
            assertThat(d.process().waitFor(30, TimeUnit.SECONDS)).as("SIGTERM stops the daemon").isTrue();
            long ms = Edges.ms(t0);
            System.out.printf("daemon mounted through a symlink: gone %d ms after SIGTERM, exit %d%n", ms,
                    d.process().exitValue());
            assertThat(ms).as("no wait for the unmount timeout")
                    .isLessThan(FuseguardConfig.defaults().mount().unmountTimeout().toMillis() / 2);
            assertThat(d.stderr()).doesNotContain("leaked").doesNotContain("still running");
            assertGoneCompletely(real, connection);
        }
    }

    @Test
    void aReadOnlyMountServesReadsAndRefusesWritesWithErofs() throws Exception {
        Path mp = Edges.newDir("ro-");
        mountPoints.add(mp);
        FuseMount m = mount(hello(), mp, config("ro").mountOption("ro").build());
        assertThat(Edges.mountAt(mp)).isPresent();
        assertThat(Edges.mountAt(mp).get().options().split(",")).as("mounted read-only").contains("ro");
        try (PyClient c = new PyClient()) {
            Duration limit = Duration.ofSeconds(10);
            assertThat(c.call(limit, "readfile " + mp.resolve("hello")).assertOk().value()).isEqualTo("hello\n");
            assertThat(c.call(limit, "listdir " + mp).assertOk().value()).isEqualTo("hello");
            List<PyClient.Reply> writes = List.of(
                    c.call(limit, "writefile " + mp.resolve("new") + " x"),
                    c.call(limit, "open w " + mp.resolve("hello") + " w"),
                    c.call(limit, "mkdir " + mp.resolve("dir")),
                    c.call(limit, "unlink " + mp.resolve("hello")),
                    c.call(limit, "rename " + mp.resolve("hello") + " " + mp.resolve("moved")));
            System.out.printf("writes on a read-only mount: %s%n", writes);
            assertThat(writes).as("every change refused with EROFS").allMatch(r -> r.errno() == EROFS);
            assertThat(c.call(limit, "readfile " + mp.resolve("hello")).assertOk().value()).isEqualTo("hello\n");
        }
        closeFastAndCompletely(m, mp, "a read-only mount");
    }

    @Test
    void closeIsFastWhenAnotherMountNamespaceHoldsACopyOfTheMount() throws Exception {
        Path mp = Edges.newDir("otherns-");
        mountPoints.add(mp);
        FuseMount m = mount(hello(), mp, config("otherns").build());
        long connection = m.connectionId().orElseThrow();
        Process holder = new ProcessBuilder("unshare", "--mount", "--propagation", "private", "sleep", "60")
                .redirectErrorStream(true).start();
        processes.add(holder);
        Path theirMountinfo = Path.of("/proc", Long.toString(holder.pid()), "mountinfo");
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.exists(theirMountinfo)
                && Files.readString(theirMountinfo).contains(mp.toString())
                && Files.readString(Path.of("/proc", Long.toString(holder.pid()), "comm")).trim().equals("sleep"));

        long t0 = System.nanoTime();
        m.close();
        long ms = Edges.ms(t0);
        System.out.printf("close() while another mount namespace holds a copy: %d ms (unmount timeout %d ms)%n", ms,
                m.config().mount().unmountTimeout().toMillis());
        assertThat(ms).as("close() does not wait for the unmount timeout")
                .isLessThan(m.config().mount().unmountTimeout().toMillis() / 2);
        assertThat(Edges.mountAt(mp)).as("unmounted here").isEmpty();

        // The copy in the other namespace is a dead connection now: its users fail at once, nobody waits.
        Child.Result there = Child.run(Duration.ofSeconds(15), "nsenter", "-t", Long.toString(holder.pid()), "-m",
                "timeout", "5", "ls", mp.toString());
        System.out.printf("ls of the copy in the other namespace after close(): exit %d in %d ms: %s%n",
                there.exit(), there.millis(), there.err().trim());
        assertThat(there.exit()).as("not left waiting (timeout exits 124)").isNotEqualTo(124);
        assertThat(there.err()).contains("Transport endpoint is not connected");
        System.out.printf("connection %d in fusectl while the other namespace still holds the copy: %s%n",
                connection, Edges.connectionExists(connection) ? "present (aborted)" : "gone");

        Edges.kill(holder);
        Edges.assertConnectionEnded(connection);
        assertThat(Edges.mountsOf(connection)).isEmpty();
    }
}
