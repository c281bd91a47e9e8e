package io.fuseguard.kernel;

import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * What aborting a FUSE connection achieved.
 *
 * <p>The kernel does not tell which connection a task waits on, so {@code released} and
 * {@code stillWaiting} are drawn from <em>every</em> task that was waiting in FUSE just before the
 * abort: a task listed as still waiting may be waiting on another connection.
 *
 * @param connectionId  the aborted connection
 * @param waitingBefore the connection's {@code waiting} count just before the abort
 * @param waitingAfter  its {@code waiting} count at the end (empty once the connection is gone)
 * @param released      tasks that were waiting in FUSE before and no longer are (or exited)
 * @param stillWaiting  tasks that were waiting in FUSE before and still are at the end
 * @param elapsed       time from the abort until the end of the wait
 */
public record AbortResult(long connectionId, OptionalInt waitingBefore, OptionalInt waitingAfter,
                          List<TaskInfo> released, List<TaskInfo> stillWaiting, Duration elapsed) {

    /**
     * Copies the lists and validates that no component is {@code null}.
     *
     * @param connectionId see the record description
     * @param waitingBefore see the record description
     * @param waitingAfter see the record description
     * @param released see the record description
     * @param stillWaiting see the record description
     * @param elapsed see the record description
     */
    public AbortResult {
        Objects.requireNonNull(waitingBefore, "waitingBefore");
        Objects.requireNonNull(waitingAfter, "waitingAfter");
        released = List.copyOf(released);
        stillWaiting = List.copyOf(stillWaiting);
        Objects.requireNonNull(elapsed, "elapsed");
    }

    /**
     * Whether every task that was waiting in FUSE before the abort got released.
     *
     * @return {@code true} if nothing is still waiting
     */
    public boolean allReleased() {
        return stillWaiting.isEmpty();
    }
}
