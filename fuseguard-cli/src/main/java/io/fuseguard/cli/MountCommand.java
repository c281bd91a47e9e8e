package io.fuseguard.cli;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.examples.passthrough.PassthroughFs;
import io.fuseguard.examples.upload.CachedUploadFs;
import io.fuseguard.examples.upload.DirectoryBackend;
import io.fuseguard.internal.log.Log;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.MountException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code fuseguard mount}: serves an example filesystem until Ctrl-C or SIGTERM, then unmounts cleanly. */
@Command(name = "mount", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Mounts an example filesystem and serves it until Ctrl-C/SIGTERM.",
                "  memory       in-memory POSIX filesystem",
                "  upload       ndrive-style: local cache, uploaded to a backend directory after close",
                "  passthrough  mirrors a host directory"})
public final class MountCommand implements Callable<Integer> {
    /** fuseguard's own background logging: the logging backend starts off the mount path. */
    private static final Log LOG = Log.of(MountCommand.class);

    /** The example filesystems. */
    enum Kind { memory, upload, passthrough }

    @Parameters(index = "0", paramLabel = "KIND", description = "memory, upload or passthrough")
    Kind kind;

    @Parameters(index = "1", paramLabel = "MOUNTPOINT", description = "an existing, empty directory")
    Path mountPoint;

    @Option(names = "--metadata-deadline", paramLabel = "TIME", converter = DurationConverter.class,
            description = "deadline of metadata requests (default 5s)")
    Duration metadataDeadline;

    @Option(names = "--data-deadline", paramLabel = "TIME", converter = DurationConverter.class,
            description = "deadline of read/write/truncate (default 30s)")
    Duration dataDeadline;

    @Option(names = "--sync-deadline", paramLabel = "TIME", converter = DurationConverter.class,
            description = "deadline of fsync (default 60s)")
    Duration syncDeadline;

    @Option(names = "--flush-policy", paramLabel = "POLICY",
            description = "deferred (default: the kernel never sends FLUSH; the filesystem's flush runs when "
                    + "each file is released), no-flush, or bounded")
    String flushPolicy = "deferred";

    @Option(names = "--flush-deadline", paramLabel = "TIME", converter = DurationConverter.class,
            description = "deadline of FLUSH under the bounded policy (default 5s)")
    Duration flushDeadline;

    @Option(names = "--workers", paramLabel = "N", description = "most request threads running handlers at once "
            + "(default 64)")
    Integer workers;

    @Option(names = "--metrics-port", paramLabel = "PORT", description = "serve Prometheus metrics on "
            + "http://BIND:PORT/metrics (and /healthz) while mounted")
    Integer metricsPort;

    @Option(names = "--metrics-bind", paramLabel = "ADDR", description = "address for --metrics-port (default "
            + "127.0.0.1; 0.0.0.0 for all)")
    String metricsBind = "127.0.0.1";

    @Option(names = "--allow-other", description = "let other users access the mount (with default_permissions)")
    boolean allowOther;

    @Option(names = {"-o", "--option"}, paramLabel = "OPT", description = "extra libfuse mount option (repeatable)")
    List<String> options = new ArrayList<>();

    @Option(names = "--debug", description = "print every request on stderr")
    boolean debug;

    @Option(names = "--capacity", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "memory: capacity (default 1g)")
    Long capacity;

    @Option(names = "--source", paramLabel = "DIR", description = "passthrough: the directory to mirror")
    Path source;

    @Option(names = "--cache", paramLabel = "DIR", description = "upload: local cache directory")
    Path cache;

    @Option(names = "--backend", paramLabel = "DIR", description = "upload: backend directory")
    Path backend;

    @Option(names = "--backend-latency", paramLabel = "TIME", converter = DurationConverter.class,
            description = "upload: latency added to every backend call")
    Duration backendLatency;

    @Option(names = "--backend-stall", description = "upload: uploads stall until the daemon stops")
    boolean backendStall;

    @Option(names = "--backend-fail", description = "upload: every upload fails (retried, then parked)")
    boolean backendFail;

    @Override
    public Integer call() throws Exception {
        Path mp = mountPoint.toAbsolutePath().normalize();
        FuseguardConfig config = config();
        FuseFileSystem fs = fileSystem();
        FuseMount mount;
        try {
            mount = FuseMount.mount(fs, mp, config);
        } catch (MountException e) {
            if (fs instanceof AutoCloseable c) {
                c.close();
            }
            throw e.reason() == MountException.Reason.MOUNT_FAILED
                    || e.reason() == MountException.Reason.NOT_ANSWERING
                    ? e : new FuseguardCommand.BadInputException(e.getMessage());
        }
        LOG.info("Serving {} at {} (connection {}); Ctrl-C or SIGTERM unmounts", kind, mp,
                mount.connectionId().isPresent() ? mount.connectionId().getAsLong() : "?");
        io.fuseguard.nodeguard.MetricsServer metrics = null;
        if (metricsPort != null) {
            var registry = io.fuseguard.nodeguard.MetricsServer.newRegistry();
            new io.fuseguard.metrics.FuseguardMeterBinder(mount).bindTo(registry);
            try {
                metrics = io.fuseguard.nodeguard.MetricsServer.start(metricsBind, metricsPort, registry,
                        mount::isMounted);
            } catch (IOException e) {
                mount.close();
                throw new FuseguardCommand.BadInputException("--metrics-port " + metricsPort + ": cannot listen on "
                        + metricsBind + ": " + e.getMessage());
            }
            LOG.info("Metrics on http://{}:{}/metrics", metricsBind, metricsPort);
        }
        if (fs instanceof AutoCloseable c) {
            // After the unmount (the mount's own hook), stop background work such as uploads.
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                mount.close();
                try {
                    c.close();
                } catch (Exception e) {
                    LOG.warn("closing {} failed: {}", kind, e.getMessage());
                }
            }, "fuseguard-stop-" + kind));
        }
        mount.awaitUnmount();
        if (metrics != null) {
            metrics.close();
        }
        return 0;
    }

    FuseguardConfig config() {
        FuseguardConfig.Builder b = FuseguardConfig.builder().fsName(kind.name()).debug(debug)
                .allowOther(allowOther);
        try {
            if (metadataDeadline != null) {
                b.deadline(OperationKind.METADATA, metadataDeadline);
            }
            if (dataDeadline != null) {
                b.deadline(OperationKind.DATA, dataDeadline);
            }
            if (syncDeadline != null) {
                b.deadline(OperationKind.SYNC, syncDeadline);
            }
            if (flushDeadline != null) {
                b.deadline(OperationKind.FLUSH, flushDeadline);
            }
            b.flushPolicy(switch (flushPolicy) {
                case "deferred" -> FlushPolicy.DEFERRED;
                case "no-flush" -> FlushPolicy.NO_FLUSH;
                case "bounded" -> FlushPolicy.BOUNDED;
                default -> throw new FuseguardCommand.BadInputException("--flush-policy must be deferred, no-flush "
                        + "or bounded, not '" + flushPolicy + "'");
            });
            if (metricsPort != null && (metricsPort < 0 || metricsPort > 65535)) {
                throw new FuseguardCommand.BadInputException("--metrics-port must be between 0 and 65535");
            }
            if (workers != null) {
                b.workerThreads(workers);
            }
            for (String o : options) {
                for (String one : o.split(",")) { // -o a,b as with mount(8)
                    b.mountOption(one);
                }
            }
            if (kind == Kind.passthrough) {
                // the daemon acts as root on the source: the kernel must check callers' permissions, also when
                // allow_other comes as a raw -o option (--allow-other adds this itself)
                b.mountOption("default_permissions");
            }
            // upload keeps FileChannels per open file: an interrupt would close them for good (passthrough
            // keeps plain descriptors, which an interrupt leaves alone).
            b.interruptStalledHandlers(kind != Kind.upload);
            // Settings are checked as a whole when built: a bad value is the user's input, not a failure.
            return b.build();
        } catch (IllegalArgumentException e) {
            throw new FuseguardCommand.BadInputException(e.getMessage());
        }
    }

    private FuseFileSystem fileSystem() throws IOException {
        requireOnlyFor(Kind.passthrough, source, "--source");
        requireOnlyFor(Kind.upload, cache, "--cache");
        requireOnlyFor(Kind.upload, backend, "--backend");
        requireOnlyFor(Kind.memory, capacity, "--capacity");
        switch (kind) {
            case memory:
                return MemoryFs.builder().capacity(capacity != null ? capacity : 1L << 30).build();
            case passthrough:
                if (source == null) {
                    throw new FuseguardCommand.BadInputException("passthrough needs --source DIR");
                }
                if (!Files.isDirectory(source)) {
                    throw new FuseguardCommand.BadInputException("--source " + source + " is not a directory");
                }
                if (source.toAbsolutePath().normalize().startsWith(mountPoint.toAbsolutePath().normalize())) {
                    throw new FuseguardCommand.BadInputException("--source must not be inside the mount point");
                }
                return new PassthroughFs(source);
            case upload:
            default:
                if (cache == null || backend == null) {
                    throw new FuseguardCommand.BadInputException("upload needs --cache DIR and --backend DIR");
                }
                Files.createDirectories(cache);
                Files.createDirectories(backend);
                DirectoryBackend be = new DirectoryBackend(backend);
                if (backendLatency != null) {
                    be.faults().latency(backendLatency);
                }
                be.faults().stallUploads(backendStall);
                be.faults().failUploads(backendFail);
                return new CachedUploadFs(cache, be);
        }
    }

    private void requireOnlyFor(Kind k, Object value, String option) {
        if (value != null && kind != k) {
            throw new FuseguardCommand.BadInputException(option + " only applies to '" + k + "'");
        }
    }
}
