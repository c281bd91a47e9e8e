package io.fuseguard.examples.upload;

import java.io.PrintStream;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Named points of the upload path where a crash test can stop the daemon dead: after each journal write, cache
 * change and backend call ({@link Point}). A daemon started with the system property
 * {@value #PROPERTY} (or the environment variable {@value #ENV}) set to {@code NAME} or {@code NAME:N} halts
 * the JVM ({@link Runtime#halt}: no shutdown hook, no finally block, as {@code kill -9}) at the {@code N}th
 * time (1 by default) it passes point {@code NAME}, after printing {@code CRASH NAME} on standard output.
 * {@value #TRACE_PROPERTY}{@code =true} (or {@value #TRACE_ENV}) prints {@code POINT NAME} there at every
 * point, so a test can learn which points an operation passes (standard output keeps these lines in order with
 * what the daemon prints itself, such as a readiness line).
 *
 * <p>Unarmed, a point costs one read of a static final field.
 */
public final class CrashPoints {
    /** System property naming the point to crash at, {@code NAME[:N]}. */
    public static final String PROPERTY = "fuseguard.upload.crashAt";
    /** Environment variable read when the property is not set. */
    public static final String ENV = "FUSEGUARD_UPLOAD_CRASH_AT";
    /** System property that makes every point print its name. */
    public static final String TRACE_PROPERTY = "fuseguard.upload.crashTrace";
    /** Environment variable read when the trace property is not set. */
    public static final String TRACE_ENV = "FUSEGUARD_UPLOAD_CRASH_TRACE";
    /** Exit status of a halted daemon (as a SIGKILLed process's 128 + 9). */
    public static final int EXIT_STATUS = 137;

    /** The points, in the order an operation usually passes them. */
    public enum Point {
        /** A journal record "upload pending" was appended; the cache is not changed yet. */
        JOURNAL_PUT,
        /** A journal record "delete pending" was appended; the cache entry is still there. */
        JOURNAL_DELETE,
        /** A journal record "local only" (an unlinked-open file's hidden name) was appended. */
        JOURNAL_LOCAL,
        /** A rename's intent was appended; the cache is not renamed yet. */
        JOURNAL_RENAME_INTENT,
        /** The cache file was created. */
        CACHE_CREATE,
        /** A write reached the cache file. */
        CACHE_WRITE,
        /** The cache file was truncated. */
        CACHE_TRUNCATE,
        /** The cache entry was removed (unlink, rmdir). */
        CACHE_UNLINK,
        /** The cache entry was renamed; the rename's outcome is not journaled yet. */
        CACHE_RENAME,
        /** The rename's outcome (every path it affects) was appended. */
        JOURNAL_RENAME_DONE,
        /** A download was moved into the cache. */
        CACHE_INSTALL,
        /** The backend confirmed an upload; the journal still has it pending. */
        BACKEND_PUT,
        /** The backend confirmed a delete; the journal still has it pending. */
        BACKEND_DELETE,
        /** A journal record "done" was appended after a confirmed backend call. */
        JOURNAL_CLEAR,
        /** The compacted journal was written, not yet renamed over the old one. */
        JOURNAL_COMPACT_WRITTEN,
        /** The start found an interrupted rename and completed or rolled it back in the cache. */
        REPLAY_RESOLVED,
        /** The start removed cache entries the journal had left to remove (deletes, hidden files). */
        REPLAY_CLEANED;

        /** The name a test arms: lower case with dashes ({@code journal-put}). */
        public String label() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }

        /** The point of a label. */
        public static Point ofLabel(String label) {
            return valueOf(label.toUpperCase(Locale.ROOT).replace('-', '_'));
        }
    }

    private static final Point ARMED;
    private static final int ARMED_AT;
    private static final boolean TRACE;
    private static final boolean ACTIVE;
    private static final Map<Point, AtomicInteger> HITS = new ConcurrentHashMap<>();

    static {
        String spec = System.getProperty(PROPERTY, System.getenv(ENV));
        Point p = null;
        int n = 1;
        if (spec != null && !spec.isBlank()) {
            String[] parts = spec.trim().split(":", 2);
            p = Point.ofLabel(parts[0]);
            if (parts.length == 2) {
                n = Integer.parseInt(parts[1]);
            }
        }
        ARMED = p;
        ARMED_AT = n;
        String trace = System.getProperty(TRACE_PROPERTY, System.getenv(TRACE_ENV));
        TRACE = Boolean.parseBoolean(trace);
        ACTIVE = ARMED != null || TRACE;
    }

    private CrashPoints() {
    }

    /** Passes point {@code p}: halts here if it is the armed point's armed pass, prints it when tracing. */
    static void reached(Point p) {
        if (!ACTIVE) {
            return;
        }
        PrintStream out = System.out;
        synchronized (out) {
            if (TRACE) {
                out.println("POINT " + p.label());
                out.flush();
            }
            if (p == ARMED && HITS.computeIfAbsent(p, k -> new AtomicInteger()).incrementAndGet() == ARMED_AT) {
                out.println("CRASH " + p.label());
                out.flush();
                Runtime.getRuntime().halt(EXIT_STATUS);
            }
        }
    }

    /** Whether a crash point or the trace is armed in this JVM. */
    public static boolean active() {
        return ACTIVE;
    }
}
