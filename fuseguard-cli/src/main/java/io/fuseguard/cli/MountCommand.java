package io.fuseguard.cli;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.examples.passthrough.PassthroughFs;
import io.fuseguard.examples.upload.Backend;
import io.fuseguard.examples.upload.CachedUploadFs;
import io.fuseguard.examples.upload.DirectoryBackend;
import io.fuseguard.examples.upload.FaultInjectingBackend;
import io.fuseguard.examples.upload.S3Backend;
import io.fuseguard.examples.upload.S3Location;
import io.fuseguard.examples.upload.UploadLayout;
import io.fuseguard.internal.log.Log;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.MountException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
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
                "  upload       ndrive-style: local cache, uploaded after close to a backend",
                "               directory or an S3 bucket (--backend s3://BUCKET[/PREFIX],",
                "               --endpoint URL for MinIO/S3Proxy; AWS credentials from the",
                "               environment, ~/.aws or the instance). Regular files and",
                "               directories only: symlinks, hard links, FIFOs, sockets and",
                "               devices are refused with EPERM. Mode, owner and times live in",
                "               the cache (kept across restarts), not in the backend",
                "  passthrough  mirrors a host directory (fd-relative calls beneath it; new",
                "               entries owned as the host would make them for the caller)"})
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

    @Option(names = "--backend", paramLabel = "DIR|s3://BUCKET[/PREFIX]", description = "upload: backend "
            + "directory, or an S3 bucket and optional key prefix")
    String backend;

    @Option(names = "--create-backend", description = "upload: create the --backend directory if it does not "
            + "exist (without it a missing directory is refused: a mistyped store would start empty)")
    boolean createBackend;

    @Option(names = "--endpoint", paramLabel = "URL", description = "upload, s3: S3-compatible endpoint such as "
            + "http://127.0.0.1:9000 (path-style access; default: AWS S3)")
    String endpoint;

    @Option(names = "--region", paramLabel = "REGION", description = "upload, s3: signing region (default "
            + "us-east-1)")
    String region;

    @Option(names = "--s3-call-timeout", paramLabel = "TIME", converter = DurationConverter.class,
            description = "upload, s3: time every S3 request gets, retries included, before its body "
                    + "(default 15s); past it the request is aborted and the upload retried later")
    Duration s3CallTimeout;

    @Option(names = "--s3-min-rate", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "upload, s3: slowest transfer rate per second a request body is given time for "
                    + "(default 512k)")
    Long s3MinRate;

    @Option(names = "--backend-latency", paramLabel = "TIME", converter = DurationConverter.class,
            description = "upload: latency added to every backend call")
    Duration backendLatency;

    @Option(names = "--backend-stall", description = "upload: uploads stall after their first chunk until the "
            + "daemon stops")
    boolean backendStall;

    @Option(names = "--backend-fail", description = "upload: every upload fails (retried, then parked)")
    boolean backendFail;

    /** The upload filesystem's backend: closed after the filesystem, which does not own it. */
    private Backend uploadBackend;

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
            closeBackend();
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
                if (fs instanceof AutoCloseable c) {
                    c.close();
                }
                closeBackend();
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
                closeBackend();
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
            // Every kind may interrupt a handler whose request was answered for it: passthrough and upload keep
            // plain descriptors per open file, which an interrupt leaves alone (a FileChannel would close for
            // good), and upload's backend calls stop when interrupted.
            b.interruptStalledHandlers(true);
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
        requireOnlyFor(Kind.upload, createBackend ? Boolean.TRUE : null, "--create-backend");
        requireOnlyFor(Kind.upload, endpoint, "--endpoint");
        requireOnlyFor(Kind.upload, region, "--region");
        requireOnlyFor(Kind.upload, s3CallTimeout, "--s3-call-timeout");
        requireOnlyFor(Kind.upload, s3MinRate, "--s3-min-rate");
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
                Backend be = withFaults(uploadBackend());
                uploadBackend = be;
                try {
                    Files.createDirectories(cache);
                    return new CachedUploadFs(cache, be);
                } catch (IOException | RuntimeException e) {
                    closeBackend();
                    throw e;
                }
        }
    }

    /** The backend named by --backend: a directory, or an S3 bucket checked before anything is mounted. */
    private Backend uploadBackend() throws IOException {
        if (!S3Location.isS3(backend)) {
            String s3Only = endpoint != null ? "--endpoint" : region != null ? "--region"
                    : s3CallTimeout != null ? "--s3-call-timeout" : s3MinRate != null ? "--s3-min-rate" : null;
            if (s3Only != null) {
                throw new FuseguardCommand.BadInputException(s3Only
                        + " needs an S3 backend (--backend s3://BUCKET[/PREFIX])");
            }
            Path dir = Path.of(backend);
            checkLayout(dir);
            Files.createDirectories(dir);
            return new DirectoryBackend(dir);
        }
        if (createBackend) {
            throw new FuseguardCommand.BadInputException("--create-backend only applies to a directory backend");
        }
        S3Location location;
        try {
            location = S3Location.parse(backend);
        } catch (IllegalArgumentException e) {
            throw new FuseguardCommand.BadInputException("--backend " + backend + ": " + e.getMessage());
        }
        checkLayout(null);
        S3Backend.Builder b = S3Backend.builder(location);
        if (endpoint != null) {
            b.endpoint(endpointUri());
        }
        try {
            if (s3CallTimeout != null) {
                b.callTimeout(s3CallTimeout);
            }
            if (s3MinRate != null) {
                b.minTransferRate(s3MinRate);
            }
        } catch (IllegalArgumentException e) {
            throw new FuseguardCommand.BadInputException(e.getMessage());
        }
        if (region != null) {
            if (!region.matches("[a-z0-9-]+")) {
                throw new FuseguardCommand.BadInputException("--region '" + region + "' is not a region name");
            }
            b.region(region);
        }
        S3Backend s3 = b.build();
        try {
            s3.checkBucket(); // a wrong endpoint or bucket fails now, not at the first upload
        } catch (IOException e) {
            s3.close();
            throw new IOException("--backend " + location + ": " + e.getMessage(), e);
        }
        LOG.info("Backend {} at {}", location, endpoint != null ? endpoint : "AWS S3");
        return s3;
    }

    /**
     * Refuses a layout that cannot work before anything is created (a cache made in the mount point would make it
     * non-empty for good); {@code dir} is the directory backend, null for S3.
     */
    private void checkLayout(Path dir) {
        try {
            UploadLayout.check(mountPoint, cache, dir, createBackend);
        } catch (UploadLayout.BadLayoutException e) {
            throw new FuseguardCommand.BadInputException(e.getMessage());
        }
    }

    private URI endpointUri() {
        try {
            URI u = new URI(endpoint);
            if (u.getScheme() == null || !(u.getScheme().equals("http") || u.getScheme().equals("https"))
                    || u.getHost() == null) {
                throw new FuseguardCommand.BadInputException("--endpoint '" + endpoint + "' is not an http:// or "
                        + "https:// URL with a host");
            }
            return u;
        } catch (URISyntaxException e) {
            throw new FuseguardCommand.BadInputException("--endpoint '" + endpoint + "' is not a URL: "
                    + e.getReason());
        }
    }

    /** The --backend-* fault options, for drills: any backend, directory or S3, can be made slow or broken. */
    private Backend withFaults(Backend be) {
        if (backendLatency == null && !backendStall && !backendFail) {
            return be;
        }
        FaultInjectingBackend f = new FaultInjectingBackend(be);
        f.faults().latency(backendLatency).stallUploads(backendStall).failUploads(backendFail);
        return f;
    }

    private void closeBackend() {
        if (uploadBackend != null) {
            try {
                uploadBackend.close();
            } catch (IOException | RuntimeException e) {
                LOG.warn("closing the backend failed: {}", e.getMessage());
            }
        }
    }

    private void requireOnlyFor(Kind k, Object value, String option) {
        if (value != null && kind != k) {
            throw new FuseguardCommand.BadInputException(option + " only applies to '" + k + "'");
        }
    }
}
