package io.fuseguard.cli;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.log.Log;
import io.fuseguard.metrics.FuseguardMeterBinder;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.MountEnd;
import io.fuseguard.mount.MountException;
import io.fuseguard.mount.Supervisor;
import io.fuseguard.nodeguard.MetricsServer;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * What every {@code fuseguard mount KIND} does once its filesystem is built: mount it, serve metrics if asked,
 * tell systemd it is ready, serve until Ctrl-C or SIGTERM (SIGTERM exits 0), then unmount and close the filesystem
 * and what it holds.
 */
abstract class MountSubcommand implements Callable<Integer> {
    /** fuseguard's own background logging: the logging backend starts off the mount path. */
    private static final Log LOG = Log.of(MountSubcommand.class);

    @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "an existing, empty directory")
    Path mountPoint;

    @Mixin
    MountOptions common;

    /** The kind's name ({@code memory}, ...): the filesystem's fsName and what the logs call it. */
    abstract String kind();

    /** The filesystem, with every kind-specific option checked; bad input is a {@code BadInputException}. */
    abstract FuseFileSystem fileSystem() throws IOException;

    /** Mount options the kind needs besides the user's. */
    List<String> kindMountOptions() {
        return List.of();
    }

    /**
     * Why this kind cannot run supervised, or empty when it can: a worker is replaced, so what the filesystem keeps
     * must live outside it.
     */
    Optional<String> unsupervisable() {
        return Optional.empty();
    }

    /**
     * Refuses bad input that can be told before anything is made (a supervisor checks it before it mounts, so a
     * mistake is one line and exit 2, not a worker that cannot start); nothing by default.
     */
    void check() {
    }

    /** Loads (without side effects) what building this kind's filesystem needs; nothing by default. */
    void warmUp() {
    }

    /** Called once the filesystem is mounted (to hand it the mount's notifier, say); nothing by default. */
    void mounted(FuseFileSystem fs, FuseMount mount) {
    }

    /** Closes what the filesystem uses but does not own (after the filesystem is closed); nothing by default. */
    void closeResources() {
    }

    /** The mount point as given, absolute and normalized. */
    final Path mountPoint() {
        return mountPoint.toAbsolutePath().normalize();
    }

    @Override
    public final Integer call() throws Exception {
        Path mp = mountPoint();
        FuseguardConfig config = common.config(kind(), kindMountOptions());
        if (common.supervise && !Supervisor.isWorker()) {
            check();
            return supervise(mp, config);
        }
        // A standby worker builds nothing until it takes over (the filesystem may open journals, start uploads);
        // it loads what it can meanwhile, so a take-over costs milliseconds.
        if (Supervisor.isWorker()) {
            warmUp();
        }
        Supervisor.awaitTurn();
        FuseFileSystem fs;
        try {
            fs = fileSystem();
        } catch (IOException | RuntimeException e) {
            closeResources();
            throw e;
        }
        FuseMount mount;
        try {
            mount = FuseMount.mount(fs, mp, config);
        } catch (MountException e) {
            closeFileSystem(fs);
            throw e.reason() == MountException.Reason.MOUNT_FAILED
                    || e.reason() == MountException.Reason.NOT_ANSWERING
                    ? e : new FuseguardCommand.BadInputException(e.getMessage());
        }
        mounted(fs, mount);
        MetricsServer metrics = null;
        if (common.metricsPort != null) {
            var registry = MetricsServer.newRegistry();
            FuseguardMeterBinder.builder(mount).latencyBuckets(common.latencyBuckets()).build().bindTo(registry);
            try {
                metrics = MetricsServer.start(common.metricsBind, common.metricsPort, registry, mount::isMounted,
                        () -> notReady(mount));
            } catch (IOException e) {
                mount.close();
                closeFileSystem(fs);
                throw new FuseguardCommand.BadInputException("--metrics-port " + common.metricsPort
                        + ": cannot listen on " + common.metricsBind + ": " + e.getMessage());
            }
            LOG.info("Metrics on http://{}:{}/metrics", common.metricsBind, metrics.port());
        }
        // Said once everything asked for runs: a metrics port that cannot be had unmounts before this line
        LOG.info(Supervisor.isWorker() ? "Serving {} at {} (connection {}) as the worker of its supervisor"
                : "Serving {} at {} (connection {}); Ctrl-C or SIGTERM unmounts", kind(), mp,
                mount.connectionId().isPresent() ? mount.connectionId().getAsLong() : "?");
        // After the unmount (the mount's own hook), stop background work such as uploads.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            mount.close();
            closeFileSystem(fs);
        }, "fuseguard-stop-" + kind()));
        Termination.exitZeroOnSigterm();
        SystemdNotify.notify("READY=1\nSTATUS=serving " + kind() + " at " + mp).ifPresent(
                why -> LOG.warn("could not tell systemd the mount is ready: {}", why));
        mount.awaitUnmount();
        SystemdNotify.notify("STOPPING=1");
        if (metrics != null) {
            metrics.close();
        }
        // Aborted from outside (fuseguard abort, the node guard): a failure, so that a service manager's
        // Restart=on-failure mounts it again; unmounted from outside: what its operator wanted, a clean end.
        return mount.end().orElse(MountEnd.CLOSED) == MountEnd.ABORTED ? 1 : 0;
    }

    /** This process supervises: it mounts, and runs this same command as its workers. */
    private int supervise(Path mp, FuseguardConfig config) throws Exception {
        Optional<String> why = unsupervisable();
        if (why.isPresent()) {
            throw new FuseguardCommand.BadInputException("mount " + kind() + " cannot be supervised: " + why.get());
        }
        Supervisor supervisor;
        try {
            supervisor = Supervisor.start(mp, config, new Supervisor.Options(workerCommand(), !common.noStandby,
                    common.workerPidFile, controlDirectory()));
        } catch (MountException e) {
            throw e.reason() == MountException.Reason.MOUNT_FAILED
                    || e.reason() == MountException.Reason.NOT_ANSWERING
                    ? e : new FuseguardCommand.BadInputException(e.getMessage());
        }
        LOG.info("Supervising {} at {} (worker pid {}); 'fuseguard restart {}' hands over to a new worker, Ctrl-C or "
                + "SIGTERM unmounts", kind(), mp, supervisor.workerPid(), mp);
        Runtime.getRuntime().addShutdownHook(new Thread(supervisor::close, "fuseguard-stop-supervisor"));
        Termination.exitZeroOnSigterm();
        SystemdNotify.notify("READY=1\nMAINPID=" + ProcessHandle.current().pid() + "\nSTATUS=supervising " + kind()
                + " at " + mp).ifPresent(w -> LOG.warn("could not tell systemd the mount is ready: {}", w));
        supervisor.awaitEnd();
        // As an unsupervised daemon: 1 after an abort from outside (Restart=on-failure mounts it again), 0 after an
        // unmount from outside or a stop.
        return supervisor.end().orElse(MountEnd.CLOSED) == MountEnd.ABORTED ? 1 : 0;
    }

    /** Where supervisors put their control sockets: /run/fuseguard as root, else the user's runtime directory. */
    static Path controlDirectory() {
        if (io.fuseguard.internal.sys.Syscalls.getuid() == 0) {
            return Path.of("/run/fuseguard");
        }
        String runtime = System.getenv("XDG_RUNTIME_DIR");
        return runtime != null && !runtime.isBlank() ? Path.of(runtime, "fuseguard")
                : Path.of("/tmp", "fuseguard-" + io.fuseguard.internal.sys.Syscalls.getuid());
    }

    /** This command line as a worker runs it: the same JVM and arguments, without the supervisor's own. */
    private static List<String> workerCommand() {
        List<String> cmd = new java.util.ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(
                Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        List<String> jvm = new java.util.ArrayList<>(
                java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        if (!jvm.contains("-XX:+ExitOnOutOfMemoryError")) {
            jvm.add("-XX:+ExitOnOutOfMemoryError");
        }
        cmd.addAll(jvm);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(FuseguardCommand.class.getName());
        String[] args = FuseguardCommand.arguments;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--supervise") || a.equals("--no-standby")) {
                continue;
            }
            if (a.equals("--worker-pid-file")) {
                i++;
                continue;
            }
            if (a.startsWith("--worker-pid-file=")) {
                continue;
            }
            cmd.add(a);
        }
        return cmd;
    }

    private void closeFileSystem(FuseFileSystem fs) {
        if (fs instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                LOG.warn("closing {} failed: {}", kind(), e.getMessage());
            }
        }
        closeResources();
    }

    /**
     * Why the mount is not ready, or empty when it is: not mounted, or detached from its mount point (a lazy
     * unmount while files were open: the connection lives on for those files only, and /readyz said ready for a
     * mount that no longer was in the mount table). Read from the mount table at each probe, off the request path.
     */
    private static Optional<String> notReady(FuseMount mount) {
        if (!mount.isMounted()) {
            return Optional.of("not mounted");
        }
        java.util.OptionalLong id = mount.connectionId();
        if (id.isPresent()) {
            try {
                if (io.fuseguard.kernel.MountTable.load().findByConnection(id.getAsLong()).isEmpty()) {
                    return Optional.of("detached from " + mount.mountPoint()
                            + " (unmounted lazily): serving only files still open");
                }
            } catch (IOException e) {
                return Optional.of("cannot read the mount table: " + e.getMessage());
            }
        }
        return Optional.empty();
    }
}
