package io.fuseguard.nodeguard;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import io.fuseguard.cli.FuseguardCommand;
import io.fuseguard.drill.DrillDaemon;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.testkit.FuseTestSupport;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.kernel.TaskStat;
import io.fuseguard.kernel.Tasks;
import io.fuseguard.testkit.Child;

/**
 * Processes and mounts of one guard test, all under one directory, and their clean-up: the test's own
 * connections are aborted (never anyone else's), every process it started is killed by pid, its mount points
 * are detached.
 */
final class GuardFixture implements AutoCloseable {

    /** The command's own logging configuration (the test class path has two logback-test.xml). */
    private static final String LOGBACK = String.valueOf(GuardFixture.class.getResource("/logback.xml"));

    final Path dir;
    private final List<Process> started = new ArrayList<>();
    private final Set<Integer> extraPids = new LinkedHashSet<>();
    private final List<Path> mountPoints = new ArrayList<>();
    private final Set<Long> connections = new LinkedHashSet<>();

    GuardFixture(String name) throws IOException {
        dir = Files.createTempDirectory(FuseTestSupport.tmpBase(), name + "-");
    }

    static List<String> java(String main, String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dlogback.configurationFile=" + LOGBACK,
                "-cp",
                System.getProperty("java.class.path"), main));
        cmd.addAll(List.of(args));
        return cmd;
    }

    static List<String> guardCommand(String... args) {
        List<String> a = new ArrayList<>(List.of("guard"));
        a.addAll(List.of(args));
        return java(FuseguardCommand.class.getName(), a.toArray(String[]::new));
    }

    Path mountPoint(String name) throws IOException {
        Path mp = Files.createDirectories(dir.resolve(name));
        mountPoints.add(mp);
        return mp;
    }

    /** A started daemon: its process, pid and connection. */
    record Daemon(Process process, int pid, long connection, String ready) {
    }

    Daemon startPlain(Path mp, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("plain", mp.toString()));
        args.addAll(List.of(extra));
        Process p = start(java(DrillDaemon.class.getName(), args.toArray(String[]::new)), "daemon");
        String ready = awaitStdoutLine(p, "READY", Duration.ofSeconds(30));
        return new Daemon(p, (int) p.pid(), awaitConnection(mp, (int) p.pid()), ready);
    }

    Daemon startLeak(Path mp) throws Exception {
        Process p = start(java(LeakDaemon.class.getName(), mp.toString()), "leak-daemon");
        String ready = awaitStdoutLine(p, "READY", Duration.ofSeconds(30));
        String[] f = ready.split(" ");
        extraPids.add(Integer.parseInt(f[2]));
        return new Daemon(p, (int) p.pid(), awaitConnection(mp, (int) p.pid()), ready);
    }

    Process start(List<String> cmd, String log) throws IOException {
        Process p = new ProcessBuilder(cmd).redirectError(dir.resolve(log + "-" + started.size() + ".log").toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        started.add(p);
        return p;
    }

    /** Records a connection as the test's own (cleaned up with an abort). */
    void own(long connection) {
        connections.add(connection);
    }

    long awaitConnection(Path mp, int pidForMountinfo) throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        while (System.nanoTime() < until) {
            Optional<String> text = Optional.empty();
            try {
                text = Optional.of(Files.readString(Path.of("/proc", Integer.toString(pidForMountinfo), "mountinfo"),
                        StandardCharsets.ISO_8859_1));
            } catch (IOException e) {
                // not yet
            }
            Optional<MountEntry> e = text.flatMap(t -> new MountTable(t).findByMountPoint(mp)).filter(MountEntry::isFuse);
            if (e.isPresent()) {
                connections.add(e.get().connectionId());
                return e.get().connectionId();
            }
            Thread.sleep(20);
        }
        throw new IllegalStateException("no FUSE mount at " + mp);
    }

    static int waiting(long connection) {
        return new FuseControl().waiting(connection).orElse(-1);
    }

    static void awaitTrue(String what, Duration limit, java.util.function.BooleanSupplier cond)
            throws InterruptedException {
        long until = System.nanoTime() + limit.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > until) {
                throw new AssertionError("timed out waiting for: " + what);
            }
            Thread.sleep(10);
        }
    }

    /** Whether a thread of the process is blocked in FUSE. */
    static boolean stuckInFuse(int pid) {
        return Tasks.threads(pid).stream().anyMatch(t -> t.isWaitingInFuse());
    }

    static long cpuTicks(int pid) {
        return TaskStat.read(Path.of("/proc", Integer.toString(pid), "stat")).map(s -> s.utime() + s.stime())
                .orElse(-1L);
    }

    /** A guard running periodically, its JSON lines collected with their arrival time. */
    final class Guard {
        final Process process;
        final List<Line> lines = new CopyOnWriteArrayList<>();
        final StringBuilder err = new StringBuilder();
        volatile int metricsPort = -1;

        record Line(long nanos, JsonNode json) {
        }

        Guard(Process p) {
            this.process = p;
            Thread out = new Thread(() -> {
                try (BufferedReader r = reader(p.getInputStream())) {
                    String l;
                    while ((l = r.readLine()) != null) {
                        long t = System.nanoTime();
                        try {
                            lines.add(new Line(t, DecisionJson.mapper().readTree(l)));
                        } catch (IOException e) {
                            synchronized (err) {
                                err.append("NOT JSON ON STDOUT: ").append(l).append('\n');
                            }
                        }
                    }
                } catch (IOException e) {
                    // ended
                }
            }, "guard-stdout");
            Thread errT = new Thread(() -> {
                Pattern port = Pattern.compile("metrics on http://[^:]+:(\\d+)/metrics");
                try (BufferedReader r = reader(p.getErrorStream())) {
                    String l;
                    while ((l = r.readLine()) != null) {
                        Matcher m = port.matcher(l);
                        if (m.find()) {
                            metricsPort = Integer.parseInt(m.group(1));
                        }
                        synchronized (err) {
                            err.append(l).append('\n');
                        }
                    }
                } catch (IOException e) {
                    // ended
                }
            }, "guard-stderr");
            out.setDaemon(true);
            errT.setDaemon(true);
            out.start();
            errT.start();
        }

        Line await(Predicate<JsonNode> p, Duration limit) throws InterruptedException {
            long until = System.nanoTime() + limit.toNanos();
            while (System.nanoTime() < until) {
                for (Line l : lines) {
                    if (p.test(l.json())) {
                        return l;
                    }
                }
                if (!process.isAlive()) {
                    break;
                }
                Thread.sleep(10);
            }
            throw new AssertionError("no such guard line within " + limit + "; lines: " + lines.stream()
                    .map(l -> l.json().toString()).toList() + "; stderr: " + stderr());
        }

        String stderr() {
            synchronized (err) {
                return err.toString();
            }
        }

        String scrape() throws Exception {
            awaitTrue("the metrics port", Duration.ofSeconds(20), () -> metricsPort > 0);
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + metricsPort + "/metrics")).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new AssertionError("metrics answered " + r.statusCode());
            }
            return r.body();
        }

        int healthz() throws Exception {
            return HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + metricsPort + "/healthz")).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode();
        }

        /** SIGTERM, then wait for a clean exit. */
        int stop() throws Exception {
            new ProcessBuilder("kill", "-TERM", Long.toString(process.pid())).start().waitFor(5, TimeUnit.SECONDS);
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return -1;
            }
            return process.exitValue();
        }
    }

    Guard startGuard(String... args) throws IOException {
        Process p = new ProcessBuilder(guardCommand(args))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        started.add(p);
        return new Guard(p);
    }

    /** Runs {@code fuseguard guard ...} to completion; returns the result. */
    static Child.Result guardOnce(String... args) throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(60), guardCommand(args));
        if (r.timedOut()) {
            throw new AssertionError("guard did not finish in 60 s: " + r.err());
        }
        return r;
    }

    static List<JsonNode> jsonLines(String out) throws IOException {
        List<JsonNode> l = new ArrayList<>();
        for (String s : out.split("\n")) {
            if (!s.isBlank()) {
                l.add(DecisionJson.mapper().readTree(s));
            }
        }
        return l;
    }

    /** A Prometheus sample value, e.g. {@code fuseguard_guard_aborted_total}; NaN if absent. */
    static double metric(String text, String name) {
        for (String line : text.split("\n")) {
            if (line.startsWith(name + " ") || line.startsWith(name + "{")) {
                String[] f = line.trim().split("\\s+");
                return Double.parseDouble(f[f.length - 1]);
            }
        }
        return Double.NaN;
    }

    static String awaitStdoutLine(Process p, String prefix, Duration limit) throws Exception {
        BufferedReader r = reader(p.getInputStream());
        java.util.concurrent.CompletableFuture<String> f = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                String l;
                while ((l = r.readLine()) != null) {
                    if (l.startsWith(prefix)) {
                        return l;
                    }
                }
            } catch (IOException e) {
                // ended
            }
            return null;
        });
        String l = f.get(limit.toMillis(), TimeUnit.MILLISECONDS);
        if (l == null) {
            throw new IllegalStateException("process ended without printing " + prefix);
        }
        return l;
    }

    private static BufferedReader reader(InputStream in) {
        return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
    }

    void killLater(int pid) {
        extraPids.add(pid);
    }

    @Override
    public void close() throws Exception {
        FuseControl control = new FuseControl();
        for (long id : connections) {
            try {
                if (control.exists(id)) {
                    control.abort(id);
                }
            } catch (IOException e) {
                // gone meanwhile
            }
        }
        for (int pid : extraPids) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        for (Process p : started) {
            for (int pid : Tasks.descendants((int) p.pid())) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            p.destroyForcibly();
        }
        for (Process p : started) {
            p.waitFor(10, TimeUnit.SECONDS);
        }
        for (Path mp : mountPoints) {
            if (MountTable.load().findByMountPoint(mp).isPresent()) {
                Child.run(Duration.ofSeconds(10), "umount", "-l", mp.toString());
            }
        }
        boolean mounted = false;
        for (Path mp : mountPoints) {
            mounted |= MountTable.load().findByMountPoint(mp).isPresent();
        }
        if (!mounted) {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
