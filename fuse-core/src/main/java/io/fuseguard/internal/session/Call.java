package io.fuseguard.internal.session;

import io.fuseguard.api.Operation;
import io.fuseguard.internal.tree.Handle;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The request a worker thread is handling, and who answers it. One per worker, reused for every request (no
 * allocation per request). Its state word {@code seq << 8 | flags | status} decides, exactly once, who writes the
 * answer: the worker when its handler returns, or the watchdog at the deadline. A third party (the watchdog,
 * a kernel INTERRUPT) first moves the state to {@link #BUSY}, does its work (answer, thread interrupt) and then
 * publishes the result; the worker waits out a BUSY state, so a thread interrupt meant for one request can
 * never reach the next one.
 */
final class Call {
    static final int IDLE = 0;
    static final int RUNNING = 1;
    static final int BUSY = 2;
    static final int ANSWERED = 3;
    /** Answered by someone else (deadline, shutdown); the handler's result will be discarded. */
    static final int ABANDONED = 4;
    static final int STATUS = 7;
    /** The thread got a {@link Thread#interrupt()} for this request. */
    static final int THREAD_INTERRUPTED = 8;
    /** The kernel sent INTERRUPT for this request (its caller got a signal). */
    static final int KERNEL_INTERRUPTED = 16;

    private static final VarHandle STATE;

    static {
        try {
            STATE = MethodHandles.lookup().findVarHandle(Call.class, "state", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private volatile long state;
    private long seq;

    // Written by the worker before the state becomes RUNNING; read by others after reading the state.
    long unique;
    int opcode;
    /** The device descriptor the request was read from, where its answer must go (clones keep their own). */
    int fd;
    Operation operation;
    String path;
    int pid;
    long startNanos;
    long deadlineNanos;
    Lane lane;
    Handle handle;
    /** The request whose INTERRUPT was let pass (its caller was not dying), to look at again; 0 when none. */
    volatile long interruptedUnique;
    /** When to look at that caller again. */
    long nextInterruptCheck;
    /** Set by the watchdog when it took the request's thread off the books (a stuck handler). */
    boolean counted;

    long state() {
        return state;
    }

    /** Publishes a new request as RUNNING; returns its state word. */
    long start() {
        seq++;
        long s = (seq << 8) | RUNNING;
        state = s;
        return s;
    }

    boolean cas(long expect, long update) {
        return STATE.compareAndSet(this, expect, update);
    }

    void set(long s) {
        state = s;
    }

    static int status(long s) {
        return (int) (s & STATUS);
    }

    /**
     * The worker's end of a request: true when it may answer (nobody else did). Waits out a BUSY third party.
     * Clears a thread interrupt that was meant for this request either way.
     */
    boolean finish() {
        while (true) {
            long s = state;
            int st = status(s);
            if (st == RUNNING) {
                if (cas(s, (s & ~STATUS) | ANSWERED)) {
                    Thread.interrupted();
                    return true;
                }
            } else if (st == BUSY) {
                Thread.onSpinWait();
            } else {
                Thread.interrupted();
                return false;
            }
        }
    }

    /** Back to idle once the worker is done with the request (answered or not). */
    void idle() {
        long s = state;
        state = (s & ~0xffL) | IDLE;
    }
}
