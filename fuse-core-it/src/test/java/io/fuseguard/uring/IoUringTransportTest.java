package io.fuseguard.uring;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.Tasks;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.SmallFs;
import io.fuseguard.testkit.StallingFs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * FUSE over io_uring on the real kernel, with the fuse module's {@code enable_uring} set for the duration of the
 * class (and put back after): requests arrive on ring entries and are answered there, by their handlers, by the
 * watchdog at their deadline and at once for a killed caller; a killed daemon leaves nothing waiting.
 */
class IoUringTransportTest {
    private static EnableUring enabled;
    private final List<GuardEvent> events = new CopyOnWriteArrayList<>();

    @BeforeAll
    static void enable() throws Exception {
        FuseAvailability.assumeUsable();
        assumeTrue(EnableUring.available(), "this kernel has no FUSE over io_uring");
        enabled = EnableUring.set("Y");
    }

    @AfterAll
    static void restore() throws Exception {
        if (enabled != null) {
            enabled.close();
        }
    }

    private FuseguardConfig.Builder config(Duration deadline) {
        return FuseguardConfig.builder().ioUring(true).allDeadlines(deadline).flushPolicy(FlushPolicy.BOUNDED)
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false).listener(events::add);
    }

    @Test
    void readsWritesAndStatsGoOverTheRing(@TempDir Path dir, @TempDir Path statusDir) throws Exception {
        SmallFs fs = new SmallFs().withFile("/hello", "hello\n".getBytes(StandardCharsets.UTF_8));
        System.setProperty("fuseguard.statusDir", statusDir.toString()); // where the status file goes
        try (FuseMount m = FuseMount.mount(fs, dir, config(Duration.ofSeconds(5)).build())) {
            assertThat(m.ioUringActive()).as(m.ioUringState()).isTrue();
            long requests = m.ioUringRequests();
            long answers = m.ioUringAnswers();
            assertThat(Files.readString(dir.resolve("hello"))).isEqualTo("hello\n");
            byte[] big = new byte[300_000]; // larger than one request: several WRITEs and READs
            new java.util.Random(7).nextBytes(big);
            Files.write(dir.resolve("big"), big);
            assertThat(Files.readAllBytes(dir.resolve("big"))).isEqualTo(big);
            assertThat(Files.size(dir.resolve("big"))).isEqualTo(big.length);
            try (Stream<Path> list = Files.list(dir)) {
                assertThat(list.map(p -> p.getFileName().toString())).contains("hello", "big");
            }
            System.out.printf("io_uring: %s; %d requests on the ring, %d answers committed, of %d requests%n",
                    m.ioUringState(), m.ioUringRequests(), m.ioUringAnswers(), m.status().requests());
            assertThat(m.ioUringRequests() - requests).as("requests on the ring").isGreaterThanOrEqualTo(6);
            // what other processes see (fuseguard connections): the status file says the ring serves
            java.util.Optional<io.fuseguard.kernel.ConnectionStatus> status = java.util.Optional.empty();
            for (io.fuseguard.kernel.ConnectionReport.Connection c : io.fuseguard.kernel.ConnectionReport.scan()) {
                if (c.id() == m.connectionId().orElseThrow()) {
                    status = io.fuseguard.kernel.ConnectionStatus.of(c);
                }
            }
            assertThat(status).isPresent();
            assertThat(status.get().ioUring()).isTrue();
            assertThat(status.get().describe()).contains("io_uring");
            assertThat(m.ioUringAnswers() - answers).as("answers committed on the ring").isGreaterThanOrEqualTo(6);
        } finally {
            System.clearProperty("fuseguard.statusDir");
        }
    }

    @Test
    void withoutTheOptionRequestsComeThroughDevFuse(@TempDir Path dir) throws Exception {
        SmallFs fs = new SmallFs().withFile("/hello", "hello\n".getBytes(StandardCharsets.UTF_8));
        try (FuseMount m = FuseMount.mount(fs, dir, config(Duration.ofSeconds(5)).ioUring(false).build())) {
            assertThat(Files.readString(dir.resolve("hello"))).isEqualTo("hello\n");
            assertThat(m.ioUringActive()).isFalse();
            assertThat(m.ioUringRequests()).isZero();
            assertThat(m.ioUringState()).isEqualTo("off");
            assertThat(m.protocol().used()).doesNotContain("over_io_uring");
        }
    }

    @Test
    void withEnableUringOffTheOptionFallsBackToDevFuse(@TempDir Path dir) throws Exception {
        SmallFs fs = new SmallFs().withFile("/hello", "hello\n".getBytes(StandardCharsets.UTF_8));
        try (EnableUring off = EnableUring.set("N");
             FuseMount m = FuseMount.mount(fs, dir, config(Duration.ofSeconds(5)).build())) {
            assertThat(Files.readString(dir.resolve("hello"))).isEqualTo("hello\n");
            assertThat(m.ioUringActive()).isFalse();
            assertThat(m.ioUringRequests()).isZero();
            assertThat(m.ioUringState()).startsWith("unavailable");
            assertThat(m.protocol().used()).doesNotContain("over_io_uring");
        }
    }

    @Test
    void aSupervisedMountRefusesIoUringBeforeMounting(@TempDir Path dir) throws Exception {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> io.fuseguard.mount.Supervisor.start(dir,
                        config(Duration.ofSeconds(5)).build(), new io.fuseguard.mount.Supervisor.Options(
                                List.of("/bin/true"), false, null, null)))
                .isInstanceOf(io.fuseguard.mount.MountException.class)
                .hasMessageContaining("io_uring cannot be combined with a supervised mount");
        assertThat(Edges.mountAt(dir)).isEmpty();
    }

    /**
     * A retrieve's data comes back as a NOTIFY_REPLY request on a ring entry, which nobody answers: its entry is
     * committed empty all the same, or each retrieve would take an entry away for good (2 per queue here).
     */
    @Test
    void retrievedDataComesOnTheRingAndItsEntryServesAgain(@TempDir Path dir) throws Exception {
        SmallFs fs = new SmallFs().withFile("/s", "0123456789abcdef".getBytes(StandardCharsets.UTF_8));
        try (FuseMount m = FuseMount.mount(fs, dir, config(Duration.ofSeconds(5)).workerThreads(2).build())) {
            assertThat(Files.readString(dir.resolve("s"))).isEqualTo("0123456789abcdef");
            assertThat(m.notifier().store("/s", 0, java.nio.ByteBuffer.wrap("ABCDEFGHIJKLMNOP".getBytes(
                    StandardCharsets.UTF_8))).get(5, TimeUnit.SECONDS)).isTrue();
            long requests = m.ioUringRequests();
            for (int i = 0; i < 8; i++) {
                java.nio.ByteBuffer b = m.notifier().retrieve("/s", 2, 6).get(5, TimeUnit.SECONDS);
                byte[] got = new byte[b.remaining()];
                b.get(got);
                assertThat(new String(got, StandardCharsets.UTF_8)).isEqualTo("CDEFGH");
            }
            assertThat(m.ioUringRequests() - requests).as("the replies came on the ring").isGreaterThanOrEqualTo(8);
            Child.Result r = Child.run(Duration.ofSeconds(10), "timeout", "5", "stat", dir.resolve("s").toString());
            assertThat(r.exit()).as("the entries serve other requests: %s", r.err()).isZero();
            await().atMost(Duration.ofSeconds(5)).until(() -> m.ioUringAnswers() == m.ioUringRequests());
        }
    }

    /** More stalls than a queue has entries: each is answered at its deadline and its entry serves again. */
    @Test
    void stalledHandlersAreAnsweredAtTheirDeadlineOnTheRing(@TempDir Path dir) throws Exception {
        StallingFs fs = new StallingFs();
        Duration deadline = Duration.ofMillis(400);
        try (FuseMount m = FuseMount.mount(fs, dir, config(deadline).workerThreads(2).build())) {
            assertThat(m.ioUringState()).contains("2 entries");
            long answers = m.ioUringAnswers();
            int stalls = 5;
            for (int i = 0; i < stalls; i++) {
                long t0 = System.nanoTime();
                Child.Result r = Child.run(Duration.ofSeconds(20), "stat", dir.resolve("stall-getattr").toString());
                long ms = Edges.ms(t0);
                System.out.printf("stalled stat %d: exit %d after %d ms (deadline %d ms): %s%n", i, r.exit(), ms,
                        deadline.toMillis(), r.err().trim());
                assertThat(r.exit()).isNotZero();
                assertThat(r.err()).contains("Input/output error");
                assertThat(ms).isLessThan(deadline.toMillis() + 3000);
            }
            // events reach listeners on the reporter thread, a moment after the answer
            await().atMost(Duration.ofSeconds(5)).until(() -> events.stream()
                    .filter(e -> e.type() == GuardEvent.Type.TIMEOUT).count() >= stalls);
            assertThat(m.ioUringAnswers() - answers).as("deadline answers committed on the ring")
                    .isGreaterThanOrEqualTo(stalls);
            assertThat(Files.readString(dir.resolve("ok"))).isEqualTo("fine\n");
            // The late handlers come back: their answers are dropped (one answer per request), the entries they
            // came on serve other requests meanwhile, untouched
            fs.release();
            await().atMost(Duration.ofSeconds(5)).until(() -> m.status().stuckThreads() == 0);
            for (int i = 0; i < 20; i++) {
                assertThat(Files.readString(dir.resolve("ok"))).isEqualTo("fine\n");
            }
            // Exactly one answer per request that came on the ring, once nothing is in flight (the kernel's
            // background RELEASEs included): a late handler's answer committed too would make more answers.
            await().atMost(Duration.ofSeconds(5)).until(() -> m.ioUringAnswers() == m.ioUringRequests());
            Thread.sleep(200);
            assertThat(m.ioUringAnswers()).as("answers committed, of %d requests on the ring", m.ioUringRequests())
                    .isEqualTo(m.ioUringRequests());
        } finally {
            fs.release();
        }
    }

    /**
     * Every request thread held by handlers that ignore interrupts, past the stuck-thread cap: requests on the
     * ring are still taken (by the reader of last resort) and answered by their deadline, entries come back.
     */
    @Test
    void withEveryThreadStuckRingRequestsAreStillAnswered(@TempDir Path dir) throws Exception {
        java.util.concurrent.CountDownLatch unstick = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger stuck = new java.util.concurrent.atomic.AtomicInteger();
        SmallFs fs = new SmallFs() {
            @Override
            public io.fuseguard.api.FileAttributes getattr(String path) {
                if (path.startsWith("/stuck-")) {
                    stuck.incrementAndGet();
                    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                    while (unstick.getCount() > 0 && System.nanoTime() < end) {
                        try {
                            unstick.await(100, TimeUnit.MILLISECONDS);
                        } catch (InterruptedException e) {
                            // ignored, as a handler in a library that swallows interrupts does
                        }
                    }
                    return super.getattr("/healthy");
                }
                return super.getattr(path);
            }
        }.withFile("/healthy", "fine\n".getBytes(StandardCharsets.UTF_8));
        List<Process> held = new java.util.ArrayList<>();
        try (FuseMount m = FuseMount.mount(fs, dir, config(Duration.ofSeconds(1)).workerThreads(4)
                .maxStuckThreads(2).cacheTimeouts(Duration.ZERO, Duration.ZERO, Duration.ZERO).build())) {
            for (int i = 0; i < 10; i++) {
                held.add(new ProcessBuilder("timeout", "90", "stat", dir.resolve("stuck-" + i).toString())
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> m.status().stuckThreads() >= 2 && stuck.get() >= 4);
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            int answered = 0;
            long slowest = 0;
            while (System.nanoTime() < end) {
                long t0 = System.nanoTime();
                Child.Result r = Child.run(Duration.ofSeconds(10), "stat", dir.resolve("healthy").toString());
                slowest = Math.max(slowest, Edges.ms(t0));
                assertThat(r.exit()).as("stat answered (EIO or success): %s", r.err()).isIn(0, 1);
                answered++;
                Thread.sleep(100);
            }
            System.out.printf("io_uring, every thread stuck (%d stuck, %d threads): %d stats answered, slowest %d "
                    + "ms; %d requests on the ring%n", m.status().stuckThreads(), m.status().threads(), answered,
                    slowest, m.ioUringRequests());
            assertThat(slowest).as("each answered by its deadline").isLessThan(3000);
            unstick.countDown();
            await().atMost(Duration.ofSeconds(10)).until(() -> Child.run(Duration.ofSeconds(10), "stat",
                    dir.resolve("healthy").toString()).exit() == 0);
        } finally {
            unstick.countDown();
            for (Process p : held) {
                Child.kill9(p);
                p.waitFor(5, TimeUnit.SECONDS);
            }
        }
    }

    /** kill -9 of a caller whose request a handler holds: INTERRUPT comes through /dev/fuse, EINTR goes on the ring. */
    @Test
    void aKilledCallersRequestIsAnsweredOnTheRing(@TempDir Path dir) throws Exception {
        StallingFs fs = new StallingFs();
        Duration deadline = Duration.ofSeconds(30);
        // direct_io: cat's read is the READ request itself, not a readahead the kernel sends in the background
        try (FuseMount m = FuseMount.mount(fs, dir, config(deadline).mountOption("direct_io").build())) {
            long answers = m.ioUringAnswers();
            Process client = Child.start("cat", dir.resolve("stall-read").toString());
            try {
                int pid = (int) client.pid();
                assertThat(fs.stalled().await(5, TimeUnit.SECONDS)).isTrue();
                await().atMost(Duration.ofSeconds(5)).until(() -> Tasks.threads(pid).stream()
                        .anyMatch(t -> t.isWaitingInFuse()));
                Child.kill9(client);
                long ms = Child.awaitExit(client, Duration.ofSeconds(10));
                System.out.printf("kill -9 of cat blocked in a READ on the ring: gone after %d ms%n", ms);
                assertThat(ms).isNotNegative().isLessThan(deadline.toMillis() / 3);
                assertThat(Tasks.state(pid)).isEmpty();
                await().atMost(Duration.ofSeconds(2)).until(() -> events.stream()
                        .anyMatch(e -> e.type() == GuardEvent.Type.INTERRUPTED));
                assertThat(m.ioUringAnswers() - answers).as("the EINTR answer, on the ring").isPositive();
                assertThat(Files.readString(dir.resolve("ok"))).isEqualTo("fine\n");
            } finally {
                Child.kill9(client);
                client.waitFor(5, TimeUnit.SECONDS);
            }
        } finally {
            fs.release();
        }
    }

    /** kill -9 of the daemon while a caller waits on a ring request: both go, nothing is left in D state. */
    @Test
    void aKilledDaemonLeavesNothingWaiting() throws Exception {
        Path mp = Edges.newDir("uring-kill-");
        Process daemon = new ProcessBuilder(Edges.java(UringDaemon.class, mp.toString())).redirectErrorStream(true)
                .start();
        java.io.BufferedReader out = new java.io.BufferedReader(new java.io.InputStreamReader(
                daemon.getInputStream(), StandardCharsets.UTF_8));
        long connection = -1;
        Process client = null;
        try {
            String ready = line(out, "READY");
            connection = Long.parseLong(ready.split(" ")[1]);
            assertThat(ready).endsWith("true");
            client = Child.start("stat", mp.resolve("stall-getattr").toString());
            String stalled = line(out, "STALLED");
            assertThat(Long.parseLong(stalled.split(" ")[1])).as("requests on the ring").isPositive();
            int clientPid = (int) client.pid();
            await().atMost(Duration.ofSeconds(5)).until(() -> Tasks.threads(clientPid).stream()
                    .anyMatch(t -> t.isWaitingInFuse()));
            long t0 = System.nanoTime();
            Child.kill9(daemon);
            long daemonMs = Child.awaitExit(daemon, Duration.ofSeconds(10));
            long clientMs = Child.awaitExit(client, Duration.ofSeconds(10));
            System.out.printf("kill -9 of the io_uring daemon: daemon gone after %d ms, its waiting caller after "
                    + "%d ms (%d ms in all)%n", daemonMs, clientMs, Edges.ms(t0));
            assertThat(daemonMs).as("daemon exited").isNotNegative().isLessThan(5000);
            assertThat(clientMs).as("caller exited").isNotNegative().isLessThan(5000);
            assertThat(Tasks.state(clientPid)).isEmpty();
            java.util.OptionalInt waiting = new io.fuseguard.kernel.FuseControl().waiting(connection);
            assertThat(waiting.orElse(0)).as("requests waiting on the dead connection").isZero();
            Child.Result dead = Child.run(Duration.ofSeconds(10), "timeout", "5", "cat", mp.resolve("ok")
                    .toString());
            assertThat(dead.err()).contains("Transport endpoint is not connected");
        } finally {
            if (client != null) {
                Child.kill9(client);
            }
            Edges.kill(daemon);
            if (connection >= 0) {
                Edges.abortIfAlive(connection);
            }
            Edges.forceUnmount(mp);
        }
    }

    private static String line(java.io.BufferedReader out, String prefix) throws Exception {
        java.util.concurrent.CompletableFuture<String> f = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                String l;
                while ((l = out.readLine()) != null) {
                    System.out.println("[daemon] " + l);
                    if (l.startsWith(prefix)) {
                        return l;
                    }
                }
                return "EOF";
            } catch (java.io.IOException e) {
                return "EOF " + e;
            }
        });
        String l = f.get(60, TimeUnit.SECONDS);
        assertThat(l).startsWith(prefix);
        return l;
    }
}
