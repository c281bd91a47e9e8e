package io.fuseguard.drill;

import java.util.List;

/**
 * What one side of a scenario did.
 *
 * @param scenario      the scenario
 * @param impl          {@code plain} (jnr-fuse) or {@code fuseguard}
 * @param clean         everything ended within the scenario's limit, nothing left waiting in FUSE
 * @param teardownMillis time from the kill/stop to the end of every process, -1 when it never ended on its own
 * @param stuckTasks    tasks that were waiting in FUSE (or for such a task) at the end of the wait
 * @param wedgeEvidence kernel evidence of the deadlock (stack functions, fusectl waiting count), empty if none
 * @param recoveryMillis time for the fusectl abort to release a wedge, -1 when no abort was needed or it failed
 * @param detail        anything else worth printing (self-access outcome, errors)
 */
public record Outcome(Scenario scenario, String impl, boolean clean, long teardownMillis, List<String> stuckTasks,
                      String wedgeEvidence, long recoveryMillis, String detail) {

    /** Copies the list. */
    public Outcome {
        stuckTasks = List.copyOf(stuckTasks);
    }

    /** Whether this side wedged (processes left that only an abort released, with kernel evidence). */
    public boolean wedged() {
        return teardownMillis < 0 && !wedgeEvidence.isEmpty();
    }
}
