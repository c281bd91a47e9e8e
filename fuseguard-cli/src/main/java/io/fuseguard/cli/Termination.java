package io.fuseguard.cli;

import sun.misc.Signal;

/**
 * SIGTERM is how service managers (systemd, Kubernetes, Docker) ask a daemon to stop; a daemon that then stops
 * cleanly has succeeded. The JVM's own handling ends the process with 143 (128 + 15), which systemd counts as a
 * failure and orchestrators log as an error. {@link #exitZeroOnSigterm()} makes SIGTERM run the same orderly
 * shutdown (every shutdown hook: unmount, close the filesystem and its backend) and then exit 0. SIGINT (Ctrl-C)
 * keeps the JVM's 130, and a shutdown for any other reason keeps its own status.
 */
final class Termination {
    private Termination() {
    }

    /** From now on SIGTERM ends the JVM with exit status 0 after its shutdown hooks ran. */
    static void exitZeroOnSigterm() {
        // System.exit runs the shutdown hooks and blocks its caller, so it runs on a thread of its own: the
        // JVM's signal dispatcher must stay free
        Signal.handle(new Signal("TERM"), sig -> new Thread(() -> System.exit(0), "fuseguard-sigterm").start());
    }
}
