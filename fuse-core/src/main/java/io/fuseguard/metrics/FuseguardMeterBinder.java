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
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Publishes a mount's figures to a Micrometer registry (Micrometer is an optional dependency of fuse-core: add
 * {@code io.micrometer:micrometer-core} to use this class). Meters, all tagged {@code mount} (the fsName):
 * <ul>
 *   <li>{@code fuseguard.requests} and {@code fuseguard.request.errors} (counters, tag {@code op});</li>
 *   <li>{@code fuseguard.request.latency} (timer with a percentile histogram, tag {@code op}): handler time;</li>
 *   <li>{@code fuseguard.events} (counter, tag {@code type}): timeouts, interrupts, overloads, refused
 *       self-access, late results, failed handlers, close-time work late/failed/unfinished, stuck-thread cap;</li>
 *   <li>gauges {@code fuseguard.requests.inflight}, {@code fuseguard.threads}, {@code fuseguard.threads.stuck},
 *       {@code fuseguard.handles.open}, {@code fuseguard.closework.pending}.</li>
 * </ul>
 */
public final class FuseguardMeterBinder implements MeterBinder {
    private final FuseMount mount;

    /** A binder for {@code mount}. */
    public FuseguardMeterBinder(FuseMount mount) {
        this.mount = mount;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        MountMetrics m = mount.metrics();
        Tags base = Tags.of("mount", mount.config().mount().fsName());
        Map<Operation, Timer> timers = new EnumMap<>(Operation.class);
        for (Operation op : Operation.values()) {
            Tags t = base.and("op", op.name().toLowerCase(Locale.ROOT));
            FunctionCounter.builder("fuseguard.requests", m, x -> x.requests(op)).tags(t)
                    .description("requests whose handler returned").register(registry);
            FunctionCounter.builder("fuseguard.request.errors", m, x -> x.errors(op)).tags(t)
                    .description("requests answered with an errno").register(registry);
            timers.put(op, Timer.builder("fuseguard.request.latency").tags(t).publishPercentileHistogram()
                    .minimumExpectedValue(Duration.ofNanos(5_000)).maximumExpectedValue(Duration.ofSeconds(60))
                    .description("time in the filesystem's handler").register(registry));
        }
        for (GuardEvent.Type type : GuardEvent.Type.values()) {
            FunctionCounter.builder("fuseguard.events", m, x -> x.events(type))
                    .tags(base.and("type", type.name().toLowerCase(Locale.ROOT)))
                    .description("what the guard did instead of letting a request hang").register(registry);
        }
        Gauge.builder("fuseguard.requests.inflight", mount, x -> x.status().inFlight()).tags(base)
                .register(registry);
        Gauge.builder("fuseguard.threads", mount, x -> x.status().threads()).tags(base).register(registry);
        Gauge.builder("fuseguard.threads.stuck", mount, x -> x.status().stuckThreads()).tags(base)
                .description("threads held by handlers past their deadline").register(registry);
        Gauge.builder("fuseguard.handles.open", mount, x -> x.status().openHandles()).tags(base).register(registry);
        Gauge.builder("fuseguard.closework.pending", mount, x -> x.status().pendingCloseWork()).tags(base)
                .description("deferred flushes and releases queued or running").register(registry);
        m.recorder((op, nanos, error) -> timers.get(op).record(nanos, TimeUnit.NANOSECONDS));
    }
}
