package io.fuseguard.internal.session;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * What happens when one of fuseguard's own threads dies of an {@link Error} (an {@link OutOfMemoryError} in the
 * watchdog, say): the mount's guards are gone, so the mount must not look alive. Its connection is ended (clients
 * get ENOTCONN instead of waiting for deadlines nobody watches), and, unless the mount was configured otherwise,
 * the process exits with status {@value #EXIT_STATUS} within seconds so that its supervisor restarts it.
 *
 * <p>The work is done by a thread started when the first mount registers (while memory is plentiful): after an
 * {@code OutOfMemoryError} a new thread may not start. Reporting only writes two fields and unparks it.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class FatalErrors {
    /** The exit status after a fatal error (EX_SOFTWARE). */
    public static final int EXIT_STATUS = 70;
    private static final long EXIT_GRACE_SECONDS = 5;

    /** A mount that can be ended when a fatal error happens. */
    public static final class Target {
        final String name;
        final Runnable endConnection;
        final boolean exit;
        volatile Throwable error;
        volatile String where;

        /** The error reported for this mount, or null. */
        public Throwable error() {
            return error;
        }

        /** Whether a fatal error of this mount ends the process. */
        public boolean exits() {
            return exit;
        }

        /**
         * A mount named {@code name}; {@code endConnection} ends its connection (it must work with little
         * memory); {@code exit} whether a fatal error in this mount ends the process.
         */
        public Target(String name, Runnable endConnection, boolean exit) {
            this.name = name;
            this.endConnection = endConnection;
            this.exit = exit;
        }
    }

    private static final Set<Target> TARGETS = ConcurrentHashMap.newKeySet();
    private static volatile Thread handler;
    private static volatile Thread halter;
    private static volatile boolean exiting;

    private FatalErrors() {
    }

    /** Registers a mount (and starts the handling threads once). */
    public static void register(Target t) {
        start();
        TARGETS.add(t);
    }

    /** Forgets a mount that ended. */
    public static void unregister(Target t) {
        TARGETS.remove(t);
    }

    /**
     * Reports an error that killed (or would kill) one of {@code origin}'s threads. Never throws; does not
     * allocate beyond what the caller's catch already did.
     */
    public static void report(Target origin, Throwable error, String where) {
        try {
            if (origin == null || origin.error != null) {
                return;
            }
            origin.where = where;
            origin.error = error;
            Thread h = handler;
            if (h != null) {
                LockSupport.unpark(h);
            }
        } catch (Throwable ignored) {
            // nothing more can be done from here
        }
    }

    private static synchronized void start() {
        if (handler != null) {
            return;
        }
        Thread h = new Thread(FatalErrors::handle, "fuseguard-fatal");
        h.setDaemon(true);
        Thread x = new Thread(FatalErrors::haltLater, "fuseguard-fatal-halt");
        x.setDaemon(true);
        handler = h;
        halter = x;
        h.start();
        x.start();
    }

    private static void handle() {
        while (true) {
            LockSupport.park();
            for (Target t : TARGETS) {
                Throwable e = t.error;
                if (e == null || t.endConnection == null) {
                    continue;
                }
                boolean exit = t.exit;
                try {
                    System.err.println("fuseguard: fatal " + e + " in " + t.where + " of mount " + t.name
                            + ": ending its connection" + (exit ? " and exiting with status " + EXIT_STATUS : ""));
                    e.printStackTrace();
                } catch (Throwable ignored) {
                    // printing may fail under OutOfMemoryError; ending the connection matters more
                }
                if (exit) {
                    // the process goes away: end every mount's connection first, so no client waits on it
                    for (Target other : TARGETS) {
                        end(other);
                    }
                    exit();
                } else {
                    end(t);
                    TARGETS.remove(t);
                }
            }
        }
    }

    private static void end(Target t) {
        try {
            t.endConnection.run();
        } catch (Throwable ignored) {
            // best effort: the exit that follows (if any) ends the connection too
        }
    }

    private static void exit() {
        exiting = true;
        LockSupport.unpark(halter);
        try {
            System.exit(EXIT_STATUS); // shutdown hooks unmount cleanly...
        } catch (Throwable ignored) {
            Runtime.getRuntime().halt(EXIT_STATUS);
        }
    }

    /** ... and if they hang (little memory, a stuck hook), the process halts anyway. */
    private static void haltLater() {
        while (!exiting) {
            LockSupport.park();
        }
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(EXIT_GRACE_SECONDS);
        while (System.nanoTime() < end) {
            LockSupport.parkNanos(end - System.nanoTime());
        }
        Runtime.getRuntime().halt(EXIT_STATUS);
    }
}
