package io.fuseguard.internal.session;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.FsOps;
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
    final NodeTable nodes = new NodeTable();
    final HandleTable handles = new HandleTable();
    final Probe probe = new Probe();
    final SelfAccess selfAccess;
    final CloseWork closeWork;
    final Dispatcher dispatcher;
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
    private volatile boolean kernelTimeout;

    /** A session for a connection whose /dev/fuse descriptor is {@code fd}. */
    public Session(String name, int fd, FuseguardConfig config, MountOptions options, FsOps ops,
                   EventReporter events, io.fuseguard.metrics.MountMetrics metrics) {
        this.name = name;
        this.fd = fd;
        this.config = config;
        this.options = options;
        this.events = events;
        for (OperationKind k : OperationKind.values()) {
            deadlines[k.ordinal()] = config.guard().deadline(k).toNanos();
        }
        this.timeoutErrno = config.guard().timeoutErrno().code();
        this.overloadErrno = config.guard().overloadErrno().code();
        this.interruptHandlers = config.guard().interruptStalledHandlers();
        this.maxLive = config.guard().workerThreads();
        // Threads are kept rather than churned: a new thread costs a start and page faults on fresh buffers.
        this.maxIdle = Math.max(8, 2 * Runtime.getRuntime().availableProcessors());
        this.maxStuck = config.guard().maxStuckThreads();
        int reserve = Math.max(1, maxLive / 8);
        this.metadataLane = new Lane("metadata", Math.max(1, maxLive - reserve), config.guard().queueCapacity());
        this.dataLane = new Lane("data", Math.max(1, maxLive - reserve), config.guard().queueCapacity());
        int maxWrite = options.maxWrite();
        this.inCapacity = Math.max(Fuse.MIN_READ_BUFFER, maxWrite + 4096);
        this.outCapacity = Fuse.OUT_HEADER + Math.max(maxWrite, 65536) + 4096;
        this.selfAccess = new SelfAccess(config.guard().selfAccessPolicy(), config.guard().flushPolicy());
        this.closeWork = new CloseWork(name, ops, nodes, handles, config.guard().flushPolicy(),
                config.guard().deadline(OperationKind.DATA), events, config.guard().maxStuckThreads());
        this.dispatcher = new Dispatcher(this, ops, config, options, events, metrics);
        long smallest = Long.MAX_VALUE;
        for (long d : deadlines) {
            smallest = Math.min(smallest, d);
        }
        this.kernelRequestTimeoutSeconds = config.guard().effectiveKernelRequestTimeout().toSeconds();
        this.tickNanos = Math.max(TimeUnit.MILLISECONDS.toNanos(1),
                Math.min(TimeUnit.MILLISECONDS.toNanos(10), smallest / 50));
    }

    /** Starts the first request threads and the watchdog. */
    public void start() {
        for (int i = 0; i < MIN_THREADS; i++) {
            spawn();
        }
        watchdog = new Thread(this::watch, "fuseguard-watchdog-" + name);
        watchdog.setDaemon(true);
        watchdog.start();
    }

    String name() {
        return name;
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

    void kernelTimeoutAccepted(boolean accepted) {
        kernelTimeout = accepted;
    }

    /** Whether the kernel took the request timeout (Linux 6.14+): the backstop for a daemon that dies mid-request. */
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

    /** The request loop of a worker. */
    void serve(Worker w) {
        while (!connectionEnded) {
            if (metadataLane.waiting() > 0 || dataLane.waiting() > 0) {
                dispatcher.drainLanes(w); // requests waiting for a slot that a stuck handler gave back
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
            if (idleNow == 0 && !closing) {
                spawn(); // keep a thread waiting for the next request while this one runs a handler
            }
            requests.increment();
            w.request.load(w.in, (int) n);
            dispatcher.dispatch(w, w.request);
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
        WorkerBuffers b = bufferPool.poll();
        if (b == null) {
            b = new WorkerBuffers(inCapacity, outCapacity);
        }
        Worker w = new Worker(this, b, threadNumbers.incrementAndGet());
        workers.add(w);
        w.start();
    }

    void workerExited(Worker w) {
        workers.remove(w);
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
        if (!connectionEnded) {
            endReason = why;
            connectionEnded = true;
        }
    }

    // ---- answers -------------------------------------------------------------------------------------------

    /** Writes an answer from a worker's buffer: true when the kernel took it. */
    boolean send(Worker w, long unique, int error, int payload) {
        ByteBuffer o = w.out;
        o.putInt(0, Fuse.OUT_HEADER + payload);
        o.putInt(4, -error);
        o.putLong(8, unique);
        long r = Syscalls.write(fd, w.outAddress, Fuse.OUT_HEADER + payload);
        if (r >= 0) {
            return true;
        }
        sendFailed(r, unique);
        return false;
    }

    /** Writes an error answer from a thread that is not a worker (watchdog, interrupts, shutdown). */
    void sendError(long unique, int errno) {
        synchronized (watchdogOut) {
            watchdogOut.putInt(0, Fuse.OUT_HEADER);
            watchdogOut.putInt(4, -errno);
            watchdogOut.putLong(8, unique);
            long r = Syscalls.write(fd, watchdogOutAddress, Fuse.OUT_HEADER);
            if (r < 0) {
                sendFailed(r, unique);
            }
        }
    }

    private void sendFailed(long r, long unique) {
        if (r == -Syscalls.ENOENT || r == -Syscalls.ENODEV || r == -Syscalls.ENOTCONN || r == -Syscalls.EBADF) {
            return; // the caller went away (interrupted), or the connection did
        }
        LOG.warn("{}: the kernel refused the answer to request {}: errno {}", name, unique, -r);
    }

    // ---- deadlines, interrupts, stuck handlers --------------------------------------------------------------

    private void watch() {
        long lastCleanup = System.nanoTime();
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
            closeWork.checkLate(now);
            if (hasEarlyInterrupts && now - lastCleanup > TimeUnit.SECONDS.toNanos(1)) {
                lastCleanup = now;
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
        sendError(unique, errno);
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
                sendError(q.request.unique, timeoutErrno);
                events.report(GuardEvent.Type.TIMEOUT, Dispatcher.operationOf(q.request.opcode), "",
                        q.request.pid, q.arrivedNanos, timeoutErrno, null,
                        "waited in the " + lane.name + " queue (all " + lane.budget + " threads of the lane busy)");
            }
        }
    }

    /**
     * The kernel interrupted request {@code unique}: its caller got a signal. A request that changes nothing
     * (lookups, reads, fsync, FLUSH whose outcome is kept for the next fsync) is answered EINTR at once and its
     * handler interrupted. A request that changes something gets only the thread interrupt: the caller then
     * learns what really happened, EINTR if the handler stopped, its result if it completed, the timeout errno at
     * the deadline, never "interrupted" for a change that happens anyway.
     */
    void interrupt(long unique) {
        for (Worker w : workers) {
            Call c = w.call;
            long s = c.state();
            if (Call.status(s) != Call.RUNNING || c.unique != unique) {
                continue;
            }
            if (answersInterruptAtOnce(c.opcode)) {
                abandonInterrupted(w, s, unique);
                return;
            }
            if (!c.cas(s, (s & ~Call.STATUS) | Call.BUSY)) {
                continue;
            }
            if (c.unique != unique) {
                c.set(s);
                continue;
            }
            long flags = Call.KERNEL_INTERRUPTED;
            w.context.interrupted = true;
            if (interruptHandlers) {
                w.interrupt();
                flags |= Call.THREAD_INTERRUPTED;
            }
            c.set(s | flags);
            events.report(GuardEvent.Type.INTERRUPTED, c.operation, c.path, c.pid, c.startNanos, 0, null,
                    interruptHandlers ? "interrupted the handler of a change; the caller gets EINTR if it stops, "
                            + "else its result" : "a change: the caller gets the handler's result");
            return;
        }
        if (interruptQueued(metadataLane, unique) || interruptQueued(dataLane, unique)) {
            return;
        }
        earlyInterrupts.put(unique, System.nanoTime());
        hasEarlyInterrupts = true;
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
        sendError(unique, Syscalls.EINTR);
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
                    Fuse.LISTXATTR, Fuse.OPENDIR, Fuse.READDIR, Fuse.ACCESS, Fuse.FSYNC, Fuse.FSYNCDIR,
                    Fuse.FLUSH -> true;
            default -> false;
        };
    }

    private boolean interruptQueued(Lane lane, long unique) {
        if (lane.waiting() == 0) {
            return false;
        }
        for (QueuedRequest q : lane.queue) {
            if (q.request.unique == unique && lane.remove(q)) {
                sendError(unique, Syscalls.EINTR);
                events.report(GuardEvent.Type.INTERRUPTED, Dispatcher.operationOf(q.request.opcode), "",
                        q.request.pid, q.arrivedNanos, Syscalls.EINTR, null, "answered EINTR: it had not started");
                return true;
            }
        }
        return false;
    }

    /** Whether an INTERRUPT for {@code unique} arrived before its request started (consumes it). */
    boolean takeEarlyInterrupt(long unique) {
        if (!hasEarlyInterrupts) {
            return false;
        }
        return earlyInterrupts.remove(unique) != null;
    }

    // ---- the end --------------------------------------------------------------------------------------------

    /** Whether the mount is closing. */
    boolean closing() {
        return closing;
    }

    /** Stops taking new requests: from now on they are answered ENOTCONN. */
    public void beginClose() {
        closing = true;
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
                sendError(q.request.unique, Syscalls.ENOTCONN);
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
            Syscalls.close(fd);
        }
    }

    /** Runs the close-time work of every handle the kernel never released (the mount ended with files open). */
    public void releaseLeftHandles() {
        for (Handle h : handles.all()) {
            if (!h.isReleased()) {
                boolean unlinkHidden = !h.isDirectory() && nodes.closed(h.node());
                closeWork.release(h, h.openerUid(), h.openerGid(), h.openerPid(), unlinkHidden);
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
}
