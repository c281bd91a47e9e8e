package io.fuseguard.cli;

import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.metrics.FuseguardMeterBinder;
import io.fuseguard.nodeguard.MetricsServer;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The options every {@code fuseguard mount} kind takes: deadlines, flush policy, request threads, mount options,
 * metrics. Each value is checked here, so an error names the option the user typed, never a setting of
 * {@link FuseguardConfig}.
 */
final class MountOptions {
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
            + "(default 64, at least 2)")
    Integer workers;

    @Option(names = "--allow-other", description = "let other users access the mount (with default_permissions)")
    boolean allowOther;

    @Option(names = {"-o", "--option"}, paramLabel = "OPT", description = "extra mount option, as with mount(8) "
            + "(repeatable, or comma-separated)")
    List<String> options = new ArrayList<>();

    @Option(names = "--debug", description = "print every request on stderr")
    boolean debug;

    @Option(names = "--io-uring", description = "serve requests over io_uring (Linux 6.14+, and only when an "
            + "administrator set the fuse module's enable_uring parameter; otherwise /dev/fuse, said once). Not "
            + "with --supervise. Not faster on the machines measured (docs/design.md)")
    boolean ioUring;

    @Option(names = "--supervise", description = "run the filesystem in a worker process that a supervisor (this "
            + "process) starts again when it dies, and hands over to a new one on 'fuseguard restart': clients see "
            + "a pause, not an error (Linux 6.9+; see docs/supervise.md)")
    boolean supervise;

    @Option(names = "--worker-pid-file", paramLabel = "FILE", description = "with --supervise: a file that always "
            + "holds the active worker's pid")
    java.nio.file.Path workerPidFile;

    @Option(names = "--no-standby", description = "with --supervise: start a worker only when one is needed "
            + "(saves a JVM's memory; a take-over then costs a process start)")
    boolean noStandby;

    @Option(names = "--metrics-port", paramLabel = "PORT", description = "serve Prometheus metrics on "
            + "http://ADDR:PORT/metrics, liveness on /healthz and readiness on /readyz while mounted")
    Integer metricsPort;

    @Option(names = "--metrics-bind", paramLabel = "ADDR", description = "address for --metrics-port (default "
            + "127.0.0.1, this machine only; 0.0.0.0 for every interface)")
    String metricsBind = MetricsServer.LOOPBACK;

    @Option(names = "--latency-buckets", paramLabel = "TIME,...|none", split = ",", hideParamSyntax = true,
            description = "upper bounds of the request latency histogram, ascending (default "
                    + "0.1ms,1ms,10ms,100ms,1s,5s,30s; 'none': count and sum only). Every bucket is one "
                    + "series per operation served")
    List<String> latencyBuckets;

    /** The filesystem's settings; {@code extraOptions} are mount options the kind itself needs. */
    FuseguardConfig config(String fsName, List<String> extraOptions) {
        FuseguardConfig.Builder b = FuseguardConfig.builder().fsName(fsName).debug(debug).allowOther(allowOther);
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
        if (flushDeadline != null && !flushPolicy.equals("bounded")) {
            throw new FuseguardCommand.BadInputException("--flush-deadline applies only to --flush-policy bounded");
        }
        if (metricsPort != null && (metricsPort < 0 || metricsPort > 65535)) {
            throw new FuseguardCommand.BadInputException("--metrics-port must be between 0 and 65535, not "
                    + metricsPort);
        }
        if (metricsPort == null && latencyBuckets != null) {
            throw new FuseguardCommand.BadInputException("--latency-buckets needs --metrics-port");
        }
        if (ioUring && supervise) {
            throw new FuseguardCommand.BadInputException("--io-uring cannot be combined with --supervise: the "
                    + "ring's entries belong to the worker process and die with it, so requests waiting on them "
                    + "would be lost until the kernel resends them");
        }
        b.ioUring(ioUring);
        latencyBuckets(); // checked before anything is mounted
        if (workers != null) {
            if (workers < 2) {
                throw new FuseguardCommand.BadInputException("--workers must be at least 2, not " + workers);
            }
            b.workerThreads(workers);
        }
        for (String o : options) {
            for (String one : o.split(",")) { // -o a,b as with mount(8)
                try {
                    b.mountOption(one);
                } catch (IllegalArgumentException e) {
                    throw new FuseguardCommand.BadInputException("-o " + one + ": " + e.getMessage());
                }
            }
        }
        extraOptions.forEach(b::mountOption);
        // Every kind may interrupt a handler whose request was answered for it: passthrough and upload keep
        // plain descriptors per open file, which an interrupt leaves alone (a FileChannel would close for
        // good), and upload's backend calls stop when interrupted.
        b.interruptStalledHandlers(true);
        try {
            // Settings are checked as a whole when built: a bad value is the user's input, not a failure.
            return b.build();
        } catch (IllegalArgumentException e) {
            throw new FuseguardCommand.BadInputException(UserFacing.optionNames(e.getMessage()));
        }
    }

    /** The histogram's bucket bounds: the defaults, the ones given, or none. */
    List<Duration> latencyBuckets() {
        if (latencyBuckets == null) {
            return FuseguardMeterBinder.DEFAULT_LATENCY_BUCKETS;
        }
        if (latencyBuckets.size() == 1 && latencyBuckets.get(0).equals("none")) {
            return List.of();
        }
        List<Duration> bounds = new ArrayList<>();
        for (String v : latencyBuckets) {
            try {
                bounds.add(DurationConverter.parse(v));
            } catch (RuntimeException e) {
                throw new FuseguardCommand.BadInputException("--latency-buckets: " + e.getMessage());
            }
        }
        for (int i = 1; i < bounds.size(); i++) {
            if (bounds.get(i).compareTo(bounds.get(i - 1)) <= 0) {
                throw new FuseguardCommand.BadInputException("--latency-buckets must be ascending: "
                        + String.join(",", latencyBuckets));
            }
        }
        if (bounds.size() > 30) {
            throw new FuseguardCommand.BadInputException("--latency-buckets: at most 30 buckets, not "
                    + bounds.size());
        }
        return bounds;
    }
}
