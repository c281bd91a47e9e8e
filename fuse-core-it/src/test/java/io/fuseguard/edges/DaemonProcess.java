package io.fuseguard.edges;

import io.fuseguard.testkit.Edges;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A daemon child process ({@link EdgeDaemon}, possibly started through {@code unshare}): its output lines as
 * they come, its standard error kept (drained, so it never blocks), commands on its standard input.
 */
final class DaemonProcess implements AutoCloseable {
    private final Process process;
    private final Writer in;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final StringBuffer err = new StringBuffer();

    DaemonProcess(List<String> cmd) throws IOException {
        process = new ProcessBuilder(cmd).start();
        in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        Thread out = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                    if (!l.startsWith("STATUS") && !l.startsWith("GC done")) {
                        System.out.println("[daemon " + process.pid() + "] " + l);
                    }
                    lines.add(l);
                }
            } catch (IOException e) {
                // gone
            }
            lines.add("EOF");
        }, "daemon-out-" + process.pid());
        out.setDaemon(true);
        out.start();
        Thread e = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getErrorStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                    err.append(l).append('\n');
                    if (err.length() > 1 << 20) {
                        err.delete(0, err.length() / 2); // keeps the last part of a chatty daemon's log
                    }
                }
            } catch (IOException ex) {
                // gone
            }
        }, "daemon-err-" + process.pid());
        e.setDaemon(true);
        e.start();
    }

    Process process() {
        return process;
    }

    /** The first line starting with {@code prefix} within {@code limit} (other lines are skipped), or empty. */
    Optional<String> awaitLine(String prefix, Duration limit) throws InterruptedException {
        long end = System.nanoTime() + limit.toNanos();
        while (true) {
            long left = end - System.nanoTime();
            if (left <= 0) {
                return Optional.empty();
            }
            String l = lines.poll(left, TimeUnit.NANOSECONDS);
            if (l == null || l.equals("EOF")) {
                if (l != null) {
                    lines.add(l);
                }
                return Optional.empty();
            }
            if (l.startsWith(prefix)) {
                return Optional.of(l);
            }
        }
    }

    /** Like {@link #awaitLine}, failing with the daemon's standard error when the line does not come. */
    String expectLine(String prefix, Duration limit) throws InterruptedException {
        return awaitLine(prefix, limit).orElseThrow(() -> new AssertionError("daemon did not print '" + prefix
                + "' within " + limit.toMillis() + " ms; alive " + process.isAlive() + "; stderr:\n" + err));
    }

    void send(String command) throws IOException {
        in.write(command + "\n");
        in.flush();
    }

    String stderr() {
        return err.toString();
    }

    @Override
    public void close() {
        Edges.kill(process);
    }
}
