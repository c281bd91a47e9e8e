package io.fuseguard.metrics;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.Operation;
import io.fuseguard.mount.FuseMount;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Publishes a mount's figures to a Micrometer registry (Micrometer is an optional dependency of fuse-core: add
 * {@code io.micrometer:micrometer-core} to use this class). Every meter is tagged {@code mount} (the mount point,
 * unique on a machine; {@link Builder#mountLabel} changes it) and {@code fs} (the filesystem's
 * {@code fsName}). Prometheus names in brackets:
 * <ul>
 *   <li>{@code fuseguard.requests} [{@code fuseguard_requests_total}], {@code fuseguard.request.errors}
 *       [{@code fuseguard_request_errors_total}] (answers that report a failure) and
 *       {@code fuseguard.request.expected.errors} [{@code fuseguard_request_expected_errors_total}] (answers such
 *       as ENOENT that are normal, see {@link MountMetrics#EXPECTED}): counters, tag {@code op};</li>
 *   <li>{@code fuseguard.request.duration} [{@code fuseguard_request_duration_seconds}, with {@code _bucket},
 *       {@code _count}, {@code _sum} and {@code _max}]: time in the filesystem's handler, tag {@code op}, in the
 *       buckets of {@link Builder#latencyBuckets} ({@link #DEFAULT_LATENCY_BUCKETS} unless set);</li>
 *   <li>{@code fuseguard.events} [{@code fuseguard_events_total}] (tag {@code type}): timeouts, interrupts,
 *       overloads, refused self-access, late results, failed handlers, close-time work late/failed/unfinished,
 *       stuck-thread cap;</li>
 *   <li>gauges {@code fuseguard.requests.inflight}, {@code fuseguard.threads}, {@code fuseguard.threads.stuck},
 *       {@code fuseguard.handles.open}, {@code fuseguard.closework.pending} (same names with {@code _} in
 *       Prometheus).</li>
 * </ul>
 * The series of an operation appear when the mount first serves it (at most one set per operation), so an idle
 * mount publishes a few dozen series, not one per operation and bucket.
 */
public final class FuseguardMeterBinder implements MeterBinder {
    /** Latency buckets unless {@link Builder#latencyBuckets} says otherwise: 100 µs to 30 s, 7 buckets. */
    public static final List<Duration> DEFAULT_LATENCY_BUCKETS = List.of(Duration.ofNanos(100_000),
            Duration.ofMillis(1), Duration.ofMillis(10), Duration.ofMillis(100), Duration.ofSeconds(1),
            Duration.ofSeconds(5), Duration.ofSeconds(30));

    private static final Operation[] OPS = Operation.values();

    private final FuseMount mount;
    private final String mountLabel;
    private final List<Duration> buckets;

    /**
     * A binder for {@code mount} with the defaults (label: the mount point; {@link #DEFAULT_LATENCY_BUCKETS}).
     *
     * @param mount the mount
     */
    public FuseguardMeterBinder(FuseMount mount) {
        this(builder(mount));
    }

    private FuseguardMeterBinder(Builder b) {
        this.mount = b.mount;
        this.mountLabel = b.mountLabel != null ? b.mountLabel : b.mount.mountPoint().toString();
        this.buckets = b.buckets;
    }

    /**
     * A builder for a binder of {@code mount}.
     *
     * @param mount the mount
     * @return the builder
     */
    public static Builder builder(FuseMount mount) {
        return new Builder(Objects.requireNonNull(mount, "mount"));
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        MountMetrics m = mount.metrics();
        Tags base = Tags.of("mount", mountLabel, "fs", mount.config().mount().fsName());
        AtomicReferenceArray<Timer> timers = new AtomicReferenceArray<>(OPS.length);
        for (Operation op : OPS) {
            if (m.requests(op) > 0) {
                timers.set(op.ordinal(), register(registry, m, base, op));
            }
        }
        for (GuardEvent.Type type : GuardEvent.Type.values()) {
            FunctionCounter.builder("fuseguard.events", m, x -> x.events(type))
                    .tags(base.and("type", type.name().toLowerCase(Locale.ROOT)))
                    .description("what the guard did instead of letting a request hang").register(registry);
        }
        Gauge.builder("fuseguard.requests.inflight", mount, x -> x.status().inFlight()).tags(base)
                .description("requests read from the kernel and not answered yet").register(registry);
        Gauge.builder("fuseguard.threads", mount, x -> x.status().threads()).tags(base)
                .description("request threads").register(registry);
        Gauge.builder("fuseguard.threads.stuck", mount, x -> x.status().stuckThreads()).tags(base)
                .description("threads held by handlers past their deadline").register(registry);
        Gauge.builder("fuseguard.handles.open", mount, x -> x.status().openHandles()).tags(base)
                .description("open file and directory handles").register(registry);
        Gauge.builder("fuseguard.closework.pending", mount, x -> x.status().pendingCloseWork()).tags(base)
                .description("deferred flushes and releases queued or running").register(registry);
        m.recorder((op, nanos, errno) -> {
            Timer t = timers.get(op.ordinal());
            if (t == null) {
                // first request of this operation: its series appear now (once per operation and mount)
                t = register(registry, m, base, op);
                timers.set(op.ordinal(), t);
            }
            t.record(nanos, TimeUnit.NANOSECONDS);
        });
    }

    /** The series of one operation (registering again returns the same meters). */
    private Timer register(MeterRegistry registry, MountMetrics m, Tags base, Operation op) {
        Tags t = base.and("op", op.name().toLowerCase(Locale.ROOT));
        FunctionCounter.builder("fuseguard.requests", m, x -> x.requests(op)).tags(t)
                .description("requests whose handler returned").register(registry);
        FunctionCounter.builder("fuseguard.request.errors", m, x -> x.errors(op)).tags(t)
                .description("requests answered with an errno that reports a failure").register(registry);
        FunctionCounter.builder("fuseguard.request.expected.errors", m, x -> x.expectedErrors(op)).tags(t)
                .description("requests answered with an errno of normal operation (ENOENT, ENODATA, EAGAIN, ...)")
                .register(registry);
        Timer.Builder b = Timer.builder("fuseguard.request.duration").tags(t)
                .description("time in the filesystem's handler");
        if (!buckets.isEmpty()) {
            b.serviceLevelObjectives(buckets.toArray(Duration[]::new));
        }
        return b.register(registry);
    }

    /** Builds a {@link FuseguardMeterBinder}. */
    public static final class Builder {
        private final FuseMount mount;
        private String mountLabel;
        private List<Duration> buckets = DEFAULT_LATENCY_BUCKETS;

        private Builder(FuseMount mount) {
            this.mount = mount;
        }

        /**
         * The value of the {@code mount} tag (default: the mount point, which no two live mounts share).
         *
         * @param label the value
         * @return this builder
         */
        public Builder mountLabel(String label) {
            if (label == null || label.isBlank()) {
                throw new IllegalArgumentException("the mount label must not be blank");
            }
            this.mountLabel = label;
            return this;
        }

        /**
         * The upper bounds of the latency histogram's buckets (ascending, positive); empty for no histogram (count,
         * sum and max only). Each bucket is one series per operation served.
         *
         * @param upperBounds the bounds
         * @return this builder
         */
        public Builder latencyBuckets(List<Duration> upperBounds) {
            List<Duration> b = List.copyOf(upperBounds);
            for (int i = 0; i < b.size(); i++) {
                if (b.get(i).isNegative() || b.get(i).isZero()) {
                    throw new IllegalArgumentException("latency buckets must be positive: " + b.get(i));
                }
                if (i > 0 && b.get(i).compareTo(b.get(i - 1)) <= 0) {
                    throw new IllegalArgumentException("latency buckets must be ascending: " + b);
                }
            }
            this.buckets = b;
            return this;
        }

        /**
         * The binder.
         *
         * @return it
         */
        public FuseguardMeterBinder build() {
            return new FuseguardMeterBinder(this);
        }
    }
}
