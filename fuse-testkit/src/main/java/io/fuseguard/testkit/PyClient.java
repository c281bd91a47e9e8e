package io.fuseguard.testkit;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A real client process (client.py) driven one system call at a time: the test decides when it opens, writes,
 * closes, and sees the exact errno and duration of each call. Every call has a time limit: a client that does not
 * answer in time is reported as stuck (the caller then cleans up and kills it by pid).
 */
public final class PyClient implements AutoCloseable {
    /** One answer: {@code errno} 0 for success. */
    public record Reply(boolean ok, double ms, int errno, String name, String value) {
        public Reply assertOk() {
            if (!ok) {
                throw new AssertionError("expected success, got errno " + errno + " " + name + " after " + ms
                        + " ms");
            }
            return this;
        }

        @Override
        public String toString() {
            return ok ? "OK(" + ms + " ms, '" + value + "')" : "ERR(" + errno + " " + name + ", " + ms + " ms)";
        }
    }

    private final Process process;
    private final Writer in;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

    public PyClient() throws IOException {
        this(List.of());
    }

    /** A client started through {@code prefix} (e.g. nsenter into another namespace), or directly. */
    public PyClient(List<String> prefix) throws IOException {
        List<String> cmd = new java.util.ArrayList<>(prefix);
        cmd.addAll(List.of(Edges.python(), "-u", Edges.resource("client.py").toString()));
        process = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                    lines.add(l);
                }
            } catch (IOException e) {
                // the client went away
            }
            lines.add("EOF");
        }, "pyclient-reader-" + process.pid());
        t.setDaemon(true);
        t.start();
    }

    public long pid() {
        return process.pid();
    }

    public Process process() {
        return process;
    }

    /** Sends a command and waits at most {@code limit} for its answer. */
    public Reply call(Duration limit, String command) throws IOException, InterruptedException {
        send(command);
        return await(limit, command);
    }

    /** Sends a command without waiting (see {@link #await}). */
    public void send(String command) throws IOException {
        in.write(command + "\n");
        in.flush();
    }

    /** The answer to the command sent last. */
    public Reply await(Duration limit, String what) throws InterruptedException {
        String l = lines.poll(limit.toMillis(), TimeUnit.MILLISECONDS);
        if (l == null) {
            throw new AssertionError("client " + process.pid() + " did not answer '" + what + "' within "
                    + limit.toMillis() + " ms: a system call is stuck");
        }
        if (l.equals("EOF")) {
            throw new AssertionError("client " + process.pid() + " exited during '" + what + "'");
        }
        if (l.startsWith("OK ")) {
            String[] w = l.split(" ", 3);
            return new Reply(true, Double.parseDouble(w[1]), 0, "", w.length > 2 ? w[2].replace("\\n", "\n") : "");
        }
        String[] w = l.split(" ", 4);
        return new Reply(false, Double.parseDouble(w[1]), Integer.parseInt(w[2]), w.length > 3 ? w[3] : "", "");
    }

    @Override
    public void close() {
        try {
            send("exit");
        } catch (IOException e) {
            // gone already
        }
        try {
            if (!process.waitFor(2, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
