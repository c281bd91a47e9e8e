package io.fuseguard.metrics;

import io.fuseguard.api.Errno;
import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.Operation;

import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;

/**
 * What a mount has done, counted by fuseguard itself for every request: per operation the requests, the answers
 * that report a failure, the answers that are expected in normal operation (see {@link #EXPECTED}), and the time
 * spent in handlers; per kind the guard events (timeouts, interrupts, overloads, refused self-access, late results,
 * close-time work late or failed, ...). Always on and cheap (a few uncontended counter increments per request, no
 * allocation); read it directly, or publish it with {@link FuseguardMeterBinder} (Micrometer, an optional
 * dependency).
 */
public final class MountMetrics {
    /**
     * The error answers that programs get in normal operation and that do not mean the filesystem failed: a name
     * that does not exist (ENOENT: every shell and build tool looks names up), an extended attribute that is not
     * set (ENODATA: {@code ls -l} asks for ACLs and SELinux labels), a buffer-size probe (ERANGE), a would-block
     * (EAGAIN), an exclusive create or {@code mkdir -p} of an existing name (EEXIST), removing a directory that is
     * not empty (ENOTEMPTY), something the filesystem does not implement (ENOSYS, EOPNOTSUPP, ENOTTY: the kernel
     * learns and stops asking), no data or hole after an offset ({@code lseek(SEEK_DATA)}'s ENXIO: how {@code cp}
     * finds the end of a sparse file), and a caller that was interrupted (EINTR). They are counted by
     * {@link #expectedErrors(Operation)}; every other errno by {@link #errors(Operation)}.
     */
    public static final Set<Errno> EXPECTED = Set.copyOf(EnumSet.of(Errno.ENOENT, Errno.ENODATA, Errno.ERANGE,
            Errno.EAGAIN, Errno.EEXIST, Errno.ENOTEMPTY, Errno.ENOSYS, Errno.EOPNOTSUPP, Errno.ENOTTY, Errno.ENXIO,
            Errno.EINTR));

    /** Receives every request's latency (for example Micrometer timers with a histogram). */
    @FunctionalInterface
    public interface LatencyRecorder {
        /**
         * One request of {@code operation} whose handler took {@code nanos}.
         *
         * @param operation the operation
         * @param nanos     time in the handler
         * @param errno     0 when it succeeded, else the (positive) errno it was answered with
         */
        void record(Operation operation, long nanos, int errno);
    }

    private static final int OPS = Operation.values().length;
    /** Indexed by errno: whether it is one of {@link #EXPECTED} (a lookup without allocation on the hot path). */
    private static final boolean[] EXPECTED_BY_NUMBER = expectedByNumber();
    private final LongAdder[] requests = adders(OPS);
    private final LongAdder[] errors = adders(OPS);
    private final LongAdder[] expected = adders(OPS);
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

    private static boolean[] expectedByNumber() {
        int max = 0;
        for (Errno e : EXPECTED) {
            max = Math.max(max, e.code());
        }
        boolean[] b = new boolean[max + 1];
        for (Errno e : EXPECTED) {
            b[e.code()] = true;
        }
        return b;
    }

    /**
     * Whether an answer with this errno is expected in normal operation ({@link #EXPECTED}).
     *
     * @param errno a positive errno
     * @return true for the expected ones
     */
    public static boolean isExpected(int errno) {
        return errno > 0 && errno < EXPECTED_BY_NUMBER.length && EXPECTED_BY_NUMBER[errno];
    }

    /**
     * Counts one request (framework use: called when a handler returned). Allocation-free.
     *
     * @param op           the operation
     * @param handlerNanos time in the handler
     * @param errno        0 when it succeeded, else the positive errno it was answered with
     */
    public void record(Operation op, long handlerNanos, int errno) {
        int i = op.ordinal();
        requests[i].increment();
        nanos[i].add(handlerNanos);
        if (errno > 0) {
            if (isExpected(errno)) {
                expected[i].increment();
            } else {
                errors[i].increment();
            }
        }
        LatencyRecorder r = recorder;
        if (r != null) {
            r.record(op, handlerNanos, errno);
        }
    }

    /**
     * Counts one guard event (framework use).
     *
     * @param type what happened
     */
    public void event(GuardEvent.Type type) {
        events[type.ordinal()].increment();
    }

    /**
     * Also sends every request's latency to {@code r} (null stops it).
     *
     * @param r the recorder, called on the request's thread: it must be quick
     */
    public void recorder(LatencyRecorder r) {
        this.recorder = r;
    }

    /**
     * Requests of this operation whose handler returned.
     *
     * @param op the operation
     * @return the count since the mount started
     */
    public long requests(Operation op) {
        return requests[op.ordinal()].sum();
    }

    /**
     * Of those, the ones answered with an errno that reports a failure (any errno but the {@link #EXPECTED} ones).
     *
     * @param op the operation
     * @return the count since the mount started
     */
    public long errors(Operation op) {
        return errors[op.ordinal()].sum();
    }

    /**
     * Of those, the ones answered with an errno that is expected in normal operation ({@link #EXPECTED}, such as
     * ENOENT for a name that does not exist).
     *
     * @param op the operation
     * @return the count since the mount started
     */
    public long expectedErrors(Operation op) {
        return expected[op.ordinal()].sum();
    }

    /**
     * Total time spent in handlers of this operation.
     *
     * @param op the operation
     * @return nanoseconds since the mount started
     */
    public long handlerNanos(Operation op) {
        return nanos[op.ordinal()].sum();
    }

    /**
     * Guard events of this type so far.
     *
     * @param type the kind of event
     * @return the count since the mount started
     */
    public long events(GuardEvent.Type type) {
        return events[type.ordinal()].sum();
    }
}
