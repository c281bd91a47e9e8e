package io.fuseguard.edges;

import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * FUSE passthrough at the edges: a daemon without the privilege (root of a user namespace) falls back with one
 * INFO line and serves everything itself; a daemon killed while clients read, write and map backed files, and
 * while it holds one itself, leaves nothing waiting (the guards' story: backed I/O never waits on the daemon).
 */
class PassthroughEdgesTest {
    private Path src;
    private Path mp;
    private long connection = -1;

    @BeforeEach
    void setUp() throws Exception {
        Edges.assumeFuseAndRoot();
        src = Edges.newDir("pte-src-");
        mp = Edges.newDir("pte-mnt-");
        byte[] f = new byte[1 << 20];
        new Random(9).nextBytes(f);
        Files.write(src.resolve("f"), f);
    }

    @AfterEach
    void cleanUp() {
        Edges.forceUnmount(mp);
        Edges.abortIfAlive(connection);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    @Test
    void withoutCapSysAdminInTheInitialNamespaceTheMountFallsBackWithOneInfoLine() throws Exception {
        if (Child.run(Duration.ofSeconds(20), "unshare", "-Urm", "true").exit() != 0) {
            Edges.unusable("user namespaces are not available here (unshare -Urm failed)");
        }
        List<String> cmd = new ArrayList<>(List.of("unshare", "-Urm", "--propagation", "private"));
        cmd.addAll(Edges.java(PassthroughDaemon.class, src.toString(), mp.toString()));
        try (DaemonProcess d = new DaemonProcess(cmd)) {
            String ready = d.expectLine("READY", Duration.ofSeconds(60));
            assertThat(ready).as("root of a user namespace may mount FUSE but not register backing files")
                    .contains("not available: the daemon may not register backing files");
            d.send("selfread");
            String read = d.expectLine("SELFREAD", Duration.ofSeconds(20));
            assertThat(read).startsWith("SELFREAD " + (1 << 20) + " reads=").endsWith(" backed=0");
            assertThat(Long.parseLong(read.split(" ")[2].substring(6))).as("reads served by the filesystem")
                    .isPositive();
            d.send("quit");
            d.expectLine("UNMOUNTED", Duration.ofSeconds(20));
            assertThat(d.stderr().lines().filter(l -> l.contains("FUSE passthrough is not available")).count())
                    .as("one INFO line").isEqualTo(1);
        }
    }

    @Test
    void aDaemonKilledWhileClientsReadWriteAndMapBackedFilesLeavesNothingWaiting() throws Exception {
        List<String> inner = Edges.java(PassthroughDaemon.class, src.toString(), mp.toString(), "clients=3", "hold");
        String script = String.join(" ", inner.stream().map(a -> "'" + a.replace("'", "'\\''") + "'").toList())
                + " & wait";
        try (DaemonProcess d = new DaemonProcess(List.of("unshare", "--pid", "--fork", "--mount-proc", "sh", "-c",
                script))) {
            String ready = d.expectLine("READY", Duration.ofSeconds(60));
            connection = Long.parseLong(ready.split(" ")[1]);
            assertThat(ready).endsWith(" on");
            Thread.sleep(1500); // the clients are looping over the backed file
            int init = (int) d.process().toHandle().children().findFirst().orElseThrow().pid();
            long t0 = System.nanoTime();
            Child.runOk("kill", "-KILL", Integer.toString(init));
            long gone = Child.awaitExit(d.process(), Duration.ofSeconds(10));
            System.out.printf("pid namespace (passthrough daemon holding its backed file + 3 clients), kill -9 "
                    + "init: gone in %d ms%n", gone < 0 ? -1 : Edges.ms(t0));
            assertThat(gone).as("every process of the namespace ended").isNotNegative();
            assertThat(Edges.ms(t0)).as("within the drill's limit for this scenario").isLessThan(2000);
            Edges.assertConnectionEnded(connection);
        }
    }
}
