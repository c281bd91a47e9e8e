package io.fuseguard.drill;

import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.kernel.TaskInfo;
import io.fuseguard.kernel.Tasks;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs one side of a scenario with real processes and the real kernel, measures how long teardown takes,
 * reads the kernel's evidence when something is stuck, and always cleans up: the FUSE connection is aborted
 * through fusectl, the processes it started are killed by pid, the mount point is detached.
 */
public final class DrillRunner {
    private static final Logger LOG = LoggerFactory.getLogger(DrillRunner.class);
    /** How long a side gets beyond its limit before it counts as stuck (and its time is still measured). */
    private static final Duration OBSERVE_BEYOND_LIMIT = Duration.ofSeconds(3);
    private static final List<String> WEDGE_FUNCTIONS =
            List.of("request_wait_answer", "fuse_flush", "zap_pid_ns_processes", "fuse_simple_request");

    private final Path workDir;
    private final String classPath;

    /** A runner that keeps mount points and daemon logs under {@code workDir}. */
    public DrillRunner(Path workDir) {
        this(workDir, System.getProperty("java.class.path"));
    }

    /** A runner whose daemons run with the given class path. */
    public DrillRunner(Path workDir, String classPath) {
        this.workDir = workDir;
        this.classPath = classPath;
    }

    /** Whether this machine can run the drill, or why not. */
    public static Optional<String> unavailableReason() {
        Optional<String> fuse = io.fuseguard.junit.FuseAvailability.unavailableReason();
        if (fuse.isPresent()) {
            return fuse;
        }
        if (!isRoot()) {
            return Optional.of("the drill needs root (pid namespaces, fusectl)");
        }
        if (!Files.isExecutable(Path.of("/usr/bin/unshare")) && !Files.isExecutable(Path.of("/bin/unshare"))) {
            return Optional.of("unshare (util-linux) is not installed");
        }
        return Optional.empty();
    }

    private static boolean isRoot() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    /** Runs one scenario with {@code plain} (jnr-fuse) or {@code fuseguard}. */
    public Outcome run(Scenario scenario, String impl) throws IOException, InterruptedException {
        return run(scenario, impl, List.of());
    }

    /**
     * Runs one scenario with {@code plain} (jnr-fuse) or {@code fuseguard}, its daemon given these arguments
     * besides the scenario's own (such as {@code policy=bounded} or {@code self=allow}, see {@link DrillDaemon}).
     */
    public Outcome run(Scenario scenario, String impl, List<String> daemonArgs) throws IOException,
            InterruptedException {
        Path dir = Files.createDirectories(workDir).resolve(scenario.name().toLowerCase() + "-" + impl + "-"
                + System.nanoTime());
        Files.createDirectories(dir);
        Path mp = Files.createDirectory(dir.resolve("mnt"));
        Side side = new Side(scenario, impl, mp, dir, daemonArgs);
        try {
            return side.run();
        } catch (IOException e) {
            throw new IOException(e.getMessage() + side.diagnosis(), e);
        } finally {
            side.cleanUp();
        }
    }

    /** One run: the processes it started and what it found. */
    private final class Side {
        final Scenario scenario;
        final String impl;
        final Path mp;
        final Path dir;
        final List<String> daemonArgs;
        final List<Process> started = new ArrayList<>();
        final Set<Integer> tree = new LinkedHashSet<>();
        OptionalLong connection = OptionalLong.empty();
        int mountNamespacePid;

        Side(Scenario scenario, String impl, Path mp, Path dir, List<String> daemonArgs) {
            this.scenario = scenario;
            this.impl = impl;
            this.mp = mp;
            this.dir = dir;
            this.daemonArgs = List.copyOf(daemonArgs);
        }

        List<String> daemonCommand(String... extra) {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                    .toString(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", classPath,
                    DrillDaemon.class.getName(), impl, mp.toString()));
            cmd.addAll(List.of(extra));
            cmd.addAll(daemonArgs);
            return cmd;
        }

        Process start(List<String> cmd) throws IOException {
            Process p = new ProcessBuilder(cmd).redirectError(dir.resolve("daemon-" + started.size() + ".log")
                    .toFile()).start();
            started.add(p);
            return p;
        }

        Outcome run() throws IOException, InterruptedException {
            return switch (scenario) {
                case OWN_FILE_KILL -> ownFileKill();
                case NAMESPACE_KILL, NAMESPACE_SIGTERM -> namespace(scenario == Scenario.NAMESPACE_SIGTERM,
                        "hold", "clients=3");
                // The indexer makes one pass, keeps index.db open and waits (a minute) before the next, so the kill
                // finds it holding its file, not in the middle of a request to its own mount.
                case NDRIVE_SEED -> namespace(false, "fs=ndrive", "store=" + dir.resolve("store"), "indexer",
                        "indexer-interval-ms=60000", "clients=3");
                case NDRIVE_KILL -> namespace(false, "fs=ndrive", "store=" + dir.resolve("store"), "indexer",
                        "indexer-interval-ms=60000", "clients=3", "stall-upload");
                case STALLED_FLUSH_KILL -> stalledFlush();
                case SELF_ACCESS -> selfAccess();
                case DAEMON_DEATH -> daemonDeath();
            };
        }

        /**
         * Three clients read a file, write through a descriptor opened before the kill and append to files by
         * name, for 8 s; after 4 s the filesystem's process (plain: the daemon; fuseguard: the supervised worker) is
         * killed with SIGKILL. Measured: the clients' errors, and the time from the kill to the next answer.
         */
        Outcome daemonDeath() throws IOException, InterruptedException {
            Path source = Files.createDirectories(dir.resolve("src"));
            Files.write(source.resolve("data"), new byte[64 * 1024]);
            Path pidFile = dir.resolve("worker.pid");
            boolean supervised = impl.equals("fuseguard");
            List<String> args = new ArrayList<>(List.of("fs=directory", "source=" + source));
            if (supervised) {
                args.addAll(List.of("supervise", "pid-file=" + pidFile));
            }
            Process daemon = start(daemonCommand(args.toArray(String[]::new)));
            awaitLine(daemon, "READY", Duration.ofSeconds(60));
            mountNamespacePid = (int) daemon.pid();
            findConnection();
            List<Path> outputs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                String m = quote(mp.toString());
                String script = "end=$(( $(date +%s) + 8 )); ok=0; err=0; exec 3>>" + m + "/held-" + i + " || exit 3; "
                        + "while [ $(date +%s) -lt $end ]; do if cat " + m + "/data >/dev/null 2>&1 && echo x >&3 "
                        + "2>/dev/null && echo y 2>/dev/null >>" + m + "/log-" + i + "; then ok=$((ok+1)); "
                        + "else err=$((err+1)); fi; done; echo \"ok=$ok err=$err\"";
                Path out = dir.resolve("client-" + i + ".out");
                outputs.add(out);
                Process c = new ProcessBuilder("sh", "-c", script).redirectOutput(out.toFile())
                        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
                started.add(c);
            }
            Thread.sleep(4000); // the clients are busy; a supervised mount's standby is warm
            int victim = supervised ? Integer.parseInt(Files.readString(pidFile).trim()) : (int) daemon.pid();
            long t0 = System.nanoTime();
            signal(victim, "KILL");
            Process probe = new ProcessBuilder("timeout", "10", "cat", mp.resolve("data").toString())
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectErrorStream(false).start();
            String probeError = new String(probe.getErrorStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            boolean served = probe.waitFor(15, TimeUnit.SECONDS) && probe.exitValue() == 0;
            long pause = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            long ok = 0;
            long errors = 0;
            for (int i = 0; i < 3; i++) {
                Process c = started.get(started.size() - 3 + i);
                if (!c.waitFor(30, TimeUnit.SECONDS)) {
                    errors++;
                    continue;
                }
                String line = Files.readString(outputs.get(i)).trim();
                java.util.regex.Matcher mm = java.util.regex.Pattern.compile("ok=(\\d+) err=(\\d+)").matcher(line);
                if (mm.find()) {
                    ok += Long.parseLong(mm.group(1));
                    errors += Long.parseLong(mm.group(2));
                } else {
                    errors++; // it could not even open its file
                }
            }
            snapshotTree(daemon);
            String detail = errors + " client errors in " + (ok + errors) + " operations; "
                    + (served ? "next answer " + pause + " ms after the kill, the mount lives on"
                    : "the mount is lost (" + (probeError.isEmpty() ? "no answer" : probeError.replaceAll(
                    "^cat: [^:]*: ", "")) + ")");
            return new Outcome(scenario, impl, served && errors == 0 && pause <= scenario.limit().toMillis(),
                    served ? pause : -1, List.of(), "", -1, detail);
        }

        Outcome ownFileKill() throws IOException, InterruptedException {
            Process daemon = start(daemonCommand("hold"));
            awaitLine(daemon, "READY", Duration.ofSeconds(30));
            mountNamespacePid = (int) daemon.pid();
            findConnection();
            snapshotTree(daemon);
            daemon.destroyForcibly();
            return measure(daemon);
        }

        Outcome namespace(boolean sigterm, String... args) throws IOException, InterruptedException {
            List<String> inner = daemonCommand(args);
            String script = String.join(" ", inner.stream().map(DrillRunner::quote).toList()) + " & wait";
            Process unshare = start(List.of("unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script));
            awaitLine(unshare, "READY", Duration.ofSeconds(30));
            int daemonPid = findDescendant(unshare, "java");
            mountNamespacePid = daemonPid;
            findConnection();
            snapshotTree(unshare);
            if (sigterm) {
                signal(daemonPid, "TERM");
            } else {
                int init = (int) unshare.children().findFirst().orElseThrow().pid();
                signal(init, "KILL");
            }
            return measure(unshare);
        }

        Outcome stalledFlush() throws IOException, InterruptedException {
            Process daemon = start(daemonCommand("stall-flush", "flush-deadline-ms=2000"));
            awaitLine(daemon, "READY", Duration.ofSeconds(30));
            mountNamespacePid = (int) daemon.pid();
            findConnection();
            String dd = "dd if=/dev/zero of=" + quote(mp.resolve("stall-flush").toString())
                    + " bs=1 count=1 conv=notrunc; true";
            Process unshare = start(List.of("unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", dd));
            long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            // Mid-close means waiting in FLUSH itself (an earlier LOOKUP or OPEN wait is killable).
            while (System.nanoTime() < until && taskWaitingInFlush(unshare).isEmpty()) {
                Thread.sleep(10);
            }
            if (taskWaitingInFlush(unshare).isEmpty()) {
                return new Outcome(scenario, impl, false, -1, List.of(), "", -1,
                        "the client never got to wait for FLUSH");
            }
            snapshotTree(unshare);
            int init = (int) unshare.children().findFirst().orElseThrow().pid();
            signal(init, "KILL");
            return measure(unshare);
        }

        Outcome selfAccess() throws IOException, InterruptedException {
            Process daemon = start(daemonCommand("self-open"));
            String line = awaitLine(daemon, "SELF_OPEN", Duration.ofSeconds(30));
            boolean exited = daemon.waitFor(10, TimeUnit.SECONDS);
            String log = Files.readString(dir.resolve("daemon-0.log"));
            boolean refused = line.contains("refused") && line.contains("Resource deadlock avoided");
            boolean explained = log.contains("EDEADLK") && log.contains("inProcess()");
            String detail = line.replace("SELF_OPEN ", "") + (explained ? "; the log says why" : "");
            return new Outcome(scenario, impl, refused && explained && exited, exited ? 0 : -1, List.of(), "",
                    -1, detail);
        }

        /** Waits for every process of the scenario to end; on a wedge, collects evidence and aborts. */
        Outcome measure(Process root) throws InterruptedException {
            long t0 = System.nanoTime();
            long limit = scenario.limit().plus(OBSERVE_BEYOND_LIMIT).toNanos();
            while (System.nanoTime() - t0 < limit && !allGone(root)) {
                Thread.sleep(5);
            }
            if (allGone(root)) {
                long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
                int waiting = connection.isPresent()
                        ? new FuseControl().waiting(connection.getAsLong()).orElse(0) : 0;
                return new Outcome(scenario, impl, ms <= scenario.limit().toMillis() && waiting == 0, ms, List.of(),
                        "", -1, "all processes gone, " + waiting + " requests waiting");
            }
            List<String> stuck = new ArrayList<>();
            StringBuilder evidence = new StringBuilder();
            for (int pid : tree) {
                for (TaskInfo t : Tasks.threads(pid)) {
                    Optional<String> fn = wedgeFunction(t);
                    if (fn.isPresent() || t.isWaitingInFuse()) {
                        stuck.add(t.pid() + "/" + t.tid() + " " + t.comm() + " " + t.state() + " in "
                                + fn.orElse(t.wchan()));
                        fn.ifPresent(f -> {
                            if (evidence.indexOf(f) < 0) {
                                evidence.append(evidence.length() == 0 ? "" : ", ").append(f);
                            }
                        });
                    }
                }
            }
            if (connection.isPresent()) {
                new FuseControl().waiting(connection.getAsLong()).ifPresent(w -> {
                    if (w > 0) {
                        evidence.append(evidence.length() == 0 ? "" : ", ").append("fusectl waiting=").append(w);
                    }
                });
            }
            long recovery = abortAndAwait(root);
            return new Outcome(scenario, impl, false, -1, stuck, evidence.toString(), recovery,
                    recovery >= 0 ? "released by fusectl abort" : "still stuck after abort");
        }

        Optional<String> wedgeFunction(TaskInfo t) {
            List<String> stack = t.kernelStack();
            for (String f : WEDGE_FUNCTIONS) {
                if (stack.stream().anyMatch(s -> s.contains(f)) || t.wchan().contains(f)) {
                    return Optional.of(f);
                }
            }
            return Optional.empty();
        }

        long abortAndAwait(Process root) throws InterruptedException {
            if (connection.isEmpty()) {
                return -1;
            }
            long t0 = System.nanoTime();
            try {
                FuseControl.ensureMounted();
                new FuseControl().abort(connection.getAsLong());
            } catch (IOException e) {
                LOG.warn("abort of connection {} failed: {}", connection.getAsLong(), e.getMessage());
                return -1;
            }
            long until = t0 + Duration.ofSeconds(10).toNanos();
            while (System.nanoTime() < until && !allGone(root)) {
                Thread.sleep(5);
            }
            return allGone(root) ? TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0) : -1;
        }

        boolean allGone(Process root) {
            if (root.isAlive()) {
                return false;
            }
            for (int pid : tree) {
                Optional<Character> s = Tasks.state(pid);
                if (s.isPresent() && s.get() != 'Z') {
                    return false;
                }
            }
            return true;
        }

        void snapshotTree(Process root) {
            tree.add((int) root.pid());
            tree.addAll(Tasks.descendants((int) root.pid()));
        }

        Optional<TaskInfo> taskWaitingInFlush(Process root) {
            List<Integer> pids = new ArrayList<>(Tasks.descendants((int) root.pid()));
            pids.add((int) root.pid());
            return pids.stream().flatMap(p -> Tasks.threads(p).stream())
                    .filter(t -> t.isWaitingInFuse() && (t.wchan().contains("flush")
                            || t.kernelStack().stream().anyMatch(f -> f.contains("fuse_flush"))))
                    .findFirst();
        }

        void findConnection() throws IOException {
            String text = Files.readString(Path.of("/proc", Integer.toString(mountNamespacePid), "mountinfo"));
            connection = new MountTable(text).findByMountPoint(mp).map(MountEntry::connectionId)
                    .map(OptionalLong::of).orElse(OptionalLong.empty());
        }

        int findDescendant(Process root, String comm) throws InterruptedException {
            long until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
            while (System.nanoTime() < until) {
                for (int pid : Tasks.descendants((int) root.pid())) {
                    if (Tasks.stat(pid).map(s -> s.comm().equals(comm)).orElse(false)) {
                        return pid;
                    }
                }
                Thread.sleep(10);
            }
            throw new IllegalStateException("no " + comm + " process below " + root.pid());
        }

        /** What the side's processes were doing (for a daemon that never got ready): log tails, kernel waits. */
        String diagnosis() {
            StringBuilder sb = new StringBuilder();
            for (Process p : started) {
                tree.add((int) p.pid());
                tree.addAll(Tasks.descendants((int) p.pid()));
            }
            for (int pid : tree) {
                for (TaskInfo t : Tasks.threads(pid)) {
                    if (t.state() == 'D' || t.isWaitingInFuse()) {
                        sb.append("\n  task ").append(t.pid()).append('/').append(t.tid()).append(' ')
                                .append(t.comm()).append(' ').append(t.state()).append(" in ").append(t.wchan());
                    }
                }
            }
            for (int i = 0; i < started.size(); i++) {
                try {
                    List<String> lines = Files.readAllLines(dir.resolve("daemon-" + i + ".log"));
                    sb.append("\n  daemon-").append(i).append(".log (last lines):");
                    lines.subList(Math.max(0, lines.size() - 15), lines.size())
                            .forEach(l -> sb.append("\n    ").append(l));
                } catch (IOException e) {
                    // no log
                }
            }
            return sb.toString();
        }

        /** Abort, kill what we started (by pid), detach, remove. Never blocks on the mount. */
        void cleanUp() {
            try {
                if (connection.isPresent() && new FuseControl().exists(connection.getAsLong())) {
                    new FuseControl().abort(connection.getAsLong());
                }
            } catch (IOException e) {
                LOG.warn("cleanup abort failed: {}", e.getMessage());
            }
            for (int pid : tree) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            for (Process p : started) {
                p.destroyForcibly();
                try {
                    p.waitFor(5, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            try {
                if (MountTable.load().findByMountPoint(mp).isPresent()) {
                    new ProcessBuilder("umount", "-l", mp.toString()).start().waitFor(5, TimeUnit.SECONDS);
                }
                if (MountTable.load().findByMountPoint(mp).isEmpty()) {
                    try (Stream<Path> s = Files.walk(dir)) {
                        s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                    }
                }
            } catch (IOException e) {
                LOG.warn("cleanup of {} failed: {}", mp, e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static String awaitLine(Process p, String prefix, Duration timeout) throws IOException, InterruptedException {
        CompletableFuture<String> line = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                    if (l.startsWith(prefix)) {
                        line.complete(l);
                    }
                }
                line.completeExceptionally(new IOException("process ended without printing " + prefix));
            } catch (IOException e) {
                line.completeExceptionally(e);
            }
        }, "drill-stdout-" + p.pid());
        reader.setDaemon(true);
        reader.start();
        try {
            return line.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IOException("daemon failed: " + e.getCause().getMessage(), e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IOException("daemon did not print " + prefix + " within " + timeout.toSeconds() + " s");
        }
    }

    static void signal(int pid, String sig) throws IOException, InterruptedException {
        new ProcessBuilder("kill", "-" + sig, Integer.toString(pid)).start().waitFor(5, TimeUnit.SECONDS);
    }

    static String quote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
