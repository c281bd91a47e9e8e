package io.fuseguard.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.nodeguard.Decision;
import io.fuseguard.nodeguard.DecisionJson;
import io.fuseguard.nodeguard.GuardMetrics;
import io.fuseguard.nodeguard.GuardSettings;
import io.fuseguard.nodeguard.MetricsServer;
import io.fuseguard.nodeguard.NodeGuard;
import io.fuseguard.nodeguard.ProcView;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code fuseguard guard}: the node guard. Watches the machine's FUSE connections and aborts those that are
 * provably wedged; every decision is a JSON line on stdout, logs go to stderr.
 */
@Command(name = "guard", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {
            "Watch every FUSE connection of this machine and abort (fusectl) those that are provably wedged:"
                    + " requests wait (or a task is blocked on a file of it) and no live process holds a /dev/fuse"
                    + " descriptor that could answer them (every holder is gone, a zombie or in do_exit), in two"
                    + " scans at least --grace apart. Never touches a mount point: reads /proc, fusectl and the"
                    + " mount table only.",
            "Each decision is one JSON line on stdout (evidence: daemon pids and state, waiting count, blocked"
                    + " tasks with their kernel stack or wchan, action, tasks released); logs go to stderr.",
            "Needs root (fusectl abort, other users' /proc/PID/fd) unless --dry-run, and a readable fusectl (without"
                    + " it no waiting count can be read: the guard refuses to start). Exit codes: 0 ok (also when"
                    + " stopped by SIGTERM), 1 runtime failure (fusectl unreadable, an abort failed with --once),"
                    + " 2 bad input, not root, or a --proc that does not show every process (not the host's pid"
                    + " namespace: run with hostPID, or pass the host's /proc).", ""},
        footer = {"",
            "The opt-in stuck rule (--stuck-limit) also aborts connections whose daemon is ALIVE: when, for the"
                    + " whole limit, requests kept waiting, a task stayed blocked on the connection and no daemon"
                    + " process made a read or write system call. It can abort a daemon that is only slow without"
                    + " making system calls (a long computation, a GC pause, a debugger, a stopped process) or"
                    + " whose work is invisible there; the mount then answers ENOTCONN to everyone until it is"
                    + " remounted, and whatever the daemon had not yet written is lost. Off by default.",
            "Scope every experiment (--under, --pidns) or use --dry-run on shared machines."})
public final class GuardCommand implements Callable<Integer> {
    /** Looked up when first used: picocli builds every subcommand at start, and `mount` must not wait for logging. */
    private static Logger log() {
        return LoggerFactory.getLogger(GuardCommand.class);
    }

    @Spec
    CommandSpec spec;

    @Option(names = "--interval", paramLabel = "TIME", converter = DurationConverter.class,
            description = "time between scans (default 1s, at least 10ms)")
    Duration interval = Duration.ofSeconds(1);

    @Option(names = "--once", description = "scan once (waiting out --grace if a connection needs confirming),"
            + " print the decisions and a summary line, exit; for orchestrators after killing a container")
    boolean once;

    @Option(names = "--dry-run", description = "report what would be aborted; never abort")
    boolean dryRun;

    @Option(names = "--pidns", paramLabel = "PID",
            description = "only connections that block tasks of the pid namespace of process PID (or give the"
                    + " namespace as pid:[INODE], e.g. after its init is gone)")
    String pidns;

    @Option(names = "--under", paramLabel = "PATH",
            description = "only connections mounted at or below PATH, an absolute path (repeatable; compared as"
                    + " text, never resolved); connections without a mount point in --mountinfo are then ignored")
    List<String> under = new ArrayList<>();

    @Option(names = "--grace", paramLabel = "TIME", converter = DurationConverter.class,
            description = "how long a connection must stay without a live reader before it is aborted (default 2s)")
    Duration grace = GuardSettings.DEFAULT_GRACE;

    @Option(names = "--stuck-limit", paramLabel = "TIME", converter = DurationConverter.class,
            description = "OPT-IN, see below: also abort a connection whose daemon is alive but has made no"
                    + " read/write system call for TIME while requests waited and a task was blocked on it")
    Duration stuckLimit;

    @Option(names = "--release-wait", paramLabel = "TIME", converter = DurationConverter.class,
            description = "after an abort, how long to watch the blocked tasks leave (default 2s)")
    Duration releaseWait = Duration.ofSeconds(2);

    @Option(names = "--metrics-port", paramLabel = "PORT",
            description = "serve Prometheus metrics on http://ADDR:PORT/metrics, liveness on /healthz and readiness"
                    + " on /readyz (0: any free port, printed on stderr)")
    Integer metricsPort;

    @Option(names = "--metrics-bind", paramLabel = "ADDR", description = "address for --metrics-port (default "
            + "127.0.0.1, this machine only; 0.0.0.0 for every interface, e.g. in a pod for Prometheus and probes)")
    String metricsBind = MetricsServer.LOOPBACK;

    @Option(names = "--proc", paramLabel = "DIR", description = "procfs root (default /proc; /host/proc in a pod);"
            + " it must show every process of the machine (the host's pid namespace), or the guard refuses to start")
    Path proc = Paths.get("/proc");

    @Option(names = "--own-pid-namespace", description = "accept a --proc that shows only the guard's own pid"
            + " namespace: a sidecar in a Pod with shareProcessNamespace and without hostPID (with --under, scoped"
            + " to mounts whose daemons run in that namespace), or a node that is itself a container (kind, LXC)"
            + " whose FUSE daemons all run inside it; a daemon outside it is invisible")
    boolean ownPidNamespace;

    @Option(names = "--fusectl", paramLabel = "DIR",
            description = "FUSE control directory (default /sys/fs/fuse/connections)")
    Path fusectl = FuseControl.DEFAULT_DIR;

    @Option(names = "--mountinfo", paramLabel = "FILE",
            description = "mount table naming the mount points (default /proc/self/mountinfo; in a pod"
                    + " /host/proc/1/mountinfo for the host's)")
    Path mountinfo = Paths.get("/proc/self/mountinfo");

    /** Creates the command (picocli fills in the options). */
    public GuardCommand() {
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        GuardSettings settings;
        try {
            settings = settings();
        } catch (FuseguardCommand.BadInputException e) {
            err.println("fuseguard: " + e.getMessage());
            err.flush();
            return 2;
        }
        if (!dryRun && !isRoot()) {
            err.println("fuseguard: the guard needs root: aborting a FUSE connection writes "
                    + settings.fusectl() + "/N/abort and other users' /proc/PID/fd are unreadable otherwise"
                    + " (run as root, or use --dry-run to only report)");
            err.flush();
            return 2;
        }
        if (!isRoot()) {
            log().warn("not root: other users' processes cannot be inspected, so nothing can be proved wedged");
        }
        if (ownPidNamespace) {
            log().warn("--own-pid-namespace: {} shows only pid namespace {}; a daemon outside it is invisible, so"
                    + " only mounts served from inside it may be in scope ({})", proc,
                    ProcView.namespaceShown(proc).orElse("(unreadable)"), settings.under());
        }
        if (settings.fusectl().equals(FuseControl.DEFAULT_DIR) && !FuseControl.isMounted()) {
            try {
                FuseControl.ensureMounted();
            } catch (IOException e) {
                err.println("fuseguard: " + e.getMessage());
                err.flush();
                return 1;
            }
        }
        PrometheusMeterRegistry registry = MetricsServer.newRegistry();
        GuardMetrics metrics = new GuardMetrics(registry);
        NodeGuard guard = new NodeGuard(settings, metrics);
        Optional<String> fusectlProblem = guard.fusectlProblem();
        if (fusectlProblem.isPresent()) {
            // without fusectl every connection looks idle: refuse rather than look healthy while guarding nothing
            err.println("fuseguard: the guard cannot read the FUSE control filesystem: " + fusectlProblem.get());
            err.flush();
            return 1;
        }
        if (once) {
            long t0 = System.nanoTime();
            List<Decision> decisions = guard.once();
            for (Decision d : decisions) {
                out.println(d.toJson());
            }
            ObjectNode summary = DecisionJson.mapper().createObjectNode();
            summary.put("type", "summary");
            summary.put("connections", decisions.size());
            summary.put("aborted", decisions.stream().filter(d -> d.action() == Decision.Action.ABORTED).count());
            summary.put("wouldAbort",
                    decisions.stream().filter(d -> d.action() == Decision.Action.WOULD_ABORT).count());
            summary.put("failed", decisions.stream().filter(d -> d.action() == Decision.Action.FAILED).count());
            summary.put("dryRun", dryRun);
            summary.put("elapsedMs", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            out.println(DecisionJson.mapper().writeValueAsString(summary));
            out.flush();
            return decisions.stream().anyMatch(d -> d.action() == Decision.Action.FAILED) ? 1 : 0;
        }

        long started = System.currentTimeMillis();
        long staleAfter = 3 * interval.toMillis() + settings.scanBudget().toMillis();
        MetricsServer server = null;
        if (metricsPort != null) {
            try {
                server = MetricsServer.start(metricsBind, metricsPort, registry, () -> {
                    long last = metrics.lastScanEpochMillis();
                    long now = System.currentTimeMillis();
                    return last == 0 ? now - started < 60_000 : now - last < staleAfter;
                }, guard::notReadyReason);
            } catch (IOException e) {
                err.println("fuseguard: cannot serve metrics on " + metricsBind + ":" + metricsPort + ": "
                        + e.getMessage());
                err.flush();
                return 1;
            }
            log().info("metrics on http://{}:{}/metrics, liveness on /healthz, readiness on /readyz", metricsBind,
                    server.port());
        }
        log().info("guarding FUSE connections every {} ms{}{}{}{}", interval.toMillis(),
                settings.under().isEmpty() ? "" : ", under " + settings.under(),
                settings.pidNamespace().map(n -> ", blocking tasks of " + n).orElse(""),
                dryRun ? ", dry run" : "",
                stuckLimit != null ? ", stuck rule on (" + stuckLimit.toMillis() + " ms)" : "");
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch ended = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stop.set(true);
            try {
                ended.await(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "fuseguard-guard-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        Termination.exitZeroOnSigterm();
        AtomicBoolean announced = new AtomicBoolean();
        try {
            guard.run(interval, d -> {
                out.println(d.toJson());
                out.flush();
            }, () -> {
                // after the first scan (the loop asks before each one): tell systemd (Type=notify) it is up
                if (metrics.lastScanEpochMillis() != 0 && !announced.getAndSet(true)) {
                    SystemdNotify.notify("READY=1\nSTATUS=guarding FUSE connections").ifPresent(
                            why -> log().warn("could not tell systemd the guard is ready: {}", why));
                }
                return stop.get();
            });
        } finally {
            if (server != null) {
                server.close();
            }
            long cpuMs = cpuMillis();
            log().info("guard stopped: {} scans, {} ms CPU in total", (long) registry.get("fuseguard.guard.scans")
                    .counter().count(), cpuMs);
            out.flush();
            ended.countDown();
        }
        return 0;
    }

    private GuardSettings settings() {
        if (interval.compareTo(Duration.ofMillis(10)) < 0) {
            throw new FuseguardCommand.BadInputException("--interval must be at least 10ms");
        }
        if (once && metricsPort != null) {
            throw new FuseguardCommand.BadInputException("--metrics-port needs the periodic mode (not --once)");
        }
        if (metricsPort != null && (metricsPort < 0 || metricsPort > 65535)) {
            throw new FuseguardCommand.BadInputException("--metrics-port must be 0-65535, not " + metricsPort);
        }
        GuardSettings.Builder b = GuardSettings.builder().proc(proc).fusectl(fusectl).mountinfo(mountinfo)
                .dryRun(dryRun).grace(grace).stuckLimit(stuckLimit).releaseWait(releaseWait);
        for (String u : under) {
            if (u.isBlank()) {
                throw new FuseguardCommand.BadInputException("--under needs a path");
            }
            Path p;
            try {
                p = Paths.get(u);
            } catch (InvalidPathException e) {
                throw new FuseguardCommand.BadInputException("--under: not a path: " + u);
            }
            if (!p.isAbsolute()) {
                // compared with the absolute mount points of the mount table, a relative path matches nothing
                throw new FuseguardCommand.BadInputException("--under must be an absolute path, not '" + u + "'");
            }
            b.under(p);
        }
        if (!Files.isDirectory(proc)) {
            throw new FuseguardCommand.BadInputException("--proc: " + proc + " is not a directory");
        }
        if (ownPidNamespace && under.isEmpty()) {
            // A node that is a container itself (kind, LXC, sysbox) never shows the initial pid namespace: its
            // operator vouches that every FUSE daemon of the node runs in this one.
            log().warn("--own-pid-namespace without --under: every FUSE connection is in scope, and one served from "
                    + "outside this pid namespace would look wedged; only for a node that is itself a container "
                    + "whose FUSE daemons all run inside it");
        }
        // "no live holder" proves nothing when /proc does not show every process: refuse rather than abort
        // healthy connections whose daemons it cannot see (a pod without hostPID, --proc=/tmp)
        Optional<String> view = ownPidNamespace ? ProcView.ownNamespaceProblem(proc) : ProcView.hostProblem(proc);
        if (view.isPresent()) {
            throw new FuseguardCommand.BadInputException(view.get());
        }
        if (pidns != null) {
            b.pidNamespace(pidNamespace(pidns));
        }
        if (!Files.isDirectory(fusectl) && !fusectl.equals(FuseControl.DEFAULT_DIR)) {
            throw new FuseguardCommand.BadInputException("--fusectl: " + fusectl + " is not a directory");
        }
        if (!Files.isReadable(mountinfo)) {
            throw new FuseguardCommand.BadInputException("--mountinfo: cannot read " + mountinfo);
        }
        try {
            return b.build();
        } catch (IllegalArgumentException e) {
            throw new FuseguardCommand.BadInputException(e.getMessage());
        }
    }

    private String pidNamespace(String value) {
        String v = value.trim();
        if (v.matches("pid:\\[\\d{1,19}\\]")) {
            return v;
        }
        if (!v.matches("\\d{1,10}") || Long.parseLong(v) < 1 || Long.parseLong(v) > Integer.MAX_VALUE) {
            throw new FuseguardCommand.BadInputException("--pidns: '" + value
                    + "' is neither a process id nor pid:[INODE]");
        }
        Optional<String> ns = NodeGuard.pidNamespaceOf(proc, Integer.parseInt(v));
        if (ns.isEmpty()) {
            throw new FuseguardCommand.BadInputException("--pidns: cannot read the pid namespace of process " + v
                    + " (no such process, or not root)");
        }
        return ns.get();
    }

    private static boolean isRoot() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return false;
        }
    }

    private static long cpuMillis() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) {
            return sun.getProcessCpuTime() / 1_000_000;
        }
        return -1;
    }
}
