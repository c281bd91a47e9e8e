package io.fuseguard.guard;

import io.fuseguard.api.Operation;
import io.fuseguard.api.RequestContext;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;

/**
 * One request handed to a worker. Its state decides, exactly once, who answers the kernel: the handler
 * (when it finishes first) or the waiting libfuse thread (timeout, interrupt, shutdown). A result that
 * arrives after the request was abandoned is discarded.
 *
 * <p>The watchdog samples and interrupts the handler thread only while holding this call's monitor and only
 * while the thread still runs this call; the worker leaves the call under the same monitor and clears its
 * interrupt flag there. So an interrupt meant for this request can never hit the next one the worker runs.
 */
final class GuardedCall implements Runnable {
    private static final int QUEUED = 0;
    private static final int RUNNING = 1;
    private static final int DONE = 2;
    private static final int ABANDONED = 3;

    final Operation operation;
    final String path;
    final RequestContext context;
    final long startNanos;
    private final Handler handler;
    private final RequestGuard guard;
    private final IntConsumer lateOutcome;
    private final CountDownLatch finished = new CountDownLatch(1);
    /** Guarded by {@code this}. */
    private int state = QUEUED;
    /** The worker running the handler; guarded by {@code this}. */
    private Thread runner;
    /** Set under {@code this} when the watchdog interrupted the handler. */
    private volatile boolean interruptedByWatchdog;
    private volatile int result;

    GuardedCall(Operation operation, String path, RequestContext context, long startNanos, Handler handler,
                RequestGuard guard, IntConsumer lateOutcome) {
        this.operation = operation;
        this.path = path;
        this.context = context;
        this.startNanos = startNanos;
        this.handler = handler;
        this.guard = guard;
        this.lateOutcome = lateOutcome;
    }

    @Override
    public void run() {
        synchronized (this) {
            if (state != QUEUED) {
                return; // answered (timed out or shut down) while still queued: nothing to do
            }
            state = RUNNING;
            runner = Thread.currentThread();
        }
        int r;
        RequestContext.bind(context);
        try {
            r = guard.invoke(this, handler);
        } finally {
            RequestContext.bind(null);
        }
        result = r;
        boolean late;
        synchronized (this) {
            runner = null;
            late = state == ABANDONED;
            if (!late) {
                state = DONE;
            }
            Thread.interrupted(); // whatever interrupt was meant for this request ends with it
        }
        if (!late) {
            finished.countDown();
            return;
        }
        if (interruptedByWatchdog && r == RequestGuard.CANCELLED) {
            return; // the handler obeyed the watchdog's interrupt: there is no result to report
        }
        guard.lateResult(this, r);
        if (lateOutcome != null) {
            lateOutcome.accept(r);
        }
    }

    /** Waits up to the given time for the handler; true when it finished (its result is then final). */
    boolean await(long nanos) throws InterruptedException {
        return finished.await(nanos, TimeUnit.NANOSECONDS);
    }

    int result() {
        return result;
    }

    /** Whether the watchdog interrupted the handler thread of this call. */
    boolean interruptedByWatchdog() {
        return interruptedByWatchdog;
    }

    /**
     * Takes the answer away from the handler. Returns {@code null} when the handler finished first (its result
     * stands); otherwise the handler's stack at this moment (empty if it had not started), after interrupting
     * it when {@code interrupt} is set.
     */
    synchronized List<StackTraceElement> abandon(boolean interrupt) {
        if (state == DONE) {
            return null;
        }
        state = ABANDONED;
        finished.countDown();
        if (runner == null) {
            return List.of();
        }
        List<StackTraceElement> stack = List.of(runner.getStackTrace());
        if (interrupt) {
            interruptedByWatchdog = true;
            runner.interrupt();
        }
        return stack;
    }

    /** Whether the handler had started when the call was abandoned (only meaningful after abandon). */
    synchronized boolean isAbandoned() {
        return state == ABANDONED;
    }
}
