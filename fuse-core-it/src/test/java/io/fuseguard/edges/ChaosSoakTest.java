package io.fuseguard.edges;

import io.fuseguard.kernel.FuseControl;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.PyClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A chaos soak (issue 8, "A chaos soak that would have caught these"): a daemon ({@link ChaosDaemon}, its own JVM)
 * whose handlers of {@code /stall/*} are stalled and released again and again (half of them ignoring interrupts),
 * many client processes doing random operations with every byte read back verified, clients killed with SIGKILL
 * and interrupted with signals at random, a getattr probe running throughout.
 *
 * <p>At the end: every request was answered (no client stopped making progress, every killed client exited),
 * the probe's latency stayed under its deadline, no task is in D state, the connection has nothing waiting,
 * the daemon's threads, descriptors and memory are back near their baseline, every verified byte was right.
 *
 * <p>CI-sized by default ({@value #DEFAULT_SECONDS} s of chaos); {@code -Dfuseguard.soak.seconds=N} runs it
 * longer, {@code -Dfuseguard.soak.clients=N} with more clients.
 */
class ChaosSoakTest {
    static final long DEFAULT_SECONDS = 60;
    private static final Duration SOAK = Duration.ofSeconds(Long.getLong("fuseguard.soak.seconds",
            DEFAULT_SECONDS));
    private static final int CLIENTS = Integer.getInteger("fuseguard.soak.clients", 8);
    /** Share of a client's operations that go to paths whose handlers may be stalled. */
    private static final int STALL_PERCENT = 25;
    /** A client that prints nothing for this long is stuck (its operations retry interrupted calls). */
    private static final Duration STUCK = ChaosDaemon.DATA.multipliedBy(5);
    /**
     * A task in D state for this long is wedged. Shorter D states are normal here: a reader waits (killably, which
     * shows as D) on a page whose read is stalled up to its deadline, and the kernel then tries once more.
     */
    private static final Duration WEDGED = STUCK;

    private Path mp;
    private DaemonProcess daemon;
    private long connection = -1;
    private final List<ChaosClient> clients = new CopyOnWriteArrayList<>();
    private final List<ChaosClient> finished = new CopyOnWriteArrayList<>();
    private ChaosClient probe;
    private final List<String> failures = Collections.synchronizedList(new ArrayList<>());
    private int generation;

    @BeforeEach
    void needs() {
        Edges.assumeFuseAndRoot();
        Edges.python();
    }

    @AfterEach
    void cleanUp() {
        clients.forEach(c -> Edges.kill(c.process));
        if (probe != null) {
            Edges.kill(probe.process);
        }
        if (daemon != null) {
            daemon.close();
        }
        if (mp != null) {
            Edges.forceUnmount(mp);
        }
        Edges.abortIfAlive(connection);
    }

    /** A chaos_client.py process and what it reported. */
    final class ChaosClient {
        final String id;
        final Process process;
        final Writer in;
        volatile long lastOutput = System.nanoTime();
        volatile String done;
        final AtomicLong ops = new AtomicLong();
        final Map<String, Long> errnos = new HashMap<>();
        final List<Double> probeMs = Collections.synchronizedList(new ArrayList<>());
        final List<String> problems = Collections.synchronizedList(new ArrayList<>());
        volatile boolean killed;

        ChaosClient(String id, List<String> args) throws IOException {
            this.id = id;
            List<String> cmd = new ArrayList<>(List.of(Edges.python(), "-u",
                    Edges.resource("chaos_client.py").toString(), mp.toString()));
            cmd.addAll(args);
            process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            Thread t = new Thread(this::read, "chaos-client-" + id);
            t.setDaemon(true);
            t.start();
        }

        private void read() {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                    lastOutput = System.nanoTime();
                    if (l.startsWith("O ")) {
                        ops.incrementAndGet();
                        String[] w = l.split(" ");
                        synchronized (errnos) {
                            errnos.merge(w[1] + ":" + w[2], 1L, Long::sum);
                        }
                    } else if (l.startsWith("P ")) {
                        String[] w = l.split(" ");
                        if (w[1].startsWith("E")) {
                            problems.add("probe failed with errno " + w[1].substring(1) + " after " + w[2] + " ms");
                        } else {
                            probeMs.add(Double.parseDouble(w[1]));
                        }
                    } else if (l.startsWith("DONE")) {
                        done = l;
                    } else if (l.startsWith("MISMATCH") || l.startsWith("BAD")) {
                        problems.add(id + ": " + l);
                    }
                }
            } catch (IOException e) {
                // gone
            }
        }

        void stop() {
            try {
                in.write("stop\n");
                in.flush();
                in.close();
            } catch (IOException e) {
                // gone already
            }
        }

        long silentMillis() {
            return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - lastOutput);
        }
    }

    private ChaosClient startClient(Random rnd, int stallPercent) throws IOException {
        String id = "c" + (generation++);
        ChaosClient c = new ChaosClient(id, List.of(id, Long.toString(rnd.nextLong()),
                Integer.toString(stallPercent)));
        clients.add(c);
        return c;
    }

    private Map<String, Long> status() throws Exception {
        daemon.send("status");
        String line = daemon.expectLine("STATUS", Duration.ofSeconds(10));
        Map<String, Long> m = new HashMap<>();
        for (String kv : line.substring("STATUS ".length()).split(" ")) {
            String[] p = kv.split("=");
            m.put(p[0], Long.parseLong(p[1]));
        }
        return m;
    }

    /** Threads, descriptors and resident memory of the daemon, from /proc. */
    private Map<String, Long> resources() throws Exception {
        long pid = daemon.process().pid();
        Map<String, Long> m = new HashMap<>();
        for (String l : Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))) {
            if (l.startsWith("Threads:")) {
                m.put("osThreads", Long.parseLong(l.substring(8).trim()));
            } else if (l.startsWith("VmRSS:")) {
                m.put("rssKiB", Long.parseLong(l.substring(6).trim().split("\\s+")[0]));
            }
        }
        try (Stream<Path> s = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
            m.put("fds", s.count());
        }
        return m;
    }

    /**
     * Stalls released, clients gone: removes what the clients stored (so that the filesystem's own data does not
     * count as the daemon's memory), waits until nothing runs in the daemon, then collects garbage.
     */
    private Map<String, Long> quiesce() throws Exception {
        daemon.send("release");
        Child.run(Duration.ofSeconds(60), "sh", "-c", "rm -rf " + mp.resolve("data") + "/* " + mp.resolve("stall")
                + "/[dsw]*").assertOk();
        await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(200)).until(() -> {
            Map<String, Long> s = status();
            return s.get("stuck") == 0 && s.get("inFlight") == 0 && s.get("handles") == 0
                    && s.get("closeWork") == 0 && s.get("stalledNow") == 0;
        });
        // Request threads beyond the idle cap end when they finish their next request: give them some.
        try (PyClient c = new PyClient()) {
            c.call(Duration.ofSeconds(30), "probe " + mp.resolve("probe") + " 20 5").assertOk();
        }
        Thread.sleep(500);
        daemon.send("gc");
        daemon.expectLine("GC done", Duration.ofSeconds(30));
        Map<String, Long> m = status();
        m.putAll(resources());
        return m;
    }

    private void stopAll(Duration limit) throws Exception {
        List<ChaosClient> all = new ArrayList<>(clients);
        all.forEach(ChaosClient::stop);
        for (ChaosClient c : all) {
            if (!c.process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
                failures.add("client " + c.id + " did not stop within " + limit.toMillis() + " ms after 'stop' "
                        + "(silent for " + c.silentMillis() + " ms): a request was never answered");
                Edges.kill(c.process);
            }
            clients.remove(c);
            finished.add(c);
        }
    }

    /** Processes with a descriptor or working directory under {@code dir} (readlink only: never touches FUSE). */
    static List<String> holders(Path dir) {
        List<String> out = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(x -> x.getFileName().toString().matches("\\d+")).toList()) {
                List<Path> links = new ArrayList<>(List.of(p.resolve("cwd"), p.resolve("root")));
                try (Stream<Path> fds = Files.list(p.resolve("fd"))) {
                    links.addAll(fds.toList());
                } catch (IOException e) {
                    continue;
                }
                for (Path l : links) {
                    try {
                        String t = Files.readSymbolicLink(l).toString();
                        if (t.startsWith(dir.toString())) {
                            out.add(p.getFileName() + " " + l.getFileName() + " -> " + t + " ("
                                    + Files.readString(p.resolve("comm")).trim() + ")");
                        }
                    } catch (IOException e) {
                        // gone
                    }
                }
            }
        } catch (IOException e) {
            out.add(e.toString());
        }
        return out;
    }

    @Test
    void chaosSoak() throws Exception {
        mp = Edges.newDir("chaos-");
        Random rnd = new Random(Long.getLong("fuseguard.soak.seed", System.nanoTime()));
        // The heap is committed and touched from the start: the resident memory then changes only with what the
        // daemon holds outside the heap (threads, buffers, code).
        daemon = new DaemonProcess(Edges.java(List.of("-XX:+UseSerialGC", "-Xms384m", "-Xmx384m",
                "-XX:+AlwaysPreTouch"), ChaosDaemon.class, mp.toString()));
        connection = Long.parseLong(daemon.expectLine("READY", Duration.ofSeconds(30)).split(" ")[1]);
        assertThat(connection).isNotNegative();

        // Warm-up: the same chaos, briefly, so that the baseline is that of a daemon that has run it.
        Duration warmup = Duration.ofSeconds(Math.max(6, SOAK.toSeconds() / 10));
        for (int i = 0; i < CLIENTS; i++) {
            startClient(rnd, STALL_PERCENT);
        }
        Thread.sleep(warmup.toMillis() / 3);
        daemon.send("arm");
        Thread.sleep(warmup.toMillis() / 3);
        daemon.send("release");
        Thread.sleep(warmup.toMillis() / 3);
        stopAll(STUCK);
        Map<String, Long> baseline = quiesce();
        System.out.printf("chaos soak baseline (after %d s warm-up): %s%n", warmup.toSeconds(), baseline);

        // The soak.
        probe = new ChaosClient("probe", List.of("probe", "20"));
        for (int i = 0; i < CLIENTS; i++) {
            startClient(rnd, STALL_PERCENT);
        }
        long start = System.nanoTime();
        long end = start + SOAK.toNanos();
        long nextToggle = start + 2000_000_000L;
        long nextKill = start + 1500_000_000L;
        long nextSignal = start + 500_000_000L;
        long nextCheck = start + 1000_000_000L;
        boolean armed = false;
        int arms = 0;
        int kills = 0;
        int signals = 0;
        long maxStuck = 0;
        long maxStalledNow = 0;
        long maxThreads = 0;
        long maxCloseWork = 0;
        long maxKillMs = 0;
        Map<String, Long> dSince = new HashMap<>();
        while (System.nanoTime() < end) {
            Thread.sleep(50);
            long now = System.nanoTime();
            if (now > nextToggle) {
                armed = !armed;
                daemon.send(armed ? "arm" : "release");
                arms += armed ? 1 : 0;
                nextToggle = now + 2000_000_000L + rnd.nextInt(3000) * 1_000_000L;
            }
            if (now > nextKill && !clients.isEmpty()) {
                ChaosClient victim = clients.get(rnd.nextInt(clients.size()));
                victim.killed = true;
                victim.process.destroyForcibly();
                kills++;
                long t0 = System.nanoTime();
                if (!victim.process.waitFor(STUCK.toMillis(), TimeUnit.MILLISECONDS)) {
                    failures.add("client " + victim.id + " (pid " + victim.process.pid() + ") did not die within "
                            + STUCK.toMillis() + " ms of SIGKILL");
                }
                long ms = Edges.ms(t0);
                maxKillMs = Math.max(maxKillMs, ms);
                clients.remove(victim);
                finished.add(victim);
                // What the killed client stored goes: the filesystem's data stays bounded in a long soak.
                Child.Result rm = Child.run(STUCK, "rm", "-rf", mp.resolve("data").resolve(victim.id).toString());
                if (rm.exit() != 0) {
                    failures.add("rm -rf of killed client " + victim.id + "'s files: exit " + rm.exit() + " "
                            + rm.err());
                }
                startClient(rnd, STALL_PERCENT);
                nextKill = now + 1000_000_000L + rnd.nextInt(2000) * 1_000_000L;
            }
            if (now > nextSignal && !clients.isEmpty()) {
                ChaosClient c = clients.get(rnd.nextInt(clients.size()));
                if (c.ops.get() > 0) { // its SIGUSR1 handler is installed (the default action would kill it)
                    Child.run(Duration.ofSeconds(5), "kill", "-USR1", Long.toString(c.process.pid()));
                    signals++;
                }
                nextSignal = now + 300_000_000L + rnd.nextInt(700) * 1_000_000L;
            }
            if (now > nextCheck) {
                nextCheck = now + 1000_000_000L;
                Map<String, Long> s = status();
                maxStuck = Math.max(maxStuck, s.get("stuck"));
                maxStalledNow = Math.max(maxStalledNow, s.get("stalledNow"));
                maxThreads = Math.max(maxThreads, s.get("threads"));
                maxCloseWork = Math.max(maxCloseWork, s.get("closeWork"));
                for (ChaosClient c : clients) {
                    if (!c.process.isAlive()) {
                        failures.add("client " + c.id + " exited on its own with code " + c.process.exitValue());
                        clients.remove(c);
                        finished.add(c);
                        c.killed = true;
                    } else if (c.silentMillis() > STUCK.toMillis()) {
                        failures.add("client " + c.id + " silent for " + c.silentMillis() + " ms: a request was "
                                + "not answered; its tasks: " + io.fuseguard.kernel.Tasks.threads(
                                (int) c.process.pid()));
                        c.killed = true;
                        Edges.kill(c.process);
                        clients.remove(c);
                        finished.add(c);
                    }
                }
                if (probe.silentMillis() > STUCK.toMillis()) {
                    failures.add("the probe has been silent for " + probe.silentMillis() + " ms");
                }
                List<String> d = Edges.descendantsInDState();
                List<String> dTasks = d.stream().map(x -> x.substring(0, x.indexOf(' '))).toList();
                dSince.keySet().retainAll(dTasks);
                for (int i = 0; i < d.size(); i++) {
                    long since = dSince.computeIfAbsent(dTasks.get(i), k -> now);
                    if (now - since > WEDGED.toNanos() && since < Long.MAX_VALUE / 4) {
                        String pid = dTasks.get(i).substring(0, dTasks.get(i).indexOf('/'));
                        String who = clients.stream().filter(c -> Long.toString(c.process.pid()).equals(pid))
                                .map(c -> "client " + c.id).findFirst().orElse("pid " + pid);
                        failures.add(who + ": task " + d.get(i) + " in D state for more than " + WEDGED.toMillis()
                                + " ms; daemon: " + status());
                        dSince.put(dTasks.get(i), Long.MAX_VALUE / 2);
                    }
                }
            }
        }
        Map<String, Long> atEnd = status();
        daemon.send("release");
        stopAll(STUCK);
        probe.stop();
        assertThat(probe.process.waitFor(STUCK.toMillis(), TimeUnit.MILLISECONDS)).as("probe stopped").isTrue();
        Map<String, Long> after = quiesce();

        // Figures.
        long ops = 0;
        long verified = 0;
        long eintr = 0;
        long hidden = 0;
        long shortWrites = 0;
        Map<String, Long> errnos = new HashMap<>();
        for (ChaosClient c : finished) {
            ops += c.ops.get();
            synchronized (c.errnos) {
                c.errnos.forEach((k, v) -> errnos.merge(k, v, Long::sum));
            }
            failures.addAll(c.problems);
            if (c.done != null) {
                verified += Long.parseLong(c.done.replaceAll(".*verified=(\\d+).*", "$1"));
                eintr += Long.parseLong(c.done.replaceAll(".*eintr=(\\d+).*", "$1"));
                hidden += Long.parseLong(c.done.replaceAll(".*hidden=(\\d+).*", "$1"));
                shortWrites += Long.parseLong(c.done.replaceAll(".*short=(\\d+).*", "$1"));
            } else if (!c.killed) {
                failures.add("client " + c.id + " never reported DONE");
            }
        }
        failures.addAll(probe.problems);
        List<Double> lat = new ArrayList<>(probe.probeMs);
        double p50 = Edges.percentile(lat, 50);
        double p99 = Edges.percentile(lat, 99);
        double max = Edges.percentile(lat, 100);
        System.out.printf("chaos soak: %d s, %d clients at a time (%d started), %d client operations, %d requests "
                        + "served, %d stalls (%d ignoring interrupts), %d arm/release cycles, %d clients killed, "
                        + "%d signals (%d calls failed EINTR, none of them done), %d bytes verified; .fuse_hidden "
                        + "names seen in listings %d; short (interrupted) writes %d%n", SOAK.toSeconds(), CLIENTS,
                generation, ops, after.get("requests"), after.get("stalls"), after.get("ignoringStalls"), arms, kills,
                signals, eintr, verified, hidden, shortWrites);
        System.out.printf("chaos soak: getattr probe %d samples: p50 %.2f ms, p99 %.2f ms, max %.2f ms (deadline "
                        + "%d ms); most stuck threads at once %d, most stalled handlers %d, most request threads "
                        + "%d, most close-time work pending %d; slowest death of a killed client %d ms%n", lat.size(),
                p50, p99, max, ChaosDaemon.METADATA.toMillis(), maxStuck, maxStalledNow, maxThreads, maxCloseWork,
                maxKillMs);
        System.out.printf("chaos soak: outcomes by operation:errno %s%n", new java.util.TreeMap<>(errnos));
        System.out.printf("chaos soak: at the end of the chaos %s%n", atEnd);
        System.out.printf("chaos soak: baseline %s%nchaos soak: after     %s%n", baseline, after);

        // Nothing wedged: no task in D state, nothing waiting on the connection.
        List<String> d = Edges.descendantsInDState();
        if (!d.isEmpty()) {
            failures.add("tasks in D state at the end: " + d);
        }
        OptionalInt waiting = new FuseControl().waiting(connection);
        if (waiting.isPresent() && waiting.getAsInt() != 0) {
            failures.add("connection " + connection + " has " + waiting.getAsInt() + " requests waiting at the end");
        }
        // Back near the baseline.
        if (after.get("stuck") != 0) {
            failures.add("threads still stuck: " + after.get("stuck"));
        }
        if (after.get("requestThreads") > baseline.get("requestThreads")) {
            failures.add("request threads " + after.get("requestThreads") + " > baseline "
                    + baseline.get("requestThreads"));
        }
        if (after.get("otherThreads") > baseline.get("otherThreads")) {
            failures.add("other JVM threads " + after.get("otherThreads") + " > baseline "
                    + baseline.get("otherThreads"));
        }
        if (after.get("fds") > baseline.get("fds")) {
            failures.add("descriptors " + after.get("fds") + " > baseline " + baseline.get("fds"));
        }
        // Threads the close-time pool keeps for a while (bounded by the pool) are not counted as a leak.
        long osThreadsAllowed = baseline.get("osThreads") + Math.max(0,
                after.get("closeThreads") - baseline.get("closeThreads"))
                + Math.max(0, after.get("inprocessThreads") - baseline.get("inprocessThreads"));
        if (after.get("osThreads") > osThreadsAllowed) {
            failures.add("OS threads " + after.get("osThreads") + " > baseline " + baseline.get("osThreads")
                    + " (+ close-time/in-process pool threads still alive)");
        }
        // The heap is fixed and pre-touched, so what changes is the rest: thread stacks, buffers, code.
        long nonHeapBase = baseline.get("rssKiB") - baseline.get("heapCommittedKiB");
        long nonHeapAfter = after.get("rssKiB") - after.get("heapCommittedKiB");
        System.out.printf("chaos soak: resident memory outside the heap %d KiB -> %d KiB%n", nonHeapBase,
                nonHeapAfter);
        if (nonHeapAfter > nonHeapBase * 5 / 4) {
            failures.add("resident memory outside the heap " + nonHeapAfter + " KiB > 1.25 x baseline "
                    + nonHeapBase + " KiB");
        }
        if (lat.isEmpty()) {
            failures.add("the probe measured nothing");
        } else if (max >= ChaosDaemon.METADATA.toMillis()) {
            failures.add("getattr probe latency reached " + max + " ms, the deadline is "
                    + ChaosDaemon.METADATA.toMillis() + " ms");
        }

        // The daemon stops cleanly.
        long t0 = System.nanoTime();
        daemon.send("quit");
        assertThat(daemon.awaitLine("UNMOUNTED", Duration.ofSeconds(30))).as("the daemon unmounted").isPresent();
        assertThat(daemon.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        System.out.printf("chaos soak: daemon closed and exited %d ms after 'quit'%n", Edges.ms(t0));
        daemon.stderr().lines().filter(l -> l.contains("FuseMount")).forEach(l -> System.out.println("  daemon: "
                + l));
        assertThat(Edges.mountAt(mp)).isEmpty();
        try {
            Edges.assertConnectionEnded(connection);
        } catch (AssertionError e) {
            failures.add(e.getMessage() + "; processes using the mount point: " + holders(mp));
        }

        System.out.printf("chaos soak: %d problem(s)%n", failures.size());
        failures.stream().limit(30).forEach(f -> System.out.println("  " + f));
        assertThat(failures).as("problems found by the chaos soak").isEmpty();
        assertThat(verified).as("bytes verified").isPositive();
    }
}
