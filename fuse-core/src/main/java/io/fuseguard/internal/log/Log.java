package io.fuseguard.internal.log;

import org.slf4j.ILoggerFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.helpers.MessageFormatter;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * fuseguard's logging: slf4j-api, called from one background thread. Two reasons:
 * <ul>
 *   <li>Nothing on the mount path or the request path waits for a logging backend to configure itself (logback's
 *       first use costs hundreds of milliseconds) or to write a line (a stalled handler's stack takes
 *       milliseconds to format).</li>
 *   <li>A library user without an slf4j backend (slf4j then discards everything) still sees fuseguard's
 *       warnings: when no backend is bound, WARN and ERROR lines go to standard error, after a one-line hint on
 *       how to see the rest.</li>
 * </ul>
 * Messages use slf4j's {@code {}} placeholders; a trailing Throwable argument is logged with its stack.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class Log {
    private enum Level { DEBUG, INFO, WARN, ERROR }

    private record Entry(Level level, String logger, String format, Object[] args) {
    }

    private static final BlockingQueue<Entry> QUEUE = new ArrayBlockingQueue<>(8192);
    private static final AtomicLong DROPPED = new AtomicLong();
    private static final AtomicLong WRITTEN = new AtomicLong();
    private static final AtomicLong QUEUED = new AtomicLong();
    private static volatile Thread writer;

    private final String name;

    private Log(String name) {
        this.name = name;
    }

    /** A log named after a class. */
    public static Log of(Class<?> type) {
        return new Log(type.getName());
    }

    /** Debug detail. */
    public void debug(String format, Object... args) {
        enqueue(Level.DEBUG, format, args);
    }

    /** Normal operation worth a line (mounts, unmounts). */
    public void info(String format, Object... args) {
        enqueue(Level.INFO, format, args);
    }

    /** Something an operator should look at. */
    public void warn(String format, Object... args) {
        enqueue(Level.WARN, format, args);
    }

    /** A failure. */
    public void error(String format, Object... args) {
        enqueue(Level.ERROR, format, args);
    }

    private void enqueue(Level level, String format, Object[] args) {
        ensureWriter();
        QUEUED.incrementAndGet();
        if (!QUEUE.offer(new Entry(level, name, format, args))) {
            QUEUED.decrementAndGet();
            DROPPED.incrementAndGet();
        }
    }

    /** Waits until every line logged so far was handed to the backend (at shutdown), at most {@code millis}. */
    public static void flush(long millis) {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (WRITTEN.get() < QUEUED.get() && System.nanoTime() < end) {
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** Lines dropped because the queue was full (a flood of events). */
    public static long dropped() {
        return DROPPED.get();
    }

    private static void ensureWriter() {
        if (writer != null) {
            return;
        }
        synchronized (Log.class) {
            if (writer == null) {
                Thread t = new Thread(Log::drain, "fuseguard-log");
                t.setDaemon(true);
                t.start();
                writer = t;
            }
        }
    }

    private static void drain() {
        boolean noBackend = false;
        boolean hinted = false;
        try {
            ILoggerFactory f = LoggerFactory.getILoggerFactory();
            noBackend = f == null || f.getClass().getName().contains("NOP");
        } catch (Throwable t) {
            noBackend = true;
        }
        while (true) {
            Entry e;
            try {
                e = QUEUE.take();
            } catch (InterruptedException ex) {
                return;
            }
            try {
                if (noBackend) {
                    if (e.level() == Level.WARN || e.level() == Level.ERROR) {
                        if (!hinted) {
                            hinted = true;
                            System.err.println("fuseguard: no SLF4J backend is bound, so fuseguard prints only its "
                                    + "warnings and errors here; add one (logback-classic or slf4j-simple) to see "
                                    + "everything");
                        }
                        System.err.println("fuseguard " + e.level() + " " + e.logger().substring(
                                e.logger().lastIndexOf('.') + 1) + ": " + format(e));
                    }
                } else {
                    write(LoggerFactory.getLogger(e.logger()), e);
                }
            } catch (Throwable t) {
                // a broken backend must not stop fuseguard's logging thread
            } finally {
                WRITTEN.incrementAndGet();
            }
        }
    }

    private static String format(Entry e) {
        var ft = MessageFormatter.arrayFormat(e.format(), e.args());
        String msg = ft.getMessage();
        if (ft.getThrowable() != null) {
            msg += " (" + ft.getThrowable() + ")";
        }
        return msg;
    }

    private static void write(Logger l, Entry e) {
        switch (e.level()) {
            case DEBUG -> l.debug(e.format(), e.args());
            case INFO -> l.info(e.format(), e.args());
            case WARN -> l.warn(e.format(), e.args());
            case ERROR -> l.error(e.format(), e.args());
            default -> {
            }
        }
    }
}
