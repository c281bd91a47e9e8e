package io.fuseguard.internal.events;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.GuardListener;
import io.fuseguard.api.Operation;
import io.fuseguard.internal.log.Log;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Publishes {@link GuardEvent}s to the log and to the listeners on one background thread, so that no request
 * thread ever formats a stack trace or runs listener code.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class EventReporter implements AutoCloseable {
    private static final Log LOG = Log.of(EventReporter.class);

    private final List<GuardListener> listeners;
    private final io.fuseguard.metrics.MountMetrics metrics;
    private final ThreadPoolExecutor thread;
    private final AtomicLong dropped = new AtomicLong();

    /** A reporter for one mount. */
    public EventReporter(String name, List<GuardListener> listeners, io.fuseguard.metrics.MountMetrics metrics) {
        this.listeners = List.copyOf(listeners);
        this.metrics = metrics;
        this.thread = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS, new ArrayBlockingQueue<>(4096), r -> {
            Thread t = new Thread(r, "fuseguard-events-" + name);
            t.setDaemon(true);
            return t;
        }, new ThreadPoolExecutor.AbortPolicy());
        thread.allowCoreThreadTimeOut(true);
    }

    private volatile java.util.function.BiConsumer<Throwable, String> fatal;

    /** Where an {@link OutOfMemoryError} seen in a handler goes: the mount's fatal-error path. */
    public void onFatal(java.util.function.BiConsumer<Throwable, String> handler) {
        this.fatal = handler;
    }

    /** Reports an error that ends the mount (see {@code FatalErrors}). Never throws. */
    public void fatal(Throwable t, String where) {
        java.util.function.BiConsumer<Throwable, String> f = fatal;
        if (f != null) {
            try {
                f.accept(t, where);
            } catch (Throwable ignored) {
                // nothing more to do from a handler's thread
            }
        }
    }

    /** Reports an event. Never blocks. */
    public void report(GuardEvent.Type type, Operation op, String path, int pid, long startNanos, int errno,
                       StackTraceElement[] stack, String detail) {
        metrics.event(type);
        GuardEvent e = new GuardEvent(type, op, path == null ? "" : path, pid,
                Duration.ofNanos(Math.max(0, System.nanoTime() - startNanos)), errno,
                stack == null ? List.of() : List.of(stack), detail == null ? "" : detail);
        try {
            thread.execute(() -> publish(e));
        } catch (java.util.concurrent.RejectedExecutionException ex) {
            dropped.incrementAndGet();
        }
    }

    /** Lines of one kind (event type, operation, errno) per window before they are only counted. */
    static final int BURST = 5;
    static final long WINDOW_NANOS = TimeUnit.SECONDS.toNanos(10);
    private final io.fuseguard.internal.log.LogLimiter limiter =
            new io.fuseguard.internal.log.LogLimiter(WINDOW_NANOS, BURST);
    /** Whether the limiter has open windows (read by {@link #tick} on another thread). */
    private volatile boolean windowsOpen;

    /**
     * Lets the reporter thread write the summaries of windows that ended (called about once a second by the
     * watchdog; does nothing while no window is open).
     */
    public void tick() {
        if (!windowsOpen) {
            return;
        }
        try {
            thread.execute(this::summarize);
        } catch (java.util.concurrent.RejectedExecutionException ex) {
            // closed, or flooded: the next tick summarizes
        }
    }

    private void summarize() {
        for (io.fuseguard.internal.log.LogLimiter.Summary s : limiter.ended(System.nanoTime())) {
            LOG.warn("{} more events like this in the last {} s ({}), counted but not logged; the first: {}",
                    s.suppressed(), s.windowSeconds(), s.key(), s.first());
        }
        windowsOpen = limiter.active();
    }

    private void publish(GuardEvent e) {
        try {
            log(e);
        } finally {
            deliver(e);
        }
    }

    private void log(GuardEvent e) {
        long now = System.nanoTime();
        summarize();
        String key = e.type() + " " + e.operation() + (e.errno() != 0 ? " errno " + e.errno() : "");
        boolean allowed = limiter.allow(key, e.operation() + " " + e.path() + ": " + e.detail(), now);
        windowsOpen = true;
        if (!allowed) {
            return;
        }
        switch (e.type()) {
            case TIMEOUT -> {
                StringBuilder sb = new StringBuilder();
                for (StackTraceElement f : e.handlerStack()) {
                    sb.append("\n\tat ").append(f);
                }
                LOG.warn("Stalled handler: {} {} from pid {} ran {} ms, past its deadline; answered errno {} and {}. "
                        + "If it is meant to take this long, give its kind of operation a longer deadline "
                        + "(FuseguardConfig.Builder.deadline(OperationKind, Duration); the command's --metadata-, "
                        + "--data- or --sync-deadline). Its stack:{}", e.operation(), e.path(), e.callerPid(),
                        e.elapsed().toMillis(), e.errno(), e.detail(), sb);
            }
            case INTERRUPTED -> LOG.info("{} {}: the kernel interrupted the request (pid {} got a signal) after {} ms; "
                    + "{}", e.operation(), e.path(), e.callerPid(), e.elapsed().toMillis(), e.detail());
            case OVERLOADED -> LOG.warn("Overloaded: {} {} from pid {} answered errno {}: {}", e.operation(),
                    e.path(), e.callerPid(), e.errno(), e.detail());
            case HANDLER_FAILED -> LOG.warn("{} {} failed: {}; answered EIO", e.operation(), e.path(), e.detail());
            case CLOSE_WORK_LATE -> LOG.warn("Close-time work of {} ({}) still running after {} ms: {}", e.path(),
                    e.operation(), e.elapsed().toMillis(), e.detail());
            case CLOSE_WORK_FAILED -> LOG.warn("Close-time work of {} failed: {} returned errno {} ({}); the next "
                    + "fsync of that handle reports it", e.path(), e.operation(), e.errno(), e.detail());
            case CLOSE_WORK_UNFINISHED -> LOG.warn("Close-time work of {} did not finish before the mount ended: {}",
                    e.path(), e.detail());
            case STUCK_THREADS_CAP -> LOG.warn("{}", e.detail());
            default -> {
            }
        }
    }

    private void deliver(GuardEvent e) {
        for (GuardListener l : listeners) {
            try {
                l.onEvent(e);
            } catch (RuntimeException ex) {
                LOG.warn("Listener {} threw; ignored", l, ex);
            }
        }
    }

    /** Events dropped because the queue was full. */
    public long dropped() {
        return dropped.get();
    }

    /** Delivers what is queued (bounded wait), writes the pending summaries, and stops. */
    @Override
    public void close() {
        try {
            thread.execute(() -> {
                for (io.fuseguard.internal.log.LogLimiter.Summary s : limiter.endAll()) {
                    LOG.warn("{} more events like this before the mount ended ({}), counted but not logged; the "
                            + "first: {}", s.suppressed(), s.key(), s.first());
                }
            });
        } catch (java.util.concurrent.RejectedExecutionException ex) {
            // closed already
        }
        thread.shutdown();
        try {
            thread.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
