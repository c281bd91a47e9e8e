package io.fuseguard.guard;

import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.Operation;
import io.fuseguard.api.RequestContext;
import io.fuseguard.config.FuseguardConfig;
import jnr.constants.platform.Errno;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * The watchdog every FUSE request passes through, on the libfuse thread that received it:
 * <ol>
 *   <li>refuse at once when the mount is closing;</li>
 *   <li>apply the self-access policy;</li>
 *   <li>run the handler, inline for {@code @NonBlocking} handlers, otherwise on a bounded worker pool;</li>
 *   <li>wait for it until the deadline of the operation's kind, checking every poll interval whether the
 *       kernel interrupted the request;</li>
 *   <li>on timeout, interrupt, overload or shutdown, answer an errno, interrupt the handler, report it.</li>
 * </ol>
 * Results are returned as libfuse expects them: a non-negative value, or {@code -errno}.
 */
public final class RequestGuard implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(RequestGuard.class);
    private static final int EINTR = Errno.EINTR.intValue();
    private static final int EIO = Errno.EIO.intValue();
    private static final int ENOTCONN = Errno.ENOTCONN.intValue();
    private static final int EDEADLK = Errno.EDEADLK.intValue();
    /** What a handler that obeyed the watchdog's interrupt returns (never reaches the kernel). */
    static final int CANCELLED = Integer.MIN_VALUE;

    private final FuseguardConfig config;
    private final RequestSource source;
    private final SelfAccessGuard selfAccess;
    private final ThreadPoolExecutor workers;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final Set<String> failureLogged = ConcurrentHashMap.newKeySet();
    private final long pollNanos;
    private final long[] deadlineNanos;
    private final int timeoutErrno;
    private final int overloadErrno;
    private final ThreadPoolExecutor reporter;
    private final java.util.concurrent.atomic.AtomicLong droppedEvents = new java.util.concurrent.atomic.AtomicLong();
    private volatile boolean closing;

    /** A guard for one mount. */
    public RequestGuard(FuseguardConfig config, RequestSource source) {
        this.config = config;
        this.source = source;
        this.selfAccess = new SelfAccessGuard(config.selfAccessPolicy());
        this.pollNanos = config.interruptPollInterval().toNanos();
        this.timeoutErrno = config.timeoutErrno().intValue();
        this.overloadErrno = config.overloadErrno().intValue();
        io.fuseguard.api.OperationKind[] kinds = io.fuseguard.api.OperationKind.values();
        this.deadlineNanos = new long[kinds.length];
        for (io.fuseguard.api.OperationKind k : kinds) {
            deadlineNanos[k.ordinal()] = config.deadline(k).toNanos();
        }
        BlockingQueue<Runnable> queue = config.queueCapacity() == 0
                ? new SynchronousQueue<>() : new ArrayBlockingQueue<>(config.queueCapacity());
        AtomicInteger n = new AtomicInteger();
        this.workers = new ThreadPoolExecutor(config.workerThreads(), config.workerThreads(), 60, TimeUnit.SECONDS,
                queue, r -> {
            Thread t = new Thread(r, "fuseguard-worker-" + n.incrementAndGet());
            t.setDaemon(true); // a stuck handler must never keep the JVM alive
            return t;
        }, new ThreadPoolExecutor.AbortPolicy());
        this.reporter = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(4096), r -> {
            Thread t = new Thread(r, "fuseguard-reporter");
            t.setDaemon(true);
            return t;
        }, new ThreadPoolExecutor.AbortPolicy());
    }

    /**
     * Runs one request. Called on the libfuse thread.
     *
     * @param inline      run on this thread without deadline (for {@code @NonBlocking} handlers)
     * @param lateOutcome told the handler's result (or -errno) if it finishes after the request was answered;
     *                    may be null
     * @return the handler's result, or -errno
     */
    public int run(Operation op, String path, boolean inline, Handler handler, IntConsumer lateOutcome) {
        return run(source, op, path, inline, handler, lateOutcome);
    }

    /**
     * Runs one request whose caller and interrupt flag come from {@code src} (for requests that do not come
     * from the kernel, such as in-process access: {@link RequestSource#NONE}).
     */
    public int run(RequestSource src, Operation op, String path, boolean inline, Handler handler,
                   IntConsumer lateOutcome) {
        long start = System.nanoTime();
        if (closing) {
            return -ENOTCONN;
        }
        RequestSource.Caller caller = src.caller();
        if (selfAccess.refuse(op, path, caller.pid())) {
            report(GuardEvent.Type.SELF_ACCESS, op, path, caller.pid(), start, EDEADLK, List.of(), "refused");
            return -EDEADLK;
        }
        long deadline = start + deadlineNanos[op.kind().ordinal()];
        RequestContext context = new RequestContext(op, path, caller.pid(), caller.uid(), caller.gid(), deadline);
        if (inline) {
            RequestContext.bind(context);
            try {
                return invokeInline(op, path, handler);
            } finally {
                RequestContext.bind(null);
            }
        }
        GuardedCall call = new GuardedCall(op, path, context, start, handler, this, lateOutcome);
        inFlight.incrementAndGet();
        try {
            try {
                workers.execute(call);
            } catch (RejectedExecutionException e) {
                report(GuardEvent.Type.OVERLOADED, op, path, caller.pid(), start, overloadErrno, List.of(),
                        "all " + config.workerThreads() + " workers busy and " + config.queueCapacity()
                                + " requests queued");
                return -overloadErrno;
            }
            return await(call, deadline, caller.pid(), src);
        } finally {
            inFlight.decrementAndGet();
        }
    }

    private int await(GuardedCall call, long deadline, int pid, RequestSource src) {
        try {
            while (true) {
                long remaining = deadline - System.nanoTime();
                if (remaining <= 0) {
                    return giveUp(call, GuardEvent.Type.TIMEOUT, timeoutErrno, pid);
                }
                if (call.await(Math.min(remaining, pollNanos))) {
                    return call.result(); // only this thread abandons, so a finished call is DONE
                }
                if (closing) {
                    return giveUp(call, GuardEvent.Type.SHUTDOWN, ENOTCONN, pid);
                }
                if (src.interrupted()) {
                    return giveUp(call, GuardEvent.Type.INTERRUPTED, EINTR, pid);
                }
            }
        } catch (InterruptedException e) {
            // libfuse threads are not interrupted by us; treat it like a shutdown of this request.
            Thread.currentThread().interrupt();
            return giveUp(call, GuardEvent.Type.SHUTDOWN, ENOTCONN, pid);
        }
    }

    private int giveUp(GuardedCall call, GuardEvent.Type why, int errno, int pid) {
        // A late FLUSH keeps running: its outcome is reported at the next fsync/release of the file.
        boolean interrupt = call.operation != Operation.FLUSH && config.interruptStalledHandlers();
        List<StackTraceElement> stack = call.abandon(interrupt);
        if (stack == null) {
            return call.result(); // the handler finished first
        }
        report(why, call.operation, call.path, pid, call.startNanos, errno, stack,
                stack.isEmpty() ? "the handler had not started"
                        : interrupt ? "interrupted the handler" : "left the handler running");
        return -errno;
    }

    private int invokeInline(Operation op, String path, Handler handler) {
        try {
            return handler.handle();
        } catch (ErrnoException e) {
            return -e.code();
        } catch (Throwable t) {
            return handlerFailed(op, path, t);
        }
    }

    /** Runs the handler on a worker and maps its outcome; called by {@link GuardedCall}. */
    int invoke(GuardedCall call, Handler handler) {
        try {
            return handler.handle();
        } catch (ErrnoException e) {
            return -e.code();
        } catch (Throwable t) {
            if (call.interruptedByWatchdog() && isInterruption(t)) {
                return CANCELLED; // the handler obeyed our interrupt: expected, not a bug, not a result
            }
            if (t instanceof InterruptedException) {
                return -EINTR;
            }
            return handlerFailed(call.operation, call.path, t);
        }
    }

    private static boolean isInterruption(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof InterruptedException || c instanceof java.nio.channels.ClosedByInterruptException
                    || c instanceof java.io.InterruptedIOException) {
                return true;
            }
        }
        return false;
    }

    private int handlerFailed(Operation op, String path, Throwable t) {
        String key = op + " " + t.getClass().getName();
        if (failureLogged.add(key)) {
            LOG.error("{} {} failed with an unexpected exception; answered EIO (logged once per operation and "
                    + "exception type)", op, path, t);
        }
        report(GuardEvent.Type.HANDLER_FAILED, op, path, RequestContext.current().map(RequestContext::pid).orElse(0),
                System.nanoTime(), EIO, List.of(), t.toString());
        return -EIO;
    }

    void lateResult(GuardedCall call, int result) {
        String outcome = result >= 0 ? "succeeded (" + result + ")" : "failed with errno " + (-result);
        LOG.info("{} {} finished {} ms after its request arrived, after it was answered; its result is discarded: "
                        + "{}", call.operation, call.path,
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - call.startNanos), outcome);
        report(GuardEvent.Type.LATE_RESULT, call.operation, call.path, call.context.pid(), call.startNanos, 0,
                List.of(), outcome);
    }

    private void report(GuardEvent.Type type, Operation op, String path, int pid, long startNanos, int errno,
                        List<StackTraceElement> stack, String detail) {
        GuardEvent event = new GuardEvent(type, op, path, pid, Duration.ofNanos(System.nanoTime() - startNanos),
                errno, stack, detail);
        try {
            // Logging a stack trace takes milliseconds: never on the thread that is about to answer the kernel.
            reporter.execute(() -> publish(event));
        } catch (RejectedExecutionException e) {
            droppedEvents.incrementAndGet(); // a flood of events; counting is all we can afford
        }
    }

    private void publish(GuardEvent e) {
        switch (e.type()) {
            case TIMEOUT -> {
                StringBuilder sb = new StringBuilder();
                for (StackTraceElement f : e.handlerStack()) {
                    sb.append("\n\tat ").append(f);
                }
                LOG.warn("Stalled handler: {} {} from pid {} ran {} ms, past its deadline; answered errno {} and "
                                + "{}. Its stack:{}", e.operation(), e.path(), e.callerPid(),
                        e.elapsed().toMillis(), e.errno(), e.detail(), sb);
            }
            case INTERRUPTED -> LOG.info("{} {} interrupted by the kernel (pid {} got a signal) after {} ms; "
                    + "answered EINTR", e.operation(), e.path(), e.callerPid(), e.elapsed().toMillis());
            case OVERLOADED -> LOG.warn("Overloaded: {} {} from pid {} refused with errno {}: {}", e.operation(),
                    e.path(), e.callerPid(), e.errno(), e.detail());
            default -> {
            }
        }
        for (StallListener l : config.listeners()) {
            try {
                l.onEvent(e);
            } catch (RuntimeException ex) {
                LOG.warn("StallListener {} threw; ignored", l, ex);
            }
        }
    }

    /** Events that could not be reported because the reporter's queue was full. */
    public long droppedEvents() {
        return droppedEvents.get();
    }

    /** Exempts the framework's own probe thread from the self-access policy. */
    public void exemptFromSelfAccess(int tid) {
        selfAccess.exempt(tid);
    }

    /** Ends the probe's exemption. */
    public void endSelfAccessExemption() {
        selfAccess.clearExemption();
    }

    /** Requests in progress right now. */
    public int inFlight() {
        return inFlight.get();
    }

    /**
     * Stops accepting: new requests are answered ENOTCONN, and requests waiting for their handler are answered
     * ENOTCONN within one poll interval (their handlers are interrupted like on a timeout).
     */
    public void beginShutdown() {
        closing = true;
    }

    @Override
    public void close() {
        beginShutdown();
        workers.shutdownNow();
        reporter.shutdown(); // let queued events be reported
    }
}
