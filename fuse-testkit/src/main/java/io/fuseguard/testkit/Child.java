package io.fuseguard.testkit;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Child processes for tests: every one runs with its
 * standard input from /dev/null and a time limit, its output drained while it runs (a chatty child cannot
 * block on a full pipe, a hanging one cannot hang the build), and it is killed by pid, never by name, when it
 * overruns.
 */
public final class Child {
    /** The limit of {@link #runOk}. */
    public static final Duration DEFAULT_LIMIT = Duration.ofSeconds(60);

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
        /** This result, after checking that the child exited 0 in time. */
        public Result assertOk() {
            if (timedOut || exit != 0) {
                throw new AssertionError((timedOut ? "timed out" : "exit " + exit) + ", stderr: " + err
                        + ", stdout: " + out);
            }
            return this;
        }
    }

    /** Runs a command to completion within {@code limit}. */
    public static Result run(Duration limit, String... cmd) throws IOException, InterruptedException {
        return run(limit, List.of(cmd));
    }

    /** Runs a command to completion within {@code limit}. */
    public static Result run(Duration limit, List<String> cmd) throws IOException, InterruptedException {
        long t0 = System.nanoTime();
        Process p = start(cmd);
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> drain(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(p.getErrorStream()));
        boolean done = p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS);
        if (!done) {
            p.destroyForcibly();
            p.waitFor(5, TimeUnit.SECONDS);
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        return new Result(done ? p.exitValue() : -1, collect(out), collect(err), ms, !done);
    }

    /** Runs a command within {@link #DEFAULT_LIMIT}, asserts exit 0 and returns its standard output. */
    public static String runOk(String... cmd) throws IOException, InterruptedException {
        return run(DEFAULT_LIMIT, cmd).assertOk().out();
    }

    /** Starts a command (stdin from /dev/null); the caller must {@link #kill9} or wait for it. */
    public static Process start(String... cmd) throws IOException {
        return start(List.of(cmd));
    }

    private static Process start(List<String> cmd) throws IOException {
        return new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    }

    /** SIGKILL by pid. */
    public static void kill9(Process p) {
        p.destroyForcibly();
    }

    /** Waits up to {@code limit} for a process to end; returns the time it took, or -1 if it did not. */
    public static long awaitExit(Process p, Duration limit) throws InterruptedException {
        long t0 = System.nanoTime();
        if (p.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS)) {
            return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        }
        return -1;
    }

    private static String drain(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "<" + e + ">";
        }
    }

    /** The drained output; a grandchild still holding the pipe only costs its part of the output. */
    private static String collect(CompletableFuture<String> f) throws InterruptedException {
        try {
            return f.get(5, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            return "<output not collected: " + e + ">";
        }
    }
}
