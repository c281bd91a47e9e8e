package io.fuseguard.internal.session;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.sys.Callers;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.tree.HandleTable;
import io.fuseguard.internal.tree.NodeTable;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Serves one FUSE connection: owns the request threads (started as load needs them, ended when idle, each a
 * {@link Worker} that reads a request and runs its handler inline), the watchdog that answers requests at their
 * deadline, kernel interrupts, the two lanes, and the end of the connection.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class Session {
    private static final Log LOG = Log.of(Session.class);
    private static final int MIN_THREADS = 2;

    private final String name;
    private final FuseguardConfig config;
    private final MountOptions options;
    private final EventReporter events;
    private final FsOps ops;
    final NodeTable nodes = new NodeTable();
    final HandleTable handles = new HandleTable();
    final io.fuseguard.internal.tree.PathLocks paths = new io.fuseguard.internal.tree.PathLocks(nodes);
    final Probe probe = new Probe();
    final SelfAccess selfAccess;
    final Passthrough passthrough;
    final CloseWork closeWork;
    final Dispatcher dispatcher;
    final Notifier notifier;
    final Lane metadataLane;
    final Lane dataLane;
    final long[] deadlines = new long[OperationKind.values().length];
    final int timeoutErrno;
    final int overloadErrno;
    final boolean interruptHandlers;

    private volatile int fd;
    private final int maxLive;
    private final int maxIdle;
    private final int maxStuck;
    private final AtomicInteger live = new AtomicInteger();
    private final AtomicInteger idle = new AtomicInteger();
    private final AtomicInteger stuck = new AtomicInteger();
    private final AtomicInteger threadNumbers = new AtomicInteger();
    private final AtomicLong lastRetire = new AtomicLong(System.nanoTime());
    private final Set<Worker> workers = ConcurrentHashMap.newKeySet();
    private final ConcurrentLinkedQueue<WorkerBuffers> bufferPool = new ConcurrentLinkedQueue<>();
    private final int inCapacity;
    private final int outCapacity;
    private final Map<Long, Long> earlyInterrupts = new ConcurrentHashMap<>();
    private volatile boolean hasEarlyInterrupts;
    private final AtomicBoolean stuckCapReported = new AtomicBoolean();
    private final ByteBuffer watchdogOut = ByteBuffer.allocateDirect(Fuse.OUT_HEADER)
            .order(java.nio.ByteOrder.LITTLE_ENDIAN);
    private final long watchdogOutAddress = Syscalls.address(watchdogOut);
    private final CountDownLatch initialized = new CountDownLatch(1);
    private final CountDownLatch ended = new CountDownLatch(1);
    private volatile boolean closing;
    private volatile boolean connectionEnded;
    private volatile String endReason = "";
    private Thread watchdog;
    private final long tickNanos;
    private final java.util.concurrent.atomic.LongAdder requests = new java.util.concurrent.atomic.LongAdder();
    private final long kernelRequestTimeoutSeconds;
    static final long INTERRUPT_RECHECK_MS = 50;
    private static final long INTERRUPT_RECHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(INTERRUPT_RECHECK_MS);
    /** libfuse's {@code -o intr}: every INTERRUPT is honoured, also for callers that are not being killed. */
    private final boolean honourAllInterrupts;
    private final java.util.concurrent.atomic.LongAdder ignoredInterrupts = new java.util.concurrent.atomic.LongAdder();
    private Worker sentinel;
    private final AtomicBoolean sentinelReported = new AtomicBoolean();
    private final AtomicInteger drainers = new AtomicInteger();
    /** Watchdog ticks in a row that found a request waiting in a lane with a free slot. */
    private int stranded;
    private volatile boolean kernelTimeout;

    /** A session for a connection whose /dev/fuse descriptor is {@code fd}. */
    public Session(String name, int fd, FuseguardConfig config, MountOptions options, FsOps ops,
                   EventReporter events, io.fuseguard.metrics.MountMetrics metrics) {
        this.name = name;
        this.fd = fd;
        this.config = config;
        this.options = options;
        this.events = events;
        this.ops = ops;
        for (OperationKind k : OperationKind.values()) {
            deadlines[k.ordinal()] = config.guard().deadline(k).toNanos();
        }
        this.timeoutErrno = config.guard().timeoutErrno().code();
        this.overloadErrno = config.guard().overloadErrno().code();
        this.interruptHandlers = config.guard().interruptStalledHandlers();
        this.honourAllInterrupts = options.intr();
        this.maxLive = config.guard().workerThreads();
        // Threads are kept rather than churned: a new thread costs a start and page faults on fresh buffers.
        this.maxIdle = Math.max(8, 2 * Runtime.getRuntime().availableProcessors());
        this.maxStuck = config.guard().maxStuckThreads();
        this.cloning = options.cloneFd();
        int reserve = Math.max(1, maxLive / 8);
        this.metadataLane = new Lane("metadata", Math.max(1, maxLive - reserve), config.guard().queueCapacity());
        this.dataLane = new Lane("data", Math.max(1, maxLive - reserve), config.guard().queueCapacity());
        int maxWrite = options.maxWrite();
        this.inCapacity = Math.max(Fuse.MIN_READ_BUFFER, maxWrite + 4096);
        this.outCapacity = Fuse.OUT_HEADER + Math.max(maxWrite, 65536) + 4096;
        this.selfAccess = new SelfAccess(config.guard().selfAccessPolicy(), config.guard().flushPolicy(),
                options.writebackCache());
        this.passthrough = new Passthrough(name, this, ops, options);
        this.closeWork = new CloseWork(name, ops, nodes, handles, paths, config.guard().flushPolicy(),
                config.guard().deadline(OperationKind.DATA), events, config.guard().maxStuckThreads(), this::fatal,
                passthrough);
        this.dispatcher = new Dispatcher(this, ops, config, options, events, metrics);
        this.notifier = new Notifier(this);
        ops.pollWaker(notifier::pollWakeup); // a jnr-fuse filesystem's fuse_notify_poll
        long smallest = Long.MAX_VALUE;
        for (long d : deadlines) {
            smallest = Math.min(smallest, d);
        }
        this.kernelRequestTimeoutSeconds = config.guard().effectiveKernelRequestTimeout().toSeconds();
        this.tickNanos = Math.max(TimeUnit.MILLISECONDS.toNanos(1),
                Math.min(TimeUnit.MILLISECONDS.toNanos(10), smallest / 50));
    }

    private volatile FatalErrors.Target fatalTarget;
    private volatile io.fuseguard.internal.state.StateJournal journal;
    /** When this worker took a supervised mount over (0: not, or long enough ago to forget what was resent). */
    private volatile long resumedAt;
    private volatile boolean quiescing;
    /** Request threads between reading a request and the end of its dispatch (a handover waits for none). */
    private final java.util.concurrent.atomic.AtomicInteger dispatching = new java.util.concurrent.atomic.AtomicInteger();
    private volatile boolean resumed;

    /** The state journal of a supervised mount, or null. */
    io.fuseguard.internal.state.StateJournal journal() {
        return journal;
    }

    /**
     * Makes this a worker of a supervised mount, before {@link #start}: every change of the node and handle tables
     * is recorded in {@code j} before its request is answered. When {@code j} holds an INIT already, this worker
     * takes over from one that died or handed over: the tables are rebuilt from the journal, INIT's outcome is
     * taken from it (the kernel never sends INIT twice), still-open files are opened again in this process, and
     * close-time work the previous worker left is run. Returns whether it took over; then call
     * {@link #requestResend} once started.
     */
    public boolean supervise(io.fuseguard.internal.state.StateJournal j) {
        long t0 = System.nanoTime();
        journal = j;
        passthrough.offForSupervision();
        io.fuseguard.internal.state.StateJournal.Init init = j.init();
        if (init == null) {
            nodes.record(j);
            handles.record(j);
            return false;
        }
        ResentRequests resent = dispatcher.resent();
        resumedAt = System.nanoTime();
        j.replay(e -> {
            nodes.restore(e.rewind());
            handles.restore(e.rewind(), nodes);
            resent.collect(e.rewind());
        });
        nodes.restored();
        handles.restored();
        io.fuseguard.internal.ops.OpContext ctx = io.fuseguard.internal.ops.OpContext.forCurrentThread();
        dispatcher.connection().resumed(init, ctx);
        List<Handle> leftOver = new java.util.ArrayList<>();
        int reopened = 0;
        int lost = 0;
        for (Handle h : handles.all()) {
            String path = nodes.path(h.node());
            int flags = h.flags() & ~(0100 | 0200 | 01000); // O_CREAT, O_EXCL, O_TRUNC: never again
            ctx.begin(h.isDirectory() ? io.fuseguard.api.Operation.OPENDIR : io.fuseguard.api.Operation.OPEN, path,
                    h.openerUid(), h.openerGid(), h.openerPid(), 0,
                    System.nanoTime() + deadlines[OperationKind.METADATA.ordinal()]);
            int rc;
            try {
                ctx.open.clear();
                rc = path == null && !h.isDirectory() ? -Syscalls.ENOENT : h.isDirectory()
                        ? ops.opendir(ctx, path, flags, ctx.open) : ops.reopen(ctx, path, flags, ctx.open);
            } finally {
                ctx.end();
            }
            if (rc >= 0) {
                h.reopened(ctx.open.fh);
                reopened++;
            } else {
                lost++;
                h.lost();
                LOG.warn("{}: could not open {} again after the worker changed (errno {}); its handle answers "
                        + "EIO", name, path, -rc);
            }
            if (h.isReleased()) {
                leftOver.add(h);
            }
        }
        compact();
        nodes.record(j);
        handles.record(j);
        for (Handle h : leftOver) {
            closeWork.rerelease(h); // the previous worker answered the RELEASE but died before its work
        }
        resumed = true;
        LOG.info("{}: took over the connection in {} ms: {} nodes, {} open handles ({} opened again, {} lost), {} "
                + "releases to finish", name, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), nodes.size() - 1,
                handles.size(), reopened, lost, leftOver.size());
        return true;
    }

    /** Whether this worker took over a supervised connection from another. */
    public boolean resumed() {
        return resumed;
    }

    /**
     * Asks the kernel to send again every request the previous worker had read and not answered
     * (FUSE_NOTIFY_RESEND, Linux 6.9 and later): they come back with the top bit of their unique set.
     * Returns 0 or -errno.
     */
    public int requestResend() {
        synchronized (watchdogOut) {
            watchdogOut.putInt(0, Fuse.OUT_HEADER);
            watchdogOut.putInt(4, 7); // FUSE_NOTIFY_RESEND, in the error field of a unique-0 message
            watchdogOut.putLong(8, 0);
            long r = Syscalls.write(fd, watchdogOutAddress, Fuse.OUT_HEADER);
            return r < 0 ? (int) r : 0;
        }
    }

    /** Writes a fresh snapshot of the tables into the journal (the tables held still meanwhile). */
    void compact() {
        io.fuseguard.internal.state.StateJournal j = journal;
        if (j == null) {
            return;
        }
        nodes.frozen(() -> handles.frozen(() -> j.compact(x -> {
            nodes.snapshot(x);
            handles.snapshot(x);
        })));
    }

    /**
     * Stops taking requests (a planned handover): every thread finishes the request it has and then reads no
     * more; returns once nothing runs and close-time work is drained, or after {@code timeout}: whether it got
     * there. A thread already waiting in read may still take one request, and answers it.
     */
    public boolean quiesce(Duration timeout) throws InterruptedException {
        quiescing = true; // volatile, and dispatching is counted before quiescing is read: no request slips by
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            if (dispatching.get() == 0 && inFlight() == 0 && metadataLane.waiting() == 0 && dataLane.waiting() == 0
                    && closeWork.pending() == 0) {
                return true;
            }
            Thread.sleep(5);
        }
        return false;
    }

    /** How a fatal error in this session's own threads ends the mount (set before {@link #start}). */
    public void fatalTarget(FatalErrors.Target target) {
        this.fatalTarget = target;
    }

    /** An {@link Error} killed (or would kill) one of this session's own threads: the mount must end. */
    public void fatal(Throwable e, String where) {
        FatalErrors.Target t = fatalTarget;
        if (t != null) {
            FatalErrors.report(t, e, where);
        }
    }

    /** Starts the first request threads, the reader of last resort and the watchdog. */
    public void start() {
        if (options.ioUring()) {
            ring = RingRequests.forSession(this, inCapacity);
            if (ring != null) {
                ring.start(); // before any thread takes requests: with it, none reads /dev/fuse itself
            }
        }
        for (int i = 0; i < MIN_THREADS; i++) {
            spawn();
        }
        sentinel = new Worker(this, new WorkerBuffers(inCapacity, outCapacity, fd), 0, Worker.Role.SENTINEL);
        sentinel.start();
        watchdog = new Thread(this::watch, "fuseguard-watchdog-" + name);
        watchdog.setDaemon(true);
        watchdog.start();
    }

    String name() {
        return name;
    }

    /** FUSE over io_uring: set before {@link #start} when the option is on and the kernel can; never changes after. */
    private volatile RingRequests ring;

    /** Where request threads take requests from and ring answers go, or null: they read and write /dev/fuse. */
    RingRequests ring() {
        return ring;
    }

    /** Whether requests come on io_uring entries (the {@code io_uring} option, on a kernel that serves it). */
    public boolean ioUringActive() {
        RingRequests r = ring;
        return r != null && r.active();
    }

    /** Requests that came on io_uring entries (0 without io_uring). */
    public long ioUringRequests() {
        RingRequests r = ring;
        return r == null ? 0 : r.ringRequests();
    }

    /** Answers committed on io_uring entries (0 without io_uring). */
    public long ioUringAnswers() {
        RingRequests r = ring;
        return r == null ? 0 : r.ringAnswers();
    }

    /** The io_uring transport's state in a few words ("off" without the option). */
    public String ioUringState() {
        RingRequests r = ring;
        return r != null ? r.state() : options.ioUring() ? "unavailable (see the log)" : "off";
    }

    int fd() {
        return fd;
    }

    MountOptions options() {
        return options;
    }

    FuseguardConfig config() {
        return config;
    }

    /** The self-access policy in effect (AUTO resolved). */
    public io.fuseguard.config.SelfAccessPolicy selfAccessPolicy() {
        return selfAccess.policy();
    }

    long kernelRequestTimeoutSeconds() {
        return kernelRequestTimeoutSeconds;
    }

    private volatile io.fuseguard.mount.KernelProtocol protocol;

    void negotiated(io.fuseguard.mount.KernelProtocol p) {
        protocol = p;
    }

    /** What INIT negotiated (null before INIT). */
    public io.fuseguard.mount.KernelProtocol protocol() {
        return protocol;
    }

    void kernelTimeoutAccepted(boolean accepted) {
        kernelTimeout = accepted;
    }

    /** Whether the kernel took the request timeout (Linux 6.15+, protocol 7.43): the backstop for a daemon that dies mid-request. */
    public boolean kernelRequestTimeoutSet() {
        return kernelTimeout;
    }

    /** The hidden probe's file name. */
    public String probeName() {
        return probe.name;
    }

    /** Makes the probe visible to (only) the calling thread; also exempts it from the self-access policy. */
    public void becomeProbeOwner() {
        int tid = Syscalls.gettid();
        probe.owner(tid);
        selfAccess.exempt(tid);
    }

    /** Ends the probe's privileges. */
    public void endProbe() {
        probe.owner(0);
        selfAccess.exempt(0);
    }

    /** Waits for the kernel's release of the probe file. */
    public boolean awaitProbeReleased(long millis) throws InterruptedException {
        return probe.awaitReleased(millis);
    }

    /** Waits until the kernel's INIT was answered. */
    public boolean awaitInitialized(long millis) throws InterruptedException {
        return initialized.await(millis, TimeUnit.MILLISECONDS);
    }

    void markInitialized() {
        initialized.countDown();
    }

    /** FORGET, BATCH_FORGET and INTERRUPT: the kernel expects no answer and never sends them again. */
    private static boolean withoutAnswer(int opcode) {
        return opcode == Fuse.FORGET || opcode == Fuse.BATCH_FORGET || opcode == Fuse.INTERRUPT;
    }

    /** The request loop of a worker. */
    void serve(Worker w) {
        if (w.role == Worker.Role.SENTINEL) {
            standBy(w);
            return;
        }
        if (w.role == Worker.Role.DRAINER) {
            dispatcher.drainLanes(w);
            return;
        }
        while (!connectionEnded) {
            if (metadataLane.waiting() > 0 || dataLane.waiting() > 0) {
                dispatcher.drainLanes(w); // requests waiting for a slot that a stuck handler gave back
            }
            if (quiescing) {
                java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
                continue; // handing over: no new request is taken
            }
            idle.incrementAndGet();
            long n = w.read();
            int idleNow = idle.decrementAndGet();
            if (n <= 0) {
                if (n == -Syscalls.EINTR || n == -Syscalls.EAGAIN || n == -Syscalls.ENOENT) {
                    continue; // a signal, or a request that went away while it was being read
                }
                endOfConnection(n == 0 ? "the device was detached" : n == -Syscalls.ENODEV
                        ? "the filesystem was unmounted or its connection aborted" : "read failed with errno " + -n);
                return;
            }
            w.request.load(w.in, (int) n, w.buffers.fd);
            // Published first, before a thread start: an UNLINK read just after this request (a RELEASE, say)
            // waits for it to be counted (awaitEarlierReads), and a window here let it hide a closed file.
            w.justRead = w.request.unique;
            if (idleNow == 0 && !closing && !quiescing) {
                spawn(); // keep a thread waiting for the next request while this one runs a handler
            }
            requests.increment();
            dispatching.incrementAndGet();
            try {
                if (quiescing && !withoutAnswer(w.request.opcode)) {
                    // Handing over: read by a thread that was already waiting in read(). It stays unanswered, in
                    // the kernel's list of requests being processed, and the next worker gets it again
                    // (FUSE_NOTIFY_RESEND): served once, by the worker that serves from now on.
                    w.justRead = 0;
                    continue;
                }
                dispatcher.dispatch(w, w.request);
            } finally {
                dispatching.decrementAndGet();
            }
            if (w.stuck) {
                // Its handler came back after the watchdog gave its place to a replacement.
                w.stuck = false;
                stuck.decrementAndGet();
                if (live.incrementAndGet() > maxLive) {
                    live.decrementAndGet();
                    w.stuck = true; // leaves without counting as live (see workerExited)
                    stuck.incrementAndGet();
                    return;
                }
            }
            if (idle.get() >= maxIdle && retireAllowed()) {
                return; // many threads are waiting, for a while now: this one ends
            }
        }
    }

    /**
     * Whether nobody reads /dev/fuse and nobody can be started to: every request thread is in a handler (slow or
     * stuck past its deadline beyond {@code maxStuckThreads}) and the thread budget is spent.
     */
    private boolean noReader() {
        return idle.get() == 0 && live.get() >= maxLive;
    }

    /**
     * The reader of last resort: it reads only while {@link #noReader()}, and runs no handler itself, so it is
     * never stuck. What it reads waits in its lane (answered at its deadline, or the overload errno at once when
     * the lane's queue is full); kernel bookkeeping (FORGET, INTERRUPT, RELEASE) is done as usual. So the kernel
     * always gets its answers in time and its request timeout never ends a live mount for want of a reader.
     */
    private void standBy(Worker w) {
        while (!connectionEnded) {
            // Not before INIT's answer: the kernel sends nothing else before it, and request threads that have
            // not reached their first read yet look busy (with io_uring INIT already waits in the hand-off).
            if (!noReader() || quiescing || initialized.getCount() > 0) {
                java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(50));
                continue;
            }
            long n = w.read();
            if (n <= 0) {
                if (n == -Syscalls.EINTR || n == -Syscalls.EAGAIN || n == -Syscalls.ENOENT) {
                    continue;
                }
                endOfConnection(n == 0 ? "the device was detached" : n == -Syscalls.ENODEV
                        ? "the filesystem was unmounted or its connection aborted" : "read failed with errno " + -n);
                return;
            }
            requests.increment();
            w.request.load(w.in, (int) n, w.buffers.fd);
            w.justRead = w.request.unique;
            if (!sentinelReported.getAndSet(true)) {
                events.report(GuardEvent.Type.OVERLOADED, Dispatcher.operationOf(w.request.opcode), "",
                        w.request.pid, System.nanoTime(), overloadErrno, null, name + ": every request thread is "
                                + "in a handler and no more may start (workerThreads " + maxLive + ", stuck "
                                + stuck.get() + "); requests wait in their lanes until their deadline, or get the "
                                + "overload errno when the lanes are full");
            }
            dispatcher.dispatchWithoutHandlers(w, w.request);
        }
    }

    /**
     * A request waits in a lane with a free slot while no thread may come back to run it (the reader of last
     * resort queued it just as a thread became idle in its read): one more thread runs what waits, then ends.
     */
    private void drainStranded() {
        if ((metadataLane.waiting() == 0 || metadataLane.running() >= metadataLane.budget)
                && (dataLane.waiting() == 0 || dataLane.running() >= dataLane.budget)) {
            stranded = 0;
            return;
        }
        if (++stranded < 3 || closing || drainers.get() > 0) {
            return; // a running thread may take it within a tick or two
        }
        stranded = 0;
        drainers.incrementAndGet();
        live.incrementAndGet(); // briefly over the budget by this one thread
        Worker d = new Worker(this, buffers(), threadNumbers.incrementAndGet(), Worker.Role.DRAINER);
        paths.register(d.context.pin);
        workers.add(d);
        d.start();
    }

    /** Buffers for a new request thread: one a finished thread gave back, or new ones (full size: pooled again). */
    private WorkerBuffers buffers() {
        WorkerBuffers b = bufferPool.poll();
        return b != null ? b : new WorkerBuffers(inCapacity, outCapacity, readDescriptor());
    }

    /**
     * The device descriptor new buffers read from: the connection's own, or with {@code clone_fd} a new clone of
     * it (kept until the connection ends; see {@link WorkerBuffers#fd}). A clone that fails (a kernel without
     * {@code FUSE_DEV_IOC_CLONE}, or /dev/fuse not openable) turns cloning off, said once.
     */
    private int readDescriptor() {
        if (!cloning) {
            return fd;
        }
        synchronized (clones) {
            if (connectionEnded) {
                return fd;
            }
            int c = Syscalls.cloneDevice(fd);
            if (c < 0) {
                cloning = false;
                LOG.info("{}: cannot clone the connection's device (errno {}): every request thread reads from the one "
                        + "descriptor (clone_fd off)", name, -c);
                return fd;
            }
            clones.add(c);
            return c;
        }
    }

    /** Device clones made for request threads ({@code clone_fd}); guarded by itself. */
    private final List<Integer> clones = new java.util.ArrayList<>();
    private volatile boolean cloning;

    /**
     * Waits (at most a millisecond) until every request read before {@code unique} by another thread has begun its
     * dispatch. The kernel sends a file's RELEASE just before an unlink that follows its close; read by another
     * thread a moment earlier, it is counted before the unlink decides whether the file is still open, so no
     * needless {@code .fuse_hidden} file appears (one would make a following rmdir fail with ENOTEMPTY).
     */
    void awaitEarlierReads(long unique, Worker self) {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1);
        for (Worker w : workers) {
            if (w == self) {
                continue;
            }
            long r;
            while ((r = w.justRead) != 0 && Long.compareUnsigned(r, unique) < 0 && System.nanoTime() < end) {
                Thread.yield();
            }
        }
        Worker s = sentinel;
        long r;
        while (s != null && s != self && (r = s.justRead) != 0 && Long.compareUnsigned(r, unique) < 0
                && System.nanoTime() < end) {
            Thread.yield();
        }
    }

    /** At most one thread ends per second, so a burst and its lull do not start and end threads in a loop. */
    private boolean retireAllowed() {
        long now = System.nanoTime();
        long last = lastRetire.get();
        return now - last > TimeUnit.SECONDS.toNanos(1) && lastRetire.compareAndSet(last, now);
    }

    private void spawn() {
        if (live.incrementAndGet() > maxLive) {
            live.decrementAndGet();
            return;
        }
        Worker w = new Worker(this, buffers(), threadNumbers.incrementAndGet(), Worker.Role.WORKER);
        paths.register(w.context.pin);
        workers.add(w);
        w.start();
    }

    void workerExited(Worker w) {
        if (w.role == Worker.Role.SENTINEL) {
            return;
        }
        if (w.role == Worker.Role.DRAINER) {
            drainers.decrementAndGet();
        }
        workers.remove(w);
        paths.unregister(w.context.pin);
        if (w.stuck) {
            stuck.decrementAndGet();
        } else {
            live.decrementAndGet();
        }
        w.buffers.discard();
        bufferPool.add(w.buffers);
        if (connectionEnded && live.get() == 0) {
            ended.countDown();
        }
    }

    private void endOfConnection(String why) {
        boolean first = false;
        synchronized (endLock) {
            if (!connectionEnded) {
                endReason = why;
                connectionEnded = true;
                first = true;
            }
        }
        Runnable l = endListener;
        if (first && l != null) {
            l.run(); // at once: what ended the connection (an abort, an unmount) is still visible in the mount table
        }
    }

    private final Object endLock = new Object();
    private volatile Runnable endListener;

    /**
     * Runs {@code listener} on the request thread that first sees the connection end (read answered ENODEV, EOF or
     * an error), before that thread ends.
     */
    public void onEndOfConnection(Runnable listener) {
        endListener = listener;
    }

    // ---- answers -------------------------------------------------------------------------------------------

    /** The largest errno the kernel accepts in an answer (it refuses {@code -error <= -512}). */
    static final int MAX_ERRNO = 511;

    /**
     * Writes an answer from a worker's buffer: true when the kernel took it. An error outside what the kernel
     * accepts (a handler's -1000, say) becomes EIO, logged once per operation; an answer the kernel refuses is
     * followed by a plain EIO answer, so the caller never waits for one that will not come.
     */
    boolean send(Worker w, long unique, int error, int payload) {
        if (error < 0 || error > MAX_ERRNO) {
            badError(w.call.operation, error);
            error = Syscalls.EIO;
            payload = 0;
        }
        ByteBuffer o = w.out;
        o.putInt(0, Fuse.OUT_HEADER + payload);
        o.putInt(4, -error);
        o.putLong(8, unique);
        // the request's path hold ends before its answer, not after: see PathLocks.unpin
        paths.unpin(w.context.pin);
        RingRequests ring = this.ring;
        if (ring != null && ring.answer(unique, w.outAddress, Fuse.OUT_HEADER + payload)) {
            return true; // it came on an io_uring entry: committed there
        }
        long r = Syscalls.write(w.replyFd, w.outAddress, Fuse.OUT_HEADER + payload);
        if (r >= 0) {
            return true;
        }
        if (sendFailed(r, unique, w.call.operation)) {
            sendError(w.replyFd, unique, Syscalls.EIO);
        }
        return false;
    }

    /**
     * Writes an error answer from a thread that is not a worker (watchdog, interrupts, shutdown), through the
     * device descriptor the request was read from.
     */
    void sendError(int device, long unique, int errno) {
        if (errno <= 0 || errno > MAX_ERRNO) {
            badError(null, errno);
            errno = Syscalls.EIO;
        }
        RingRequests ring = this.ring;
        if (ring != null && ring.answerError(unique, errno)) {
            return; // it came on an io_uring entry: committed there
        }
        synchronized (watchdogOut) {
            watchdogOut.putInt(0, Fuse.OUT_HEADER);
            watchdogOut.putInt(4, -errno);
            watchdogOut.putLong(8, unique);
            long r = Syscalls.write(device, watchdogOutAddress, Fuse.OUT_HEADER);
            if (r < 0) {
                sendFailed(r, unique, null);
            }
        }
    }

    private final Set<String> badErrorLogged = ConcurrentHashMap.newKeySet();
    private final java.util.concurrent.atomic.AtomicLong unmatchedAnswers = new java.util.concurrent.atomic.AtomicLong();

    private void badError(io.fuseguard.api.Operation op, int error) {
        String what = op == null ? "a request" : op.name();
        if (badErrorLogged.size() < 64 && badErrorLogged.add(what)) {
            LOG.warn("{}: the filesystem answered {} with error value {}, which the kernel does not accept (an "
                    + "errno is 1..{}); answered EIO instead. Logged once per operation.", name, what, -error,
                    MAX_ERRNO);
        }
    }

    /** Whether the answer must be replaced by an EIO answer (the kernel refused it, the request still waits). */
    private boolean sendFailed(long r, long unique, io.fuseguard.api.Operation op) {
        if (r == -Syscalls.ENOENT) {
            unmatchedAnswers.incrementAndGet();
            return false; // the caller went away (interrupted)
        }
        if (r == -Syscalls.ENODEV || r == -Syscalls.ENOTCONN || r == -Syscalls.EBADF) {
            return false; // the connection went away
        }
        if (badErrorLogged.size() < 64 && badErrorLogged.add("refused " + (op == null ? "" : op.name()))) {
            LOG.warn("{}: the kernel refused the answer to request {} ({}): errno {}; answered EIO instead. Logged "
                    + "once per operation.", name, unique, op == null ? "an error answer" : op, -r);
        }
        return true;
    }

    // ---- deadlines, interrupts, stuck handlers --------------------------------------------------------------

    private void watch() {
        try {
            watchLoop();
        } catch (Throwable e) {
            fatal(e, "the watchdog"); // no deadline is kept any more: the mount must end
        }
    }

    private void watchLoop() {
        long lastCleanup = System.nanoTime();
        long lastEarlyCleanup = lastCleanup;
        while (!connectionEnded || live.get() > 0) {
            try {
                TimeUnit.NANOSECONDS.sleep(tickNanos);
            } catch (InterruptedException e) {
                return;
            }
            long now = System.nanoTime();
            for (Worker w : workers) {
                Call c = w.call;
                long s = c.state();
                if (Call.status(s) == Call.RUNNING && now - c.deadlineNanos > 0) {
                    abandon(w, s, GuardEvent.Type.TIMEOUT, timeoutErrno, "the handler missed its deadline");
                }
            }
            expireQueued(metadataLane, now);
            expireQueued(dataLane, now);
            drainStranded();
            recheckInterrupted(now);
            if (sentinel != null && noReader()) {
                java.util.concurrent.locks.LockSupport.unpark(sentinel);
            }
            closeWork.checkLate(now);
            if (now - lastCleanup > TimeUnit.SECONDS.toNanos(1)) {
                lastCleanup = now;
                events.tick(); // summaries of log lines counted instead of written
                if (journal != null && journal.wantsCompaction()) {
                    compact();
                }
                if (resumedAt != 0 && now - resumedAt > TimeUnit.SECONDS.toNanos(30)) {
                    resumedAt = 0;
                    dispatcher.resent().clear(); // the kernel resent what it had right after the take-over
                }
            }
            if (hasEarlyInterrupts && now - lastEarlyCleanup > TimeUnit.SECONDS.toNanos(1)) {
                lastEarlyCleanup = now;
                earlyInterrupts.values().removeIf(t -> now - t > TimeUnit.SECONDS.toNanos(10));
                hasEarlyInterrupts = !earlyInterrupts.isEmpty();
            }
            if (connectionEnded && closing && live.get() == 0) {
                return;
            }
        }
    }

    /**
     * Answers a running request with {@code errno} in place of its handler (deadline or shutdown), interrupts the
     * handler's thread, and takes the thread off the books so a replacement can serve others.
     */
    private void abandon(Worker w, long s, GuardEvent.Type why, int errno, String detail) {
        Call c = w.call;
        if (!c.cas(s, (s & ~Call.STATUS) | Call.BUSY)) {
            return;
        }
        long unique = c.unique;
        // The thread is given up first, so that what queued behind it runs by the time the caller hears back.
        boolean replaced = takeOffBooks(w, c);
        sendError(c.fd, unique, lockSafe(c.opcode, errno));
        StackTraceElement[] stack = w.getStackTrace();
        long flags = s & (Call.THREAD_INTERRUPTED | Call.KERNEL_INTERRUPTED);
        boolean interrupt = interruptHandlers && c.opcode != Fuse.FLUSH;
        if (interrupt) {
            w.context.interrupted = true;
            w.interrupt();
            flags |= Call.THREAD_INTERRUPTED;
        }
        c.set((s & ~(Call.STATUS | Call.THREAD_INTERRUPTED | Call.KERNEL_INTERRUPTED)) | flags | Call.ABANDONED);
        events.report(why, c.operation, c.path, c.pid, c.startNanos, errno, stack,
                (stack.length == 0 ? "the handler had not started" : interrupt ? "interrupted the handler"
                        : "left the handler running") + (replaced ? "; its thread was replaced" : "")
                        + (detail.isEmpty() ? "" : "; " + detail));
    }

    private boolean takeOffBooks(Worker w, Call c) {
        if (stuck.get() >= maxStuck) {
            if (stuckCapReported.compareAndSet(false, true)) {
                events.report(GuardEvent.Type.STUCK_THREADS_CAP, c.operation, c.path, c.pid, c.startNanos, 0, null,
                        name + ": " + maxStuck + " request threads are held by handlers stuck past their deadline "
                                + "(maxStuckThreads); no more replacements until some of them return");
            }
            return false;
        }
        stuck.incrementAndGet();
        w.stuck = true;
        if (live.decrementAndGet() == 0 && connectionEnded) {
            ended.countDown();
        }
        Lane lane = c.lane;
        if (lane != null) {
            lane.exit();
            c.lane = null;
        }
        if (!closing && (idle.get() == 0 || (lane != null && lane.waiting() > 0))) {
            // A replacement: it runs what waits in the lanes first, then reads like any other.
            spawn();
        }
        return true;
    }

    private void expireQueued(Lane lane, long now) {
        if (lane.waiting() == 0) {
            return;
        }
        for (QueuedRequest q : lane.queue) {
            if (now - q.deadlineNanos > 0 && lane.remove(q)) {
                sendError(q.request.fd, q.request.unique, lockSafe(q.request.opcode, timeoutErrno));
                events.report(GuardEvent.Type.TIMEOUT, Dispatcher.operationOf(q.request.opcode), "",
                        q.request.pid, q.arrivedNanos, timeoutErrno, null,
                        "waited in the " + lane.name + " queue (all " + lane.budget + " threads of the lane busy)");
            }
        }
    }

    /**
     * The kernel interrupted request {@code unique}: its caller got a signal. Like libfuse (without
     * {@code -o intr}), an ordinary signal changes nothing: the request finishes and its caller gets the real
     * result, because the kernel cannot restart a call the daemon answered EINTR (a program with an SA_RESTART
     * handler, a JVM, a Go program or a profiler would see EINTR from calls that never return it elsewhere, and
     * a change could be reported "interrupted" while it happened). Only a caller that is being killed
     * ({@link Callers#dying}) is let go: at once with EINTR for a request that changes nothing; for a change, its
     * handler's thread is interrupted and the handler's own outcome is answered. A caller killed after its
     * signal is noticed by the watchdog ({@link #recheckInterrupted}). With {@code -o intr} every interrupt is
     * honoured that way.
     */
    void interrupt(long unique) {
        for (Worker w : workers) {
            Call c = w.call;
            long st = c.state();
            if (Call.status(st) != Call.RUNNING || c.unique != unique) {
                continue;
            }
            if (!honourAllInterrupts && !honoursEveryInterrupt(c.opcode) && !Callers.dying(c.pid)) {
                c.interruptedUnique = unique; // the watchdog looks again: the caller may be killed later
                c.nextInterruptCheck = System.nanoTime() + INTERRUPT_RECHECK_NANOS;
                ignoredInterrupts.increment();
                return;
            }
            callerGone(w, st, unique);
            return;
        }
        if (interruptQueued(metadataLane, unique) || interruptQueued(dataLane, unique)) {
            return;
        }
        earlyInterrupts.put(unique, System.nanoTime());
        hasEarlyInterrupts = true;
    }

    /**
     * The errno to answer a request with in place of {@code errno}: the kernel turns an EINTR answer to a lock
     * (SETLK, SETLKW, flock) into a restart of the call, which only a pending signal completes; without one the
     * program would get errno 512 (ERESTARTSYS). So a lock is answered EINTR only for the kernel's INTERRUPT,
     * and a configured EINTR (timeout or overload errno) becomes EIO for locks.
     */
    static int lockSafe(int opcode, int errno) {
        return errno == Syscalls.EINTR && (opcode == Fuse.SETLK || opcode == Fuse.SETLKW) ? Syscalls.EIO : errno;
    }

    /** Interrupts that were let finish because their callers were not being killed (signals of live programs). */
    public long ignoredInterrupts() {
        return ignoredInterrupts.sum();
    }

    /** The caller of the running request {@code unique} is being killed: let it go (see {@link #interrupt}). */
    private void callerGone(Worker w, long st, long unique) {
        Call c = w.call;
        if (answersInterruptAtOnce(c.opcode)) {
            abandonInterrupted(w, st, unique);
            return;
        }
        if (!c.cas(st, (st & ~Call.STATUS) | Call.BUSY)) {
            return;
        }
        if (c.unique != unique) {
            c.set(st);
            return;
        }
        long flags = Call.KERNEL_INTERRUPTED;
        w.context.interrupted = true;
        if (interruptHandlers) {
            w.interrupt();
            flags |= Call.THREAD_INTERRUPTED;
        }
        c.interruptedUnique = 0;
        c.set(st | flags);
        events.report(GuardEvent.Type.INTERRUPTED, c.operation, c.path, c.pid, c.startNanos, 0, null,
                interruptHandlers ? "its caller is being killed; interrupted the handler of a change (the answer is "
                        + "its own outcome)" : "its caller is being killed; a change: the handler goes on");
    }

    /**
     * Looks again (every {@value #INTERRUPT_RECHECK_MS} ms) at callers whose requests were interrupted by an
     * ordinary signal: one killed since then waits for the answer in the kernel, uninterruptibly, and gets no
     * second INTERRUPT. Called by the watchdog; reads /proc only for such requests.
     */
    private void recheckInterrupted(long now) {
        for (Worker w : workers) {
            Call c = w.call;
            long st = c.state();
            long unique = c.interruptedUnique;
            if (unique == 0 || Call.status(st) != Call.RUNNING || c.unique != unique
                    || now - c.nextInterruptCheck < 0) {
                continue;
            }
            c.nextInterruptCheck = now + INTERRUPT_RECHECK_NANOS;
            if (Callers.dying(c.pid)) {
                callerGone(w, st, unique);
            }
        }
    }

    private void abandonInterrupted(Worker w, long s, long unique) {
        Call c = w.call;
        if (!c.cas(s, (s & ~Call.STATUS) | Call.BUSY)) {
            return;
        }
        if (c.unique != unique) {
            c.set(s);
            return;
        }
        sendError(c.fd, unique, Syscalls.EINTR);
        long flags = Call.KERNEL_INTERRUPTED;
        w.context.interrupted = true;
        boolean interrupt = interruptHandlers && c.opcode != Fuse.FLUSH;
        if (interrupt) {
            w.interrupt();
            flags |= Call.THREAD_INTERRUPTED;
        }
        boolean replaced = takeOffBooks(w, c);
        c.set((s & ~Call.STATUS) | flags | Call.ABANDONED);
        events.report(GuardEvent.Type.INTERRUPTED, c.operation, c.path, c.pid, c.startNanos, Syscalls.EINTR, null,
                "answered EINTR at once (nothing is changed by it)"
                        + (c.opcode == Fuse.FLUSH ? "; the flush goes on, its failure is kept for the next fsync"
                        : interrupt ? "; interrupted the handler" : "") + (replaced ? "; its thread was replaced"
                        : ""));
    }

    private static boolean answersInterruptAtOnce(int opcode) {
        return switch (opcode) {
            case Fuse.LOOKUP, Fuse.GETATTR, Fuse.READLINK, Fuse.OPEN, Fuse.READ, Fuse.STATFS, Fuse.GETXATTR,
                    Fuse.LISTXATTR, Fuse.OPENDIR, Fuse.READDIR, Fuse.READDIRPLUS, Fuse.ACCESS, Fuse.FSYNC,
                    Fuse.FSYNCDIR, Fuse.FLUSH, Fuse.GETLK, Fuse.SETLKW, Fuse.LSEEK, Fuse.STATX, Fuse.POLL -> true;
            default -> false;
        };
    }

    /**
     * Requests whose every INTERRUPT is honoured, also for a caller that is not being killed: a lock that waits
     * (SETLKW) changed nothing yet, and the kernel restarts a lock call answered EINTR where the program's signal
     * handler asks for restarts (and reports EINTR otherwise), as a local filesystem does. See LockRequests.
     */
    private static boolean honoursEveryInterrupt(int opcode) {
        return opcode == Fuse.SETLKW;
    }

    private boolean interruptQueued(Lane lane, long unique) {
        if (lane.waiting() == 0) {
            return false;
        }
        for (QueuedRequest q : lane.queue) {
            if (q.request.unique == unique) {
                if (!honourAllInterrupts && !honoursEveryInterrupt(q.request.opcode)
                        && !Callers.dying(q.request.pid)) {
                    return false; // remembered as early: looked at again when it starts
                }
                if (!lane.remove(q)) {
                    return false;
                }
                sendError(q.request.fd, unique, Syscalls.EINTR);
                events.report(GuardEvent.Type.INTERRUPTED, Dispatcher.operationOf(q.request.opcode), "",
                        q.request.pid, q.arrivedNanos, Syscalls.EINTR, null, "answered EINTR: it had not started");
                return true;
            }
        }
        return false;
    }

    /**
     * Whether the request starting on {@code c} was interrupted before it started and its caller is being killed
     * (then it is answered EINTR without running). An interrupt of a caller that is not dying is left for the
     * watchdog to look at again.
     */
    boolean takeEarlyInterrupt(Call c) {
        if (!hasEarlyInterrupts || earlyInterrupts.remove(c.unique) == null) {
            return false;
        }
        if (honourAllInterrupts || honoursEveryInterrupt(c.opcode) || Callers.dying(c.pid)) {
            return true;
        }
        c.interruptedUnique = c.unique;
        c.nextInterruptCheck = System.nanoTime() + INTERRUPT_RECHECK_NANOS;
        ignoredInterrupts.increment();
        return false;
    }

    // ---- the end --------------------------------------------------------------------------------------------

    /** Whether the mount is closing. */
    boolean closing() {
        return closing;
    }

    /** Stops taking new requests: from now on they are answered ENOTCONN (and notifications are refused). */
    public void beginClose() {
        closing = true;
        notifier.close();
    }

    /** The mount's notifications to the kernel. */
    public Notifier notifier() {
        return notifier;
    }

    /**
     * Answers ENOTCONN for every request still running (their handlers are interrupted like on a timeout), so
     * nothing waits on a mount that is going away.
     */
    public void abandonRunning() {
        for (Worker w : workers) {
            long s = w.call.state();
            if (Call.status(s) == Call.RUNNING) {
                abandon(w, s, GuardEvent.Type.SHUTDOWN, Syscalls.ENOTCONN, "the mount is closing");
            }
        }
        for (Lane lane : List.of(metadataLane, dataLane)) {
            QueuedRequest q;
            while ((q = lane.poll()) != null) {
                sendError(q.request.fd, q.request.unique, Syscalls.ENOTCONN);
            }
        }
    }

    /** Whether the connection ended (unmounted, aborted, or the device detached). */
    public boolean connectionEnded() {
        return connectionEnded;
    }

    /** Why the connection ended. */
    public String endReason() {
        return endReason;
    }

    /** Waits until every request thread that is not stuck in a handler has ended. */
    public boolean awaitThreads(Duration timeout) throws InterruptedException {
        return ended.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Whether every live request thread has ended. */
    public boolean threadsEnded() {
        return ended.getCount() == 0;
    }

    /**
     * Replaces the /dev/fuse descriptor with /dev/null, atomically: the connection's device file is released (so
     * the kernel ends it if nothing else holds it), and a thread that still reads gets end-of-file instead of
     * reading from whatever file might later reuse the descriptor number.
     */
    public void detachDevice() {
        int devnull = Syscalls.openReadWrite("/dev/null");
        if (devnull >= 0) {
            synchronized (clones) {
                for (int c : clones) {
                    Syscalls.dup2(devnull, c);
                }
            }
            Syscalls.dup2(devnull, fd);
            Syscalls.close(devnull);
        }
        connectionEnded = true;
        endReason = endReason.isEmpty() ? "the device was detached" : endReason;
        if (live.get() == 0) {
            ended.countDown();
        }
    }

    /** Closes the descriptor once no thread can use it any more. */
    public void closeDevice() {
        if (workers.isEmpty()) {
            passthrough.close();
            synchronized (clones) {
                for (int c : clones) {
                    Syscalls.close(c);
                }
                clones.clear();
            }
            Syscalls.close(fd);
        }
    }

    /** Runs the close-time work of every handle the kernel never released (the mount ended with files open). */
    public void releaseLeftHandles() {
        for (Handle h : handles.all()) {
            if (!h.isReleased()) {
                closeWork.release(h, h.openerUid(), h.openerGid(), h.openerPid());
            }
        }
    }

    /** Drains close-time work within the bound; returns what did not finish. */
    public List<String> drainCloseWork(Duration bound) {
        return closeWork.drain(bound);
    }

    /** Paths of files that were unlinked while open and are still hidden. */
    public List<String> hiddenPaths() {
        return nodes.hiddenPaths();
    }

    /**
     * Removes the hidden files (unlinked while open) that are left once close-time work was drained at the end of
     * the mount: nobody can open them any more. Returns what it found, each path with the errno when its
     * removal failed.
     */
    public List<String> removeLeftHidden() {
        List<String> found = new java.util.ArrayList<>();
        io.fuseguard.internal.ops.OpContext ctx = io.fuseguard.internal.ops.OpContext.forCurrentThread();
        for (io.fuseguard.internal.tree.Node n : nodes.hiddenNodes()) {
            String p = nodes.path(n);
            if (p == null) {
                continue;
            }
            ctx.begin(io.fuseguard.api.Operation.UNLINK, p, 0, 0, 0, 0,
                    System.nanoTime() + deadlines[OperationKind.METADATA.ordinal()]);
            int rc;
            try {
                rc = ops.unlink(ctx, p);
            } finally {
                ctx.end();
            }
            if (rc >= 0) {
                nodes.unlinked(n);
                found.add(p);
            } else {
                found.add(p + " (not removed: errno " + -rc + ")");
            }
        }
        return found;
    }

    /** Stops the watchdog. */
    public void stopWatchdog() {
        if (watchdog != null) {
            watchdog.interrupt();
        }
    }

    // ---- figures --------------------------------------------------------------------------------------------

    /** Requests read from the kernel. */
    public long requests() {
        return requests.sum();
    }

    /** Requests whose handler is running now. */
    public int inFlight() {
        int n = 0;
        for (Worker w : workers) {
            if (Call.status(w.call.state()) == Call.RUNNING) {
                n++;
            }
        }
        return n;
    }

    /** Request threads alive (stuck ones included). */
    public int threads() {
        return workers.size();
    }

    /** Threads held by handlers stuck past their deadline. */
    public int stuckThreads() {
        return stuck.get();
    }

    /** FUSE passthrough on this mount: "on", or off/not available and why. */
    public String passthroughStatus() {
        return passthrough.status();
    }

    /** Opens answered with a backing file (FUSE passthrough). */
    public long backedOpens() {
        return passthrough.backedOpens();
    }

    /** Opens the filesystem named a backing file for that were served by it instead. */
    public long fallbackOpens() {
        return passthrough.fallbackOpens();
    }

    /** Backing ids registered with the kernel and not closed yet. */
    public int openBackingIds() {
        return passthrough.openBackingIds();
    }

    /** Clones of the connection's device that request threads read from ({@code clone_fd}); 0 when off. */
    public int clonedDevices() {
        synchronized (clones) {
            return clones.size();
        }
    }

    /** FLUSH requests the kernel sent. */
    public long flushRequests() {
        return dispatcher.flushRequests();
    }

    /** Close-time work queued or running. */
    public int pendingCloseWork() {
        return closeWork.pending();
    }

    /** Open handles. */
    public int openHandles() {
        return handles.size();
    }

    /** Node ids the kernel may refer to (the root included). */
    public int knownNodes() {
        return nodes.size();
    }

    /**
     * Answers the kernel did not match to a waiting request (ENOENT): the caller was interrupted meanwhile, or the
     * request was answered already. A supervised take-over must never add any.
     */
    public long unmatchedAnswers() {
        return unmatchedAnswers.get();
    }
}
