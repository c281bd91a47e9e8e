package io.fuseguard.metrics;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.Operation;

import java.util.concurrent.atomic.LongAdder;

/**
 * What a mount has done, counted by fuseguard itself for every request: per operation the requests, the error
 * answers and the time spent in handlers; per kind the guard events (timeouts, interrupts, overloads, refused
 * self-access, late results, close-time work late or failed, ...). Always on and cheap (a few uncontended
 * counter increments per request); read it directly, or publish it with {@link FuseguardMeterBinder}
 * (Micrometer, an optional dependency).
 */
public final class MountMetrics {
    /** Receives every request's latency (for example Micrometer timers with a histogram). */
    @FunctionalInterface
    public interface LatencyRecorder {
        /** One request of {@code operation} whose handler took {@code nanos}; {@code error} if answered an errno. */
        void record(Operation operation, long nanos, boolean error);
    }

    private static final int OPS = Operation.values().length;
    private final LongAdder[] requests = adders(OPS);
    private final LongAdder[] errors = adders(OPS);
    private final LongAdder[] nanos = adders(OPS);
    private final LongAdder[] events = adders(GuardEvent.Type.values().length);
    private volatile LatencyRecorder recorder;

    private static LongAdder[] adders(int n) {
        LongAdder[] a = new LongAdder[n];
        for (int i = 0; i < n; i++) {
            a[i] = new LongAdder();
        }
        return a;
    }

    /** Counts one request (framework use: called when a handler returned). */
    public void record(Operation op, long handlerNanos, boolean error) {
        int i = op.ordinal();
        requests[i].increment();
        nanos[i].add(handlerNanos);
        if (error) {
            errors[i].increment();
        }
        LatencyRecorder r = recorder;
        if (r != null) {
            r.record(op, handlerNanos, error);
        }
    }

    /** Counts one guard event (framework use). */
    public void event(GuardEvent.Type type) {
        events[type.ordinal()].increment();
    }

    /** Also sends every request's latency to {@code r} (null stops it). */
    public void recorder(LatencyRecorder r) {
        this.recorder = r;
    }

    /** Requests of this operation whose handler returned. */
    public long requests(Operation op) {
        return requests[op.ordinal()].sum();
    }

    /** Of those, the ones answered with an errno. */
    public long errors(Operation op) {
        return errors[op.ordinal()].sum();
    }

    /** Total time spent in handlers of this operation, in nanoseconds. */
    public long handlerNanos(Operation op) {
        return nanos[op.ordinal()].sum();
    }

    /** Guard events of this type so far. */
    public long events(GuardEvent.Type type) {
        return events[type.ordinal()].sum();
    }
}
