package io.fuseguard.supervise;

import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.PyClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * With systemd's descriptor store, even the supervisor's death keeps the mount: the supervisor hands systemd the
 * connection's /dev/fuse descriptor and its state journal; killed with SIGKILL, it is started again with them and
 * takes the mount up, and a client's open descriptor and new opens keep working. A stop ends the mount and empties
 * the store. systemd itself is played by {@code fdstore_manager.py} (the same protocol: NOTIFY_SOCKET, FDSTORE=1,
 * LISTEN_FDS), since the machines that run the tests do not all run systemd as pid 1.
 */
class SystemdStoreTest {
    private Process manager;
    private Writer commands;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private Path mp;
    private long connection = -1;

    @BeforeEach
    void start() throws Exception {
        Edges.assumeFuseAndRoot();
        mp = Edges.newDir("fdstore-");
        Path source = Edges.newDir("fdstore-src-");
        Path socket = Files.createTempDirectory(Path.of("/tmp"), "fg-notify-").resolve("notify");
        List<String> cmd = new ArrayList<>(List.of(Edges.python(), Edges.resource("fdstore_manager.py").toString(),
                socket.toString(), "--"));
        cmd.addAll(Edges.java(SupervisorMain.class, source.toString(), mp.toString()));
        manager = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        commands = new OutputStreamWriter(manager.getOutputStream(), StandardCharsets.UTF_8);
        Thread out = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(manager.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String l;
                while ((l = r.readLine()) != null) {
                    System.out.println("[manager] " + l);
                    lines.add(l);
                }
            } catch (Exception e) {
                // gone
            }
        });
        out.setDaemon(true);
        out.start();
    }

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closeables) {
            c.close();
        }
        if (manager != null) {
            manager.descendants().forEach(ProcessHandle::destroyForcibly);
            Edges.kill(manager);
        }
        if (mp != null) {
            Edges.forceUnmount(mp);
        }
        if (connection >= 0) {
            Edges.abortIfAlive(connection);
        }
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private String expect(String prefix) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < end) {
            String l = lines.poll(end - System.nanoTime(), TimeUnit.NANOSECONDS);
            if (l != null && l.startsWith(prefix)) {
                return l;
            }
        }
        throw new AssertionError("no line '" + prefix + "' from the service manager within 60 s");
    }

    private void send(String command) throws Exception {
        commands.write(command + "\n");
        commands.flush();
    }

    @Test
    void aKilledSupervisorIsStartedAgainAndTakesTheMountUp() throws Exception {
        String first = expect("SUPERVISING ");
        connection = Long.parseLong(first.split(" ")[1]);
        assertThat(first).endsWith(" mounted kept");
        send("store");
        assertThat(expect("STORE ")).contains("fuseguard-dev-" + connection, "fuseguard-state-" + connection);

        PyClient client = new PyClient();
        closeables.add(client);
        Duration limit = Duration.ofSeconds(30);
        client.call(limit, "open held " + mp.resolve("held") + " rwc").assertOk();
        client.call(limit, "write held before-").assertOk();

        long t0 = System.nanoTime();
        send("kill");
        expect("EXITED ");
        String again = expect("SUPERVISING ");
        System.out.println("supervisor killed; the next one took the mount up " + Edges.ms(t0) + " ms later");
        assertThat(again).isEqualTo("SUPERVISING " + connection + " resumed kept");
        assertThat(Edges.mountAt(mp).orElseThrow().connectionId()).as("the same connection, never unmounted")
                .isEqualTo(connection);

        client.call(limit, "write held after").assertOk();
        client.call(limit, "fsync held").assertOk();
        assertThat(client.call(limit, "fstat held").assertOk().value()).isEqualTo("12");
        assertThat(Files.readString(mp.resolve("held"))).isEqualTo("before-after");
        Files.writeString(mp.resolve("new"), "new");
        assertThat(Child.run(Duration.ofSeconds(10), "timeout", "5", "cat", mp.resolve("new").toString()).out())
                .isEqualTo("new");
        client.call(limit, "close held").assertOk();

        send("stop");
        expect("STOPPED ");
        assertThat(expect("STORE ")).as("a stop empties the store").isEqualTo("STORE ");
        assertThat(Edges.mountAt(mp)).as("a stop unmounts").isEmpty();
        assertThat(manager.waitFor(30, TimeUnit.SECONDS)).isTrue();
    }
}
