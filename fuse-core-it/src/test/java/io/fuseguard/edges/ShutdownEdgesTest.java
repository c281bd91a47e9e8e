package io.fuseguard.edges;

import io.fuseguard.api.Errno;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.PyClient;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static io.fuseguard.internal.sys.Syscalls.ENOTCONN;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The end of a mount, at its edges (issue 8): SIGTERM while {@code mount()} is still running, requests and
 * RELEASEs that reach the daemon while it is closing, files still open when it closes.
 *
 * <p>Before: the shutdown hook was registered only after the readiness probe (SIGTERM during mount() left a dead
 * mount); a RELEASE arriving while closing skipped the filesystem's release; a request rejected after close got
 * the overload errno instead of ENOTCONN.
 */
class ShutdownEdgesTest {
    private final List<Path> mountPoints = new ArrayList<>();
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final List<Long> connections = new ArrayList<>();

    @BeforeEach
    void needs() {
        Edges.assumeFuseAndRoot();
    }

    @AfterEach
    void cleanUp() throws Exception {
        Collections.reverse(closeables); // clients before the mount they hold
        for (AutoCloseable c : closeables) {
            c.close();
        }
        mountPoints.forEach(Edges::forceUnmount);
        connections.forEach(Edges::abortIfAlive);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    @Test
    void sigtermDuringMountLeavesNoDeadMount() throws Exception {
        Path mp = Edges.newDir("termmount-");
        mountPoints.add(mp);
        long initSleep = 10_000;
        DaemonProcess d = new DaemonProcess(Edges.java(EdgeDaemon.class, mp.toString(), "--init-sleep",
                Long.toString(initSleep)));
        closeables.add(d);
        d.expectLine("INIT sleeping", Duration.ofSeconds(30));
        assertThat(Edges.mountAt(mp)).as("the kernel mount exists, mount() has not returned").isPresent();
        connections.add(Edges.mountAt(mp).get().connectionId());
        assertThat(d.awaitLine("READY", Duration.ofMillis(200))).isEmpty();

        long t0 = System.nanoTime();
        Edges.sigterm(d.process().pid());
        boolean exited = d.process().waitFor(30, TimeUnit.SECONDS);
        long ms = Edges.ms(t0);
        System.out.printf("SIGTERM during mount() (init() sleeping %d ms): exited %s after %d ms%n", initSleep,
                exited, ms);
        d.stderr().lines().filter(l -> l.contains("FuseMount")).forEach(l -> System.out.println("  daemon: " + l));
        assertThat(exited).as("SIGTERM stops a daemon that is still mounting").isTrue();
        assertThat(Edges.mountAt(mp)).as("no mount left behind").isEmpty();
        Child.Result ls = Child.run(Duration.ofSeconds(10), "timeout", "5", "ls", "-a", mp.toString());
        assertThat(ls.err()).doesNotContain("Transport endpoint is not connected");
        assertThat(ls.exit()).as("the mount point is a plain directory again").isZero();
        // close() never waits for a connection it can abort: the mount is found (by its path) before mount()
        // has identified it, and a SIGTERM stops the daemon as fast as it does once mounted.
        assertThat(ms).as("SIGTERM during mount() stops the daemon without waiting out the unmount timeout (%d ms)",
                FuseguardConfig.defaults().mount().unmountTimeout().toMillis())
                .isLessThan(FuseguardConfig.defaults().mount().unmountTimeout().toMillis());
    }

    /** Records every flush and release, in order, with the path. */
    static final class RecordingFs extends SmallFs {
        final List<String> calls = Collections.synchronizedList(new ArrayList<>());

        RecordingFs() {
            withFile("/keep", "keep\n".getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public void flush(String path, long fh) {
            calls.add("flush " + path);
        }

        @Override
        public void release(String path, long fh, OpenFlags flags) {
            calls.add("release " + path);
        }

        boolean has(String call) {
            return calls.contains(call);
        }
    }

    /**
     * A mount that is closing for a while: detached from outside ({@code umount -l}) while two clients hold files
     * on it, then {@code close()} (which waits for the connection to end, up to its unmount timeout). Requests on
     * the held files reach the daemon during that time.
     */
    private final class ClosingMount {
        final RecordingFs fs = new RecordingFs();
        final Path mp;
        final FuseMount mount;
        final PyClient writer;
        final PyClient keeper;
        CompletableFuture<Long> closing;

        ClosingMount() throws Exception {
            mp = Edges.newDir("closing-");
            mountPoints.add(mp);
            mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("closing").shutdownHook(false)
                    .overloadErrno(Errno.EAGAIN).timeoutErrno(Errno.ETIMEDOUT)
                    .unmountTimeout(Duration.ofSeconds(20)).mountOption("attr_timeout=0")
                    .mountOption("direct_io").build());
            closeables.add(mount);
            mount.connectionId().ifPresent(connections::add);
            writer = new PyClient();
            closeables.add(writer);
            keeper = new PyClient();
            closeables.add(keeper);
            Duration limit = Duration.ofSeconds(10);
            writer.call(limit, "open held " + mp.resolve("held") + " rwc").assertOk();
            writer.call(limit, "write held dirty-data").assertOk();
            keeper.call(limit, "open keep " + mp.resolve("keep") + " r").assertOk();
            Child.runOk("umount", "-l", mp.toString());
            assertThat(Edges.mountAt(mp)).as("detached from outside").isEmpty();
            assertThat(writer.call(limit, "fstat held").assertOk().value()).as("still served").isEqualTo("10");
        }

        /** Starts close() in the background and waits until the daemon answers as a closing mount does. */
        void startClosing() throws Exception {
            long t0 = System.nanoTime();
            closing = CompletableFuture.supplyAsync(() -> {
                mount.close();
                return Edges.ms(t0);
            });
            await().atMost(Duration.ofSeconds(5)).until(() -> !writer.call(Duration.ofSeconds(10), "fstat held")
                    .ok());
        }

        long awaitClosed() throws Exception {
            long ms = closing.get(30, TimeUnit.SECONDS);
            assertThat(mount.isMounted()).isFalse();
            return ms;
        }
    }

    @Test
    void requestsReachingAClosingMountGetEnotconnNotTheOverloadErrno() throws Exception {
        ClosingMount c = new ClosingMount();
        c.startClosing();
        Duration limit = Duration.ofSeconds(10);
        List<PyClient.Reply> replies = List.of(c.writer.call(limit, "fstat held"),
                c.writer.call(limit, "pread held 4 0"), c.writer.call(limit, "pwrite held 0 more"),
                c.keeper.call(limit, "fstat keep"), c.keeper.call(limit, "pread keep 4 0"));
        System.out.printf("requests while the mount is closing (overload errno EAGAIN, timeout errno ETIMEDOUT): %s%n",
                replies);
        assertThat(replies).as("every request answered ENOTCONN").allMatch(r -> r.errno() == ENOTCONN);
        c.writer.call(limit, "close held");
        c.keeper.call(limit, "close keep");
        System.out.printf("close() returned %d ms after it started%n", c.awaitClosed());
    }

    /**
     * The same, as a race: clients keep sending requests while {@code close()} runs, over several mounts. Every
     * request is answered success (before the close), ENOTCONN (the daemon, closing; or the kernel, once the
     * connection is aborted) or ECONNABORTED (in flight when the connection was aborted); never the overload
     * errno (EAGAIN here) nor the timeout errno (ETIMEDOUT here).
     */
    @Test
    void requestsRacingCloseNeverGetTheOverloadOrTimeoutErrno() throws Exception {
        java.util.Map<Integer, Long> seen = new java.util.TreeMap<>();
        for (int round = 0; round < 8; round++) {
            Path mp = Edges.newDir("race-");
            mountPoints.add(mp);
            FuseMount m = FuseMount.mount(new RecordingFs(), mp, FuseguardConfig.builder().fsName("race")
                    .shutdownHook(false).overloadErrno(Errno.EAGAIN).timeoutErrno(Errno.ETIMEDOUT)
                    .mountOption("attr_timeout=0").build());
            m.connectionId().ifPresent(connections::add);
            List<PyClient> hammers = new ArrayList<>();
            try {
                for (int i = 0; i < 3; i++) {
                    PyClient c = new PyClient();
                    hammers.add(c);
                    c.call(Duration.ofSeconds(10), "open f " + mp.resolve("keep") + " r").assertOk();
                }
                for (PyClient c : hammers) {
                    c.send("hammer f 3000");
                }
                Thread.sleep(20 + round * 5);
                m.close();
                for (PyClient c : hammers) {
                    String counts = c.await(Duration.ofSeconds(30), "hammer").assertOk().value();
                    for (String kv : counts.split(",")) {
                        String[] p = kv.split(":");
                        seen.merge(Integer.parseInt(p[0]), Long.parseLong(p[1]), Long::sum);
                    }
                }
            } finally {
                hammers.forEach(PyClient::close);
                m.close();
            }
        }
        System.out.printf("fstat racing close() over 8 mounts, errno -> count: %s%n", seen);
        assertThat(seen.keySet()).as("only success, ENOTCONN or ECONNABORTED").isSubsetOf(0, ENOTCONN,
                io.fuseguard.internal.sys.Syscalls.ECONNABORTED);
        assertThat(seen).as("the race was run: some requests failed because the mount was closing")
                .containsKey(ENOTCONN);
    }

    @Test
    void aReleaseArrivingWhileTheMountIsClosingStillRunsFlushAndRelease() throws Exception {
        ClosingMount c = new ClosingMount();
        c.startClosing();
        Duration limit = Duration.ofSeconds(10);
        c.writer.call(limit, "close held").assertOk(); // RELEASE reaches the closing daemon
        await().atMost(Duration.ofSeconds(5)).until(() -> c.fs.has("release /held"));
        assertThat(c.mount.isMounted()).as("the mount was still closing (the keeper holds it)").isTrue();
        System.out.printf("calls while closing, before the last file was closed: %s%n", List.copyOf(c.fs.calls));
        assertThat(c.fs.calls).as("the deferred flush, then release, of the file released while closing")
                .containsSubsequence("flush /held", "release /held");

        c.keeper.call(limit, "close keep");
        long ms = c.awaitClosed();
        System.out.printf("close() returned %d ms after it started; calls: %s%n", ms, List.copyOf(c.fs.calls));
        assertThat(c.fs.calls).contains("release /keep");
        assertThat(c.fs.calls.stream().filter(s -> s.equals("release /held")).count()).as("released once")
                .isEqualTo(1);
    }

    @Test
    void filesStillOpenWhenTheMountClosesGetTheirFlushAndRelease() throws Exception {
        RecordingFs fs = new RecordingFs();
        Path mp = Edges.newDir("openatclose-");
        mountPoints.add(mp);
        FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("openatclose").shutdownHook(false)
                .overloadErrno(Errno.EAGAIN).build());
        closeables.add(m);
        m.connectionId().ifPresent(connections::add);
        PyClient client = new PyClient();
        closeables.add(client);
        Duration limit = Duration.ofSeconds(10);
        client.call(limit, "open held " + mp.resolve("held") + " wc").assertOk();
        client.call(limit, "write held dirty-data").assertOk();

        long t0 = System.nanoTime();
        m.close();
        long ms = Edges.ms(t0);
        System.out.printf("close() with a file open: %d ms; calls: %s%n", ms, List.copyOf(fs.calls));
        assertThat(fs.calls).containsSubsequence("flush /held", "release /held");
        PyClient.Reply after = client.call(limit, "fstat held");
        System.out.printf("fstat of the held file after close(): %s%n", after);
        assertThat(after.errno()).as("ENOTCONN, not the overload errno").isEqualTo(ENOTCONN);
        client.call(limit, "close held");
        assertThat(fs.calls.stream().filter(s -> s.equals("release /held")).count()).isEqualTo(1);
    }
}
