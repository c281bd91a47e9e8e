package io.fuseguard.support;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Child processes for tests: every one runs with a time limit and is killed by pid (never by name) when it
 * overruns, so a wedged scenario fails the test instead of hanging the build.
 */
public final class Child {
    private Child() {
    }

    /**
     * Outcome of a finished (or killed) child.
     *
     * @param exit     exit code (-1 when it had to be killed)
     * @param out      standard output
     * @param err      standard error
     * @param millis   wall time
     * @param timedOut whether it overran the limit
     */
    public record Result(int exit, String out, String err, long millis, boolean timedOut) {
    }

    /** Runs a command to completion within {@code limit}. */
    public static Result run(Duration limit, String... cmd) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        Process p = start(cmd);
        boolean done = p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS);
        if (!done) {
            p.destroyForcibly();
            p.waitFor(2, TimeUnit.SECONDS);
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        String out = done ? new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8) : "";
        String err = done ? new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8) : "";
        return new Result(done ? p.exitValue() : -1, out, err, ms, !done);
    }

    /** Starts a command; the caller must {@link #kill9} or wait for it. */
    public static Process start(String... cmd) throws IOException {
        return new ProcessBuilder(List.of(cmd)).start();
    }

    /** SIGKILL by pid. */
    public static void kill9(Process p) {
        p.destroyForcibly();
    }

    /** Sends a signal by pid with kill(1). */
    public static void signal(long pid, String signal) throws IOException, InterruptedException {
        new ProcessBuilder("kill", "-" + signal, Long.toString(pid)).start().waitFor(5, TimeUnit.SECONDS);
    }

    /** Waits up to {@code limit} for a process to end; returns the time it took, or -1 if it did not. */
    public static long awaitExit(Process p, Duration limit) throws InterruptedException {
        long t0 = System.nanoTime();
        if (p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
            return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        }
        return -1;
    }
}
