package io.fuseguard.kernel;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Aborts a FUSE connection through {@code fusectl} and reports which stuck tasks it freed.
 *
 * <p>Aborting ends every pending request of the connection with {@code ECONNABORTED}: tasks in
 * uninterruptible sleep on a dead or stalled daemon wake up (and, if they were exiting, finish
 * exiting). The mount stays in place but answers {@code ENOTCONN}; unmount it lazily afterwards.
 */
public final class Aborter {

    /** How long {@link #abort(long)} waits for the waiting tasks to be released. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(2);

    /** How often the tasks are polled meanwhile. */
    public static final Duration POLL_INTERVAL = Duration.ofMillis(20);

    /** Once the connection has no pending request, how long its tasks get to leave FUSE. */
    private static final Duration DRAIN_GRACE = Duration.ofMillis(300);

    private static final io.fuseguard.internal.log.Log LOG = io.fuseguard.internal.log.Log.of(Aborter.class);

    private Aborter() {
    }

    /**
     * Aborts the connection through {@link FuseControl#DEFAULT_DIR}, then waits up to
     * {@link #DEFAULT_TIMEOUT} for the tasks that were waiting in FUSE to be released.
     *
     * @param connectionId the connection to abort
     * @return what was released and what is still stuck
     * @throws IOException if there is no such connection or it cannot be aborted
     */
    public static AbortResult abort(long connectionId) throws IOException {
        return abort(new FuseControl(), connectionId, DEFAULT_TIMEOUT);
    }

    /**
     * Aborts the connection through the given control, then waits up to {@code timeout} for the
     * tasks that were waiting in FUSE to be released (returns as soon as all are).
     *
     * @param control      the {@code fusectl} to write to
     * @param connectionId the connection to abort
     * @param timeout      how long to wait for the tasks to be released
     * @return what was released and what is still stuck
     * @throws IOException if there is no such connection or it cannot be aborted
     */
    public static AbortResult abort(FuseControl control, long connectionId, Duration timeout)
            throws IOException {
        Objects.requireNonNull(control, "control");
        Objects.requireNonNull(timeout, "timeout");
        List<TaskInfo> before = Tasks.tasksWaitingInFuse();
        OptionalInt waitingBefore = control.waiting(connectionId);
        control.abort(connectionId);
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        List<TaskInfo> still = new ArrayList<>(before);
        List<TaskInfo> released = new ArrayList<>();
        long drainedAt = 0; // when the connection's waiting count was first seen at 0
        while (true) {
            for (var it = still.iterator(); it.hasNext(); ) {
                TaskInfo t = it.next();
                Optional<TaskInfo> now = Tasks.task(t.pid(), t.tid());
                if (now.isEmpty() || !now.get().isWaitingInFuse()) {
                    released.add(t);
                    it.remove();
                }
            }
            long now = System.nanoTime();
            if (still.isEmpty() || now - deadline >= 0) {
                break;
            }
            // Tasks left may wait on other connections: once this one has no request pending,
            // give its tasks a short grace period to get scheduled, then stop waiting.
            OptionalInt waitingNow = control.waiting(connectionId);
            if (waitingNow.isEmpty() || waitingNow.getAsInt() == 0) {
                if (drainedAt == 0) {
                    drainedAt = now;
                } else if (now - drainedAt >= DRAIN_GRACE.toNanos()) {
                    break;
                }
            }
            try {
                Thread.sleep(POLL_INTERVAL.toMillis());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        // Report the current view of the tasks still stuck.
        List<TaskInfo> stillNow = new ArrayList<>(still.size());
        for (TaskInfo t : still) {
            stillNow.add(Tasks.task(t.pid(), t.tid()).orElse(t));
        }
        Duration elapsed = Duration.ofNanos(System.nanoTime() - start);
        AbortResult result = new AbortResult(connectionId, waitingBefore, control.waiting(connectionId),
                released, stillNow, elapsed);
        LOG.info("aborted FUSE connection {}: {} task(s) released, {} still waiting in FUSE",
                connectionId, released.size(), stillNow.size());
        return result;
    }
}
