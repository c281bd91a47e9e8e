package io.fuseguard.api;

/**
 * Receives every {@link GuardEvent} (stalls, interrupts, overloads, late results, refused self-access, failed or
 * late close-time work), e.g. to count them and export them as metrics. Called on fuseguard's single reporter
 * thread, never on a request thread, one event at a time in the order they happened: a slow listener delays
 * only other listeners (events beyond a queue of 4096 are dropped and counted). Exceptions are logged and
 * ignored.
 */
@FunctionalInterface
public interface GuardListener {
    /** One event. */
    void onEvent(GuardEvent event);
}
