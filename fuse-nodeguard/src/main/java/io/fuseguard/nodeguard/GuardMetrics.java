package io.fuseguard.nodeguard;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

/**
 * The guard's meters, registered on any Micrometer registry (Prometheus names in brackets):
 * <ul>
 *   <li>{@code fuseguard.guard.scans} [{@code fuseguard_guard_scans_total}]: scans done;</li>
 *   <li>{@code fuseguard.guard.scan.duration} [{@code fuseguard_guard_scan_duration_seconds}]: time per scan;</li>
 *   <li>{@code fuseguard.guard.connections} [{@code fuseguard_guard_connections}]: connections in scope at the
 *       last scan;</li>
 *   <li>{@code fuseguard.guard.connections.seen} [{@code fuseguard_guard_connections_seen_total}]: distinct
 *       connections seen since start;</li>
 *   <li>{@code fuseguard.guard.wedged} [{@code fuseguard_guard_wedged_total}]: connections found wedged (or
 *       stuck, {@code rule} tag), once per episode;</li>
 *   <li>{@code fuseguard.guard.aborted} [{@code fuseguard_guard_aborted_total}], {@code
 *       fuseguard.guard.would.abort} [{@code fuseguard_guard_would_abort_total}], {@code fuseguard.guard.skipped}
 *       [{@code fuseguard_guard_skipped_total}], {@code fuseguard.guard.abort.failures}
 *       [{@code fuseguard_guard_abort_failures_total}];</li>
 *   <li>{@code fuseguard.guard.tasks.released} [{@code fuseguard_guard_tasks_released_total}]: blocked tasks
 *       that left FUSE after an abort;</li>
 *   <li>{@code fuseguard.guard.last.scan.timestamp} [{@code fuseguard_guard_last_scan_timestamp_seconds}]: when
 *       the last scan ended (epoch seconds);</li>
 *   <li>{@code fuseguard.guard.ready} [{@code fuseguard_guard_ready}]: 1 while the last scan could read
 *       {@code fusectl} (the waiting counts every rule needs), 0 when it could not: then the guard decides nothing
 *       and says why (log, {@code /readyz}, "undecidable" decisions).</li>
 * </ul>
 * The Prometheus names are what {@code GuardMetricsNamesTest} finds served and {@code docs/node-guard.md} lists.
 */
public final class GuardMetrics {

    private final MeterRegistry registry;
    private final Counter scans;
    private final Timer scanDuration;
    private final AtomicLong connections = new AtomicLong();
    private final Counter connectionsSeen;
    private final Set<Long> seen = ConcurrentHashMap.newKeySet();
    private final Counter aborted;
    private final Counter wouldAbort;
    private final Counter skipped;
    private final Counter failures;
    private final Counter released;
    private final AtomicLong lastScanMillis = new AtomicLong();
    private final AtomicLong ready = new AtomicLong();

    /**
     * Registers the meters.
     *
     * @param registry where
     */
    public GuardMetrics(MeterRegistry registry) {
        this.registry = registry;
        scans = Counter.builder("fuseguard.guard.scans").description("scans done").register(registry);
        scanDuration = Timer.builder("fuseguard.guard.scan.duration").description("time per scan")
                .register(registry);
        Gauge.builder("fuseguard.guard.connections", connections, AtomicLong::get)
                .description("FUSE connections in scope at the last scan").register(registry);
        connectionsSeen = Counter.builder("fuseguard.guard.connections.seen")
                .description("distinct FUSE connections seen").register(registry);
        aborted = Counter.builder("fuseguard.guard.aborted").description("connections aborted").register(registry);
        wouldAbort = Counter.builder("fuseguard.guard.would.abort")
                .description("connections a dry run would have aborted").register(registry);
        skipped = Counter.builder("fuseguard.guard.skipped")
                .description("connections that could not be judged").register(registry);
        failures = Counter.builder("fuseguard.guard.abort.failures").description("aborts that failed")
                .register(registry);
        released = Counter.builder("fuseguard.guard.tasks.released")
                .description("blocked tasks released by aborts").register(registry);
        Gauge.builder("fuseguard.guard.last.scan.timestamp", lastScanMillis, v -> v.get() / 1000.0)
                .baseUnit("seconds").description("end of the last scan, seconds since the epoch").register(registry);
        Gauge.builder("fuseguard.guard.ready", ready, AtomicLong::get)
                .description("1 when the last scan could read fusectl, 0 when it could not").register(registry);
        wedgedCounter("no-live-reader");
        wedgedCounter("stuck");
    }

    private Counter wedgedCounter(String rule) {
        return Counter.builder("fuseguard.guard.wedged").tag("rule", rule)
                .description("connections found wedged, once per episode").register(registry);
    }

    /**
     * The registry the meters live in.
     *
     * @return the registry
     */
    public MeterRegistry registry() {
        return registry;
    }

    void scanned(Duration d, int inScope, Iterable<Long> ids) {
        scans.increment();
        scanDuration.record(d);
        connections.set(inScope);
        for (long id : ids) {
            if (seen.add(id)) {
                connectionsSeen.increment();
            }
        }
        lastScanMillis.set(System.currentTimeMillis());
    }

    void ready(boolean r) {
        ready.set(r ? 1 : 0);
    }

    void wedged(String rule) {
        wedgedCounter(rule).increment();
    }

    void aborted(int releasedTasks) {
        aborted.increment();
        released.increment(releasedTasks);
    }

    void wouldAbort() {
        wouldAbort.increment();
    }

    void skipped() {
        skipped.increment();
    }

    void failed() {
        failures.increment();
    }

    /**
     * When the last scan ended.
     *
     * @return epoch milliseconds, 0 before the first scan
     */
    public long lastScanEpochMillis() {
        return lastScanMillis.get();
    }
}
