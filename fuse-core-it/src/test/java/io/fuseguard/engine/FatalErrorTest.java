package io.fuseguard.engine;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A daemon whose heap runs out fails fast and visibly: the connection is ended (clients get an error instead of
 * waiting for deadlines nobody watches any more), and the process exits with status 70 within seconds, also
 * without {@code -XX:+ExitOnOutOfMemoryError} (which the launchers set as well).
 */
class FatalErrorTest {

    /** A MemoryFs daemon: mounts at args[0], prints READY and the connection id, serves until unmounted. */
    public static final class Daemon {
        public static void main(String[] args) throws Exception {
            FuseMount m = FuseMount.mount(new MemoryFs(), Path.of(args[0]), FuseguardConfig.builder()
                    .fsName("oom").build());
            System.out.println("READY " + m.connectionId().orElse(-1));
            m.awaitUnmount();
            System.out.println("UNMOUNTED");
        }
    }

    @Test
    void runningOutOfHeapEndsTheConnectionAndTheProcess() throws Exception {
        Edges.assumeFuseAndRoot();
        Path mp = Edges.newDir("oom-");
        Process daemon = new ProcessBuilder(Edges.java(List.of("-Xmx64m", "-XX:+UseSerialGC"), Daemon.class,
                mp.toString())).redirectErrorStream(true).start();
        long connection = -1;
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(daemon.getInputStream(),
                    StandardCharsets.UTF_8));
            String line;
            while ((line = out.readLine()) != null && !line.startsWith("READY")) {
                // the daemon's log
            }
            assertThat(line).as("the daemon mounted").isNotNull();
            connection = Long.parseLong(line.split(" ")[1]);
            Thread drain = new Thread(() -> {
                try {
                    while (out.readLine() != null) {
                        // keeps the pipe from filling
                    }
                } catch (Exception e) {
                    // gone
                }
            });
            drain.setDaemon(true);
            drain.start();
            long t0 = System.nanoTime();
            Child.Result dd = Child.run(Duration.ofSeconds(90), "dd", "if=/dev/zero", "of=" + mp.resolve("big"),
                    "bs=1M", "count=200");
            long ddMs = Edges.ms(t0);
            boolean exited = daemon.waitFor(15, TimeUnit.SECONDS);
            long exitMs = Edges.ms(t0);
            System.out.printf("dd of 200 MiB into a 64 MiB heap: dd ended after %d ms (exit %d: %s); daemon %s "
                    + "after %d ms%n", ddMs, dd.exit(), dd.err().trim().replace('\n', ' '),
                    exited ? "exited " + daemon.exitValue() : "still running", exitMs);
            assertThat(dd.exit()).as("dd ended with an error, not at the limit").isNotIn(0, -1);
            assertThat(ddMs).as("not held until a deadline or the kernel's timeout").isLessThan(20_000);
            assertThat(exited).as("the daemon exits by itself").isTrue();
            assertThat(daemon.exitValue()).isEqualTo(70);
            assertThat(new FuseControl().exists(connection)).as("the connection ended").isFalse();
            assertThat(Edges.descendantsInDState()).isEmpty();
        } finally {
            daemon.destroyForcibly();
            daemon.waitFor(10, TimeUnit.SECONDS);
            Edges.forceUnmount(mp); // only what is still mounted at our mount point

        }
    }
}
