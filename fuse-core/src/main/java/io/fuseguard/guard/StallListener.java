package io.fuseguard.guard;

/**
 * Receives {@link GuardEvent}s, e.g. to count stalls and export them as metrics. Called synchronously on the
 * thread that produced the event (often a libfuse thread): return quickly and do not throw.
 */
@FunctionalInterface
public interface StallListener {
    /** One event. */
    void onEvent(GuardEvent event);
}
