package io.fuseguard.guard;

import io.fuseguard.api.Operation;
import io.fuseguard.api.RequestContext;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * One request handed to a worker. Its state decides, exactly once, who answers the kernel: the handler
 * (when it finishes first) or the waiting libfuse thread (timeout, interrupt, shutdown). A result that
 * arrives after the request was abandoned is discarded.
 */
final class GuardedCall implements Runnable {
    static final int QUEUED = 0;
    static final int RUNNING = 1;
    static final int DONE = 2;
    static final int ABANDONED = 3;

    final Operation operation;
    final String path;
    final RequestContext context;
    final long startNanos;
    private final Handler handler;
    private final RequestGuard guard;
    private final IntConsumer lateOutcome;
    private final AtomicInteger state = new AtomicInteger(QUEUED);
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile Thread runner;
    /** Set when the handler ended by obeying the watchdog's interrupt (so there is no late result to report). */
    volatile boolean cancelled;
    private int result;

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
        if (!state.compareAndSet(QUEUED, RUNNING)) {
            return; // answered (timed out or shut down) while still queued: nothing to do
        }
        runner = Thread.currentThread();
        int r;
        RequestContext.bind(context);
        try {
            r = guard.invoke(this, handler);
        } finally {
            RequestContext.bind(null);
            runner = null;
        }
        result = r;
        if (state.compareAndSet(RUNNING, DONE)) {
            finished.countDown();
        } else {
            // The kernel already got an answer: the handler's outcome is only reported.
            Thread.interrupted(); // the watchdog's interrupt must not leak into the next request
            if (cancelled) {
                return;
            }
            guard.lateResult(this, r);
            if (lateOutcome != null) {
                lateOutcome.accept(r);
            }
        }
    }

    /** Waits up to the given time for the handler; true when it finished (its result is then final). */
    boolean await(long nanos) throws InterruptedException {
        return finished.await(nanos, TimeUnit.NANOSECONDS);
    }

    int result() {
        return result;
    }

    /**
     * Takes the answer away from the handler. Returns the handler's thread if it was running (so the caller can
     * capture its stack and interrupt it), {@code null} if it had not started, or throws
     * {@link AlreadyDone} if it finished first (then its result stands).
     */
    Thread abandon() throws AlreadyDone {
        while (true) {
            int s = state.get();
            if (s == DONE) {
                throw AlreadyDone.INSTANCE;
            }
            if (s == ABANDONED) {
                return null;
            }
            Thread t = runner;
            if (state.compareAndSet(s, ABANDONED)) {
                finished.countDown();
                return s == RUNNING ? t : null;
            }
        }
    }

    boolean isAbandoned() {
        return state.get() == ABANDONED;
    }

    /** Signals that the handler finished first. */
    static final class AlreadyDone extends Exception {
        private static final long serialVersionUID = 1L;
        static final AlreadyDone INSTANCE = new AlreadyDone();

        private AlreadyDone() {
            super(null, null, false, false);
        }
    }
}
