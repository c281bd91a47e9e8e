package io.fuseguard.config;

import io.fuseguard.api.Errno;
import io.fuseguard.api.GuardListener;
import io.fuseguard.api.OperationKind;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * How fuseguard guards requests: deadlines, threads and lanes, the errnos it answers in a handler's place,
 * what happens at close, and who hears about it. Immutable; build one with {@link #builder()} (or through
 * {@link FuseguardConfig#builder()}).
 *
 * @param deadlines                per operation kind, how long a request may take before it gets an error answer
 * @param timeoutErrno             answered when a handler misses its deadline
 * @param overloadErrno            answered at once when a lane's queue is full
 * @param workerThreads            most request threads running handlers at once (each lane gets 7/8 of them)
 * @param queueCapacity            requests of one lane that may wait for a thread
 * @param maxStuckThreads          threads that may be left to handlers stuck past their deadline (each replaced)
 * @param interruptStalledHandlers whether a handler's thread is interrupted when its request is answered for it
 * @param flushPolicy              how close-time work and FLUSH are handled
 * @param selfAccessPolicy         what requests from the daemon's own threads get
 * @param drainTimeout             how long unmounting waits for close-time work before {@code destroy}
 * @param kernelRequestTimeout     the kernel's backstop asked at INIT (zero: not asked; null: the longest
 *                                 deadline plus 15 s)
 * @param listeners                told about every guard event, on the reporter thread
 * @param exitOnFatalError         whether an {@link Error} in one of fuseguard's own threads (the watchdog, a request
 *                                 thread outside a handler, close-time work; an {@link OutOfMemoryError} there)
 *                                 also ends the process with status 70 after the connection was ended (it always
 *                                 ends the connection: a mount whose guards died must not look alive)
 */
public record GuardSettings(Map<OperationKind, Duration> deadlines, Errno timeoutErrno, Errno overloadErrno,
                            int workerThreads, int queueCapacity, int maxStuckThreads,
                            boolean interruptStalledHandlers, FlushPolicy flushPolicy,
                            SelfAccessPolicy selfAccessPolicy, Duration drainTimeout, Duration kernelRequestTimeout,
                            List<GuardListener> listeners, boolean exitOnFatalError) {

    /** Validates and copies. */
    public GuardSettings {
        deadlines = Collections.unmodifiableMap(new EnumMap<>(deadlines));
        for (OperationKind k : OperationKind.values()) {
            requirePositive(deadlines.get(k), "deadline of " + k);
        }
        Objects.requireNonNull(timeoutErrno, "timeoutErrno");
        Objects.requireNonNull(overloadErrno, "overloadErrno");
        if (workerThreads < 2) {
            throw new IllegalArgumentException("workerThreads must be at least 2");
        }
        if (queueCapacity < 0 || maxStuckThreads < 0) {
            throw new IllegalArgumentException("queueCapacity and maxStuckThreads must not be negative");
        }
        Objects.requireNonNull(flushPolicy, "flushPolicy");
        Objects.requireNonNull(selfAccessPolicy, "selfAccessPolicy");
        if (drainTimeout == null || drainTimeout.isNegative()) {
            throw new IllegalArgumentException("drainTimeout must not be negative");
        }
        if (kernelRequestTimeout != null && (kernelRequestTimeout.isNegative()
                || kernelRequestTimeout.toSeconds() > 65535)) {
            throw new IllegalArgumentException("kernelRequestTimeout must be between 0 and 65535 s");
        }
        listeners = List.copyOf(listeners);
    }

    /** The deadline of requests of this kind. */
    public Duration deadline(OperationKind kind) {
        return deadlines.get(kind);
    }

    /** The kernel request timeout in effect: as set, or the longest deadline plus 15 s. */
    public Duration effectiveKernelRequestTimeout() {
        return kernelRequestTimeout != null ? kernelRequestTimeout
                : Collections.max(deadlines.values()).plusSeconds(15);
    }

    /** The defaults. */
    public static GuardSettings defaults() {
        return builder().build();
    }

    /** A builder with the defaults documented on its setters. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder that starts from these settings. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    private static void requirePositive(Duration d, String what) {
        if (d == null || d.isNegative() || d.isZero()) {
            throw new IllegalArgumentException(what + " must be positive");
        }
    }

    /** Builds {@link GuardSettings}. Not thread-safe. */
    public static final class Builder {
        private final Map<OperationKind, Duration> deadlines = new EnumMap<>(OperationKind.class);
        private Errno timeoutErrno = Errno.EIO;
        private Errno overloadErrno = Errno.EIO;
        private int workerThreads = 64;
        private int queueCapacity = 256;
        private int maxStuckThreads = 64;
        private boolean interruptStalledHandlers = true;
        private FlushPolicy flushPolicy = FlushPolicy.DEFERRED;
        private SelfAccessPolicy selfAccessPolicy = SelfAccessPolicy.AUTO;
        private Duration drainTimeout = Duration.ofSeconds(10);
        private Duration kernelRequestTimeout;
        private final List<GuardListener> listeners = new ArrayList<>();
        private boolean exitOnFatalError = true;

        private Builder() {
            deadlines.put(OperationKind.METADATA, Duration.ofSeconds(5));
            deadlines.put(OperationKind.DATA, Duration.ofSeconds(30));
            deadlines.put(OperationKind.SYNC, Duration.ofSeconds(60));
            deadlines.put(OperationKind.FLUSH, Duration.ofSeconds(5));
        }

        private Builder(GuardSettings s) {
            deadlines.putAll(s.deadlines);
            timeoutErrno = s.timeoutErrno;
            overloadErrno = s.overloadErrno;
            workerThreads = s.workerThreads;
            queueCapacity = s.queueCapacity;
            maxStuckThreads = s.maxStuckThreads;
            interruptStalledHandlers = s.interruptStalledHandlers;
            flushPolicy = s.flushPolicy;
            selfAccessPolicy = s.selfAccessPolicy;
            drainTimeout = s.drainTimeout;
            kernelRequestTimeout = s.kernelRequestTimeout;
            listeners.addAll(s.listeners);
            exitOnFatalError = s.exitOnFatalError;
        }

        /** Deadline of one kind of request. Defaults: METADATA 5 s, DATA 30 s, SYNC 60 s, FLUSH 5 s. */
        public Builder deadline(OperationKind kind, Duration deadline) {
            requirePositive(deadline, "deadline");
            deadlines.put(Objects.requireNonNull(kind, "kind"), deadline);
            return this;
        }

        /** Every kind's deadline at once (handy in tests). */
        public Builder allDeadlines(Duration deadline) {
            for (OperationKind kind : OperationKind.values()) {
                deadline(kind, deadline);
            }
            return this;
        }

        /**
         * Errno answered to a request whose handler missed its deadline. Default EIO: every program treats it as
         * a failed I/O (as with an NFS {@code soft} mount); ETIMEDOUT is more telling but less expected.
         */
        public Builder timeoutErrno(Errno errno) {
            this.timeoutErrno = Objects.requireNonNull(errno);
            return this;
        }

        /** Errno answered at once when a lane's queue is full. Default EIO. */
        public Builder overloadErrno(Errno errno) {
            this.overloadErrno = Objects.requireNonNull(errno);
            return this;
        }

        /**
         * Most request threads running handlers at once. Default 64. Threads start as load needs them and are
         * kept while busy; handlers run on the thread that read the request (no hand-off). Metadata requests
         * and data requests (read, write, fsync, flush) each get at most this number minus one eighth of it, so
         * a flood of slow reads never starves {@code ls}, and the other way round.
         */
        public Builder workerThreads(int n) {
            this.workerThreads = n;
            return this;
        }

        /**
         * Requests of one lane that may wait when its threads are all busy; beyond, they are answered the
         * overload errno at once. Waiting requests keep their deadline. Default 256.
         */
        public Builder queueCapacity(int n) {
            this.queueCapacity = n;
            return this;
        }

        /**
         * Threads that may be left to handlers stuck past their deadline (answered already, ignoring their
         * interrupt): each is replaced so the mount keeps serving, up to this many; then the event
         * {@code STUCK_THREADS_CAP} is reported and requests queue until some return. Default 64.
         */
        public Builder maxStuckThreads(int n) {
            this.maxStuckThreads = n;
            return this;
        }

        /**
         * Whether the thread of a handler whose request was answered for it (deadline, kernel interrupt) is
         * interrupted. Default true. Turn it off for filesystems whose handlers do I/O on NIO
         * {@code FileChannel}s kept across requests: Java closes a channel whose thread is interrupted during
         * I/O. The kernel is answered at the deadline either way.
         */
        public Builder interruptStalledHandlers(boolean interrupt) {
            this.interruptStalledHandlers = interrupt;
            return this;
        }

        /** The flush policy. Default {@link FlushPolicy#DEFERRED}. */
        public Builder flushPolicy(FlushPolicy policy) {
            this.flushPolicy = Objects.requireNonNull(policy);
            return this;
        }

        /** The self-access policy. Default {@link SelfAccessPolicy#AUTO}. */
        public Builder selfAccessPolicy(SelfAccessPolicy policy) {
            this.selfAccessPolicy = Objects.requireNonNull(policy);
            return this;
        }

        /**
         * How long unmounting ({@code close()}, SIGTERM, an external umount) waits for close-time work (deferred
         * flushes, releases) before calling {@code destroy}; what is left is logged at WARN. Default 10 s.
         */
        public Builder drainTimeout(Duration timeout) {
            this.drainTimeout = timeout;
            return this;
        }

        /**
         * The request timeout fuseguard asks the kernel for (Linux 6.15 and later, protocol 7.43; whole seconds): the kernel's
         * backstop for a daemon killed, or frozen, while it holds a request it had read (typically one of its
         * own on its own mount). The kernel then ends the connection after this long (it checks every 15 s).
         * A live fuseguard answers every request at its deadline, well before. Default: the longest deadline
         * plus 15 s. Zero: not asked.
         */
        public Builder kernelRequestTimeout(Duration timeout) {
            this.kernelRequestTimeout = timeout;
            return this;
        }

        /** Adds a listener for every guard event. */
        public Builder listener(GuardListener listener) {
            listeners.add(Objects.requireNonNull(listener));
            return this;
        }

        /**
         * Whether an {@link Error} in one of fuseguard's own threads (an {@link OutOfMemoryError} in the watchdog,
         * say) ends the process with status 70 once the connection was ended, within seconds, so a supervisor
         * (systemd, Kubernetes) restarts it. Default true. With false only the connection is ended (the mount
         * finishes as if unmounted); the application decides. Errors thrown by handlers are not fatal: they
         * answer EIO.
         */
        public Builder exitOnFatalError(boolean exit) {
            this.exitOnFatalError = exit;
            return this;
        }

        /** The settings. */
        public GuardSettings build() {
            return new GuardSettings(deadlines, timeoutErrno, overloadErrno, workerThreads, queueCapacity,
                    maxStuckThreads, interruptStalledHandlers, flushPolicy, selfAccessPolicy, drainTimeout,
                    kernelRequestTimeout, listeners, exitOnFatalError);
        }
    }
}
