package io.fuseguard.config;

import io.fuseguard.api.OperationKind;
import io.fuseguard.guard.StallListener;
import jnr.constants.platform.Errno;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Immutable configuration of a fuseguard mount. Start from {@link #builder()}; every setting has a default
 * that suits a production filesystem.
 */
public final class FuseguardConfig {
    private final Map<OperationKind, Duration> deadlines;
    private final Errno timeoutErrno;
    private final Errno overloadErrno;
    private final int workerThreads;
    private final int queueCapacity;
    private final int maxStuckThreads;
    private final Duration drainTimeout;
    private final Duration kernelRequestTimeout;
    private final FlushPolicy flushPolicy;
    private final SelfAccessPolicy selfAccessPolicy;
    private final boolean allowOther;
    private final int maxWrite;
    private final List<String> extraMountOptions;
    private final String fsName;
    private final Duration mountTimeout;
    private final Duration unmountTimeout;
    private final boolean debug;
    private final boolean shutdownHook;
    private final boolean interruptStalledHandlers;
    private final List<StallListener> listeners;

    private FuseguardConfig(Builder b) {
        this.deadlines = Map.copyOf(b.deadlines);
        this.timeoutErrno = b.timeoutErrno;
        this.overloadErrno = b.overloadErrno;
        this.workerThreads = b.workerThreads;
        this.queueCapacity = b.queueCapacity;
        this.maxStuckThreads = b.maxStuckThreads;
        this.drainTimeout = b.drainTimeout;
        this.kernelRequestTimeout = b.kernelRequestTimeout;
        this.flushPolicy = b.flushPolicy;
        this.selfAccessPolicy = b.selfAccessPolicy;
        this.allowOther = b.allowOther;
        this.maxWrite = b.maxWrite;
        this.extraMountOptions = List.copyOf(b.extraMountOptions);
        this.fsName = b.fsName;
        this.mountTimeout = b.mountTimeout;
        this.unmountTimeout = b.unmountTimeout;
        this.debug = b.debug;
        this.shutdownHook = b.shutdownHook;
        this.interruptStalledHandlers = b.interruptStalledHandlers;
        this.listeners = List.copyOf(b.listeners);
    }

    /** A builder with the defaults documented on each setter. */
    public static Builder builder() {
        return new Builder();
    }

    /** The defaults. */
    public static FuseguardConfig defaults() {
        return builder().build();
    }

    /** A builder initialised with this configuration. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.deadlines.putAll(deadlines);
        b.timeoutErrno = timeoutErrno;
        b.overloadErrno = overloadErrno;
        b.workerThreads = workerThreads;
        b.queueCapacity = queueCapacity;
        b.maxStuckThreads = maxStuckThreads;
        b.drainTimeout = drainTimeout;
        b.kernelRequestTimeout = kernelRequestTimeout;
        b.flushPolicy = flushPolicy;
        b.selfAccessPolicy = selfAccessPolicy;
        b.allowOther = allowOther;
        b.maxWrite = maxWrite;
        b.extraMountOptions.addAll(extraMountOptions);
        b.fsName = fsName;
        b.mountTimeout = mountTimeout;
        b.unmountTimeout = unmountTimeout;
        b.debug = debug;
        b.shutdownHook = shutdownHook;
        b.interruptStalledHandlers = interruptStalledHandlers;
        b.listeners.addAll(listeners);
        return b;
    }

    /** The deadline of requests of this kind. */
    public Duration deadline(OperationKind kind) {
        return deadlines.get(kind);
    }

    /** Errno answered when a handler misses its deadline. */
    public Errno timeoutErrno() {
        return timeoutErrno;
    }

    /** Errno answered when a lane's queue is full. */
    public Errno overloadErrno() {
        return overloadErrno;
    }

    /** Most request threads that run handlers at once (not counting stuck ones). */
    public int workerThreads() {
        return workerThreads;
    }

    /** Requests of one lane that may wait for a free thread before new ones are refused. */
    public int queueCapacity() {
        return queueCapacity;
    }

    /** Most threads left to handlers stuck past their deadline before no replacement is started. */
    public int maxStuckThreads() {
        return maxStuckThreads;
    }

    /** How long unmounting waits for close-time work (deferred flushes, releases) before destroy. */
    public Duration drainTimeout() {
        return drainTimeout;
    }

    /** The kernel's own request timeout asked for at INIT (zero: not asked). */
    public Duration kernelRequestTimeout() {
        return kernelRequestTimeout != null ? kernelRequestTimeout
                : java.util.Collections.max(deadlines.values()).plusSeconds(15);
    }

    /** The flush policy. */
    public FlushPolicy flushPolicy() {
        return flushPolicy;
    }

    /** The self-access policy. */
    public SelfAccessPolicy selfAccessPolicy() {
        return selfAccessPolicy;
    }

    /** Whether other users may access the mount ({@code allow_other}, with {@code default_permissions}). */
    public boolean allowOther() {
        return allowOther;
    }

    /** Largest write (and read) the kernel passes in one request. */
    public int maxWrite() {
        return maxWrite;
    }

    /** Additional {@code -o} options, passed as given. */
    public List<String> extraMountOptions() {
        return extraMountOptions;
    }

    /** Name shown as the mount's source ({@code fuseguard:<pid>:<fsName>}). */
    public String fsName() {
        return fsName;
    }

    /** How long {@code mount()} waits for the filesystem to answer before failing. */
    public Duration mountTimeout() {
        return mountTimeout;
    }

    /** How long {@code close()} waits for the request threads to end after the unmount. */
    public Duration unmountTimeout() {
        return unmountTimeout;
    }

    /** Whether every request and its answer is printed on standard error (like libfuse's {@code -d}). */
    public boolean debug() {
        return debug;
    }

    /** Whether a JVM shutdown hook closes the mount. */
    public boolean shutdownHook() {
        return shutdownHook;
    }

    /** Whether a handler that missed its deadline (or whose caller was interrupted) gets a thread interrupt. */
    public boolean interruptStalledHandlers() {
        return interruptStalledHandlers;
    }

    /** Listeners told about stalls, overloads, interrupts and late results. */
    public List<StallListener> listeners() {
        return listeners;
    }

    /**
     * The mount options derived from this configuration, as passed with {@code -o}.
     */
    public List<String> mountOptions(long pid) {
        List<String> opts = new ArrayList<>();
        // The user's own options win: a default is only added when the user did not set that key.
        if (!hasOption("fsname")) {
            opts.add("fsname=fuseguard:" + pid + ":" + fsName);
        }
        if (!hasOption("subtype")) {
            opts.add("subtype=fuseguard");
        }
        if (!hasOption("max_write")) {
            opts.add("max_write=" + maxWrite);
        }
        if (allowOther) {
            if (!hasOption("allow_other")) {
                opts.add("allow_other");
            }
            // allow_other without permission checks lets any user read everything.
            if (!hasOption("default_permissions")) {
                opts.add("default_permissions");
            }
        }
        opts.addAll(extraMountOptions);
        return opts;
    }

    private boolean hasOption(String key) {
        for (String o : extraMountOptions) {
            if (o.equals(key) || o.startsWith(key + "=")) {
                return true;
            }
        }
        return false;
    }

    /** Builds a {@link FuseguardConfig}. Not thread-safe. */
    public static final class Builder {
        private final Map<OperationKind, Duration> deadlines = new EnumMap<>(OperationKind.class);
        private Errno timeoutErrno = Errno.EIO;
        private Errno overloadErrno = Errno.EIO;
        private int workerThreads = 64;
        private int queueCapacity = 256;
        private int maxStuckThreads = 64;
        private Duration drainTimeout = Duration.ofSeconds(10);
        private Duration kernelRequestTimeout;
        private FlushPolicy flushPolicy = FlushPolicy.DEFERRED;
        private SelfAccessPolicy selfAccessPolicy = SelfAccessPolicy.AUTO;
        private boolean allowOther;
        private int maxWrite = 1024 * 1024;
        private final List<String> extraMountOptions = new ArrayList<>();
        private String fsName = "fs";
        private Duration mountTimeout = Duration.ofSeconds(10);
        private Duration unmountTimeout = Duration.ofSeconds(5);
        private boolean debug;
        private boolean shutdownHook = true;
        private boolean interruptStalledHandlers = true;
        private final List<StallListener> listeners = new ArrayList<>();

        private Builder() {
            deadlines.put(OperationKind.METADATA, Duration.ofSeconds(5));
            deadlines.put(OperationKind.DATA, Duration.ofSeconds(30));
            deadlines.put(OperationKind.SYNC, Duration.ofSeconds(60));
            deadlines.put(OperationKind.FLUSH, Duration.ofSeconds(5));
        }

        /**
         * Deadline of one kind of request. Defaults: METADATA 5 s, DATA 30 s, SYNC 60 s, FLUSH 5 s.
         */
        public Builder deadline(OperationKind kind, Duration deadline) {
            requirePositive(deadline, "deadline");
            deadlines.put(Objects.requireNonNull(kind, "kind"), deadline);
            return this;
        }

        /** Sets every kind's deadline at once (handy in tests). */
        public Builder allDeadlines(Duration deadline) {
            for (OperationKind kind : OperationKind.values()) {
                deadline(kind, deadline);
            }
            return this;
        }

        /**
         * Errno answered to a request whose handler missed its deadline. Default EIO: every program treats it
         * as a failed I/O (as with an NFS {@code soft} mount); ETIMEDOUT is more telling but less expected.
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
         * Most request threads running handlers at once. Default 64. Threads are started as load needs them and
         * end when idle; handlers run on the thread that read the request (no hand-off). Metadata requests
         * (lookups, attributes, directory changes) and data requests (read, write, fsync, flush) each get at most
         * this number minus one eighth of it, so a flood of slow reads never starves {@code ls}, and the other
         * way round.
         */
        public Builder workerThreads(int n) {
            if (n < 2) {
                throw new IllegalArgumentException("workerThreads must be at least 2");
            }
            this.workerThreads = n;
            return this;
        }

        /**
         * Requests of one lane (metadata or data) that may wait when its threads are all busy; beyond that they
         * are answered the overload errno at once. Waiting requests keep their deadline. Default 256.
         */
        public Builder queueCapacity(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("queueCapacity must not be negative");
            }
            this.queueCapacity = n;
            return this;
        }

        /**
         * Threads that may be left to handlers stuck past their deadline (answered already, ignoring their
         * interrupt): each is replaced so the mount keeps serving, up to this many; then the event
         * {@code STUCK_THREADS_CAP} is reported and requests queue until some return. Default 64.
         */
        public Builder maxStuckThreads(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("maxStuckThreads must not be negative");
            }
            this.maxStuckThreads = n;
            return this;
        }

        /**
         * How long unmounting ({@code close()}, SIGTERM, an external umount) waits for close-time work (deferred
         * flushes, releases) before calling {@code destroy}; what is left is logged at WARN. Default 10 s.
         */
        public Builder drainTimeout(Duration timeout) {
            if (timeout == null || timeout.isNegative()) {
                throw new IllegalArgumentException("drainTimeout must not be negative");
            }
            this.drainTimeout = timeout;
            return this;
        }

        /**
         * The request timeout fuseguard asks the kernel for (Linux 6.14 and later; whole seconds): the kernel's
         * backstop for a daemon that is killed, or frozen, while it holds a request it had read, typically a
         * request of the daemon's own on its own mount. The kernel then ends the connection after this long (it
         * checks every 15 s), so the kill completes instead of waiting forever. A live fuseguard answers every
         * request at its deadline, well before it. Default: the longest deadline plus 15 s. Zero: not asked.
         */
        public Builder kernelRequestTimeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.toSeconds() > 65535) {
                throw new IllegalArgumentException("kernelRequestTimeout must be between 0 and 65535 s");
            }
            this.kernelRequestTimeout = timeout;
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

        /** Let other users access the mount (adds {@code default_permissions} too). Default false. */
        public Builder allowOther(boolean allowOther) {
            this.allowOther = allowOther;
            return this;
        }

        /**
         * Largest write and read request in bytes, 4 KiB to 1 MiB. Default 1 MiB (kernels before 4.20 cap it at
         * 128 KiB). Each request thread keeps buffers of this size (pages are used only as requests fill them).
         */
        public Builder maxWrite(int bytes) {
            if (bytes < 4096 || bytes > 1024 * 1024) {
                throw new IllegalArgumentException("maxWrite must be between 4096 and 1048576 bytes");
            }
            this.maxWrite = bytes;
            return this;
        }

        /** Adds a raw libfuse {@code -o} option such as {@code ro} or {@code attr_timeout=0}. */
        public Builder mountOption(String option) {
            if (option == null || option.isBlank() || option.contains(" ")) {
                throw new IllegalArgumentException("bad mount option: '" + option + "'");
            }
            extraMountOptions.add(option);
            return this;
        }

        /** Name of the filesystem shown in the mount table. Default {@code fs}. */
        public Builder fsName(String name) {
            if (name == null || !name.matches("[A-Za-z0-9._-]{1,64}")) {
                throw new IllegalArgumentException("fsName must be 1-64 characters of [A-Za-z0-9._-]: " + name);
            }
            this.fsName = name;
            return this;
        }

        /** How long mount() may take before it fails. Default 10 s. */
        public Builder mountTimeout(Duration timeout) {
            requirePositive(timeout, "mountTimeout");
            this.mountTimeout = timeout;
            return this;
        }

        /** How long close() waits for the FUSE loop to end. Default 5 s. */
        public Builder unmountTimeout(Duration timeout) {
            requirePositive(timeout, "unmountTimeout");
            this.unmountTimeout = timeout;
            return this;
        }

        /** Every request and its answer on standard error. Default false. */
        public Builder debug(boolean debug) {
            this.debug = debug;
            return this;
        }

        /** Whether a JVM shutdown hook closes the mount. Default true. */
        public Builder shutdownHook(boolean enabled) {
            this.shutdownHook = enabled;
            return this;
        }

        /**
         * Whether the handler thread of a request answered at its deadline (or interrupted by the kernel) is
         * interrupted, so that interruptible waits end and the worker is freed. Default true. Turn it off for
         * filesystems whose handlers do I/O on NIO {@code FileChannel}s kept across requests: Java closes a
         * channel whose thread is interrupted during I/O, which would break that file handle for good. The kernel
         * is answered at the deadline either way.
         */
        public Builder interruptStalledHandlers(boolean interrupt) {
            this.interruptStalledHandlers = interrupt;
            return this;
        }

        /** Adds a listener for stalls, overloads, interrupts and late results. */
        public Builder listener(StallListener listener) {
            listeners.add(Objects.requireNonNull(listener));
            return this;
        }

        /** The configuration. */
        public FuseguardConfig build() {
            return new FuseguardConfig(this);
        }

        private static void requirePositive(Duration d, String what) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive");
            }
        }
    }
}
