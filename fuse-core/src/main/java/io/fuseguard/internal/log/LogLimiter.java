package io.fuseguard.internal.log;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Keeps a storm of alike lines readable: per kind of line, the first {@code burst} of a window are logged, the rest
 * only counted, and one summary line says how many there were ("4995 more like it in the last 10 s; the first
 * was ..."). Not thread-safe: one thread (the event reporter) owns it.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class LogLimiter {
    private final long windowNanos;
    private final int burst;
    private final Map<String, Window> windows = new HashMap<>();
    /** Summaries of windows that ended when a new line of their kind came, waiting for {@link #ended}. */
    private final List<Summary> closed = new ArrayList<>();

    private static final class Window {
        final long start;
        final String first;
        int seen;

        Window(long start, String first) {
            this.start = start;
            this.first = first;
        }
    }

    /** A summary of lines that were counted instead of logged. */
    public record Summary(String key, int suppressed, long windowSeconds, String first) {
    }

    /** At most {@code burst} lines of one kind per window of {@code windowNanos}. */
    public LogLimiter(long windowNanos, int burst) {
        this.windowNanos = windowNanos;
        this.burst = burst;
    }

    /**
     * Whether a line of kind {@code key} may be logged now; {@code description} is remembered as the window's
     * first line. Windows that ended are to be collected with {@link #ended}.
     */
    public boolean allow(String key, String description, long now) {
        Window w = windows.get(key);
        if (w == null || now - w.start >= windowNanos) {
            if (w != null && w.seen > burst) {
                closed.add(new Summary(key, w.seen - burst, windowNanos / 1_000_000_000L, w.first));
            }
            w = new Window(now, description);
            windows.put(key, w);
        }
        return ++w.seen <= burst;
    }

    /** The windows that ended by {@code now} (forgotten from here on), with the lines they only counted. */
    public List<Summary> ended(long now) {
        return collect(now, false);
    }

    /** Every window, ended or not (at the end of the mount). */
    public List<Summary> endAll() {
        return collect(0, true);
    }

    private List<Summary> collect(long now, boolean all) {
        List<Summary> out = new ArrayList<>(closed);
        closed.clear();
        for (Iterator<Map.Entry<String, Window>> it = windows.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Window> e = it.next();
            Window w = e.getValue();
            if (all || now - w.start >= windowNanos) {
                it.remove();
                if (w.seen > burst) {
                    out.add(new Summary(e.getKey(), w.seen - burst, windowNanos / 1_000_000_000L, w.first));
                }
            }
        }
        return out;
    }

    /** Whether some window is open (a summary may be due later). */
    public boolean active() {
        return !windows.isEmpty() || !closed.isEmpty();
    }
}
