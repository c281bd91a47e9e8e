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
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A daemon in its own pid namespace whose /proc was not remounted ({@code unshare --pid --fork java ...}, as in
 * a sidecar without hostPID): its /proc shows the parent namespace, so nothing may be looked up there by the pids
 * the daemon sees. The mount works, requests from outside the namespace (pid 0 in the request) and from other
 * processes inside it are served, the daemon's own thread is still recognised and refused under BOUNDED, and
 * SIGTERM stops it cleanly.
 *
 * <p>Before: the mount failed ("readiness probe: FileNotFoundException"), and self-access compared ids of
 * different namespaces.
 */
class PidNamespaceDaemonTest {
    private Path mp;
    private long connection = -1;

    @BeforeEach
    void needs() {
        Edges.assumeFuseAndRoot();
    }

    @AfterEach
    void cleanUp() {
        if (mp != null) {
            Edges.forceUnmount(mp);
        }
        Edges.abortIfAlive(connection);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    @Test
    void aDaemonInItsOwnPidNamespaceWithoutItsOwnProcMountsServesRefusesItselfAndStops() throws Exception {
        mp = Edges.newDir("pidns-");
        List<String> cmd = new ArrayList<>(List.of("unshare", "--pid", "--fork"));
        cmd.addAll(Edges.java(EdgeDaemon.class, mp.toString(), "--bounded"));
        try (DaemonProcess d = new DaemonProcess(cmd)) {
            String mounting = d.expectLine("MOUNTING", Duration.ofSeconds(30));
            assertThat(mounting).as("the daemon is pid 1 of its own namespace").isEqualTo("MOUNTING 1");
            String ready = d.expectLine("READY", Duration.ofSeconds(30));
            connection = Long.parseLong(ready.split(" ")[1]);
            assertThat(connection).as("the daemon identified its connection").isNotNegative();
            assertThat(Edges.mountAt(mp)).isPresent();
            assertThat(Edges.mountAt(mp).get().connectionId()).isEqualTo(connection);

            // Requests from outside its namespace.
            assertThat(Child.runOk("cat", mp.resolve("hello").toString())).isEqualTo("hello\n");
            Child.runOk("sh", "-c", "echo outside > " + mp.resolve("written"));
            assertThat(Child.runOk("cat", mp.resolve("written").toString())).isEqualTo("outside\n");

            // The daemon's own thread: refused (BOUNDED), recognised although /proc shows another namespace.
            d.send("self");
            String self = d.expectLine("SELF", Duration.ofSeconds(20));
            System.out.printf("daemon's own thread reading its mount (pid namespace, BOUNDED): %s%n", self);
            assertThat(self).as("refused with EDEADLK").startsWith("SELF failed").containsIgnoringCase("deadlock");

            // Another process inside the same namespace is not the daemon: served.
            d.send("child");
            String child = d.expectLine("CHILD", Duration.ofSeconds(20));
            System.out.printf("a child process of the daemon, in its namespace: %s%n", child);
            assertThat(child).isEqualTo("CHILD 0 hello");

            // SIGTERM to the daemon (the JVM, pid 1 of the namespace, a child of unshare).
            Optional<ProcessHandle> jvm = d.process().toHandle().children().findFirst();
            assertThat(jvm).as("the JVM under unshare").isPresent();
            long t0 = System.nanoTime();
            Edges.sigterm(jvm.get().pid());
            assertThat(d.process().waitFor(30, TimeUnit.SECONDS)).as("SIGTERM stops it").isTrue();
            long ms = Edges.ms(t0);
            System.out.printf("daemon in its own pid namespace: gone %d ms after SIGTERM%n", ms);
            assertThat(d.awaitLine("UNMOUNTED", Duration.ofSeconds(2))).as("it unmounted itself").isPresent();
            assertThat(d.stderr()).doesNotContain("leaked").doesNotContain("FileNotFoundException");
            assertThat(Edges.mountAt(mp)).as("no mount left").isEmpty();
            Edges.assertConnectionEnded(connection);
            assertThat(Child.run(Duration.ofSeconds(10), "timeout", "5", "ls", mp.toString()).exit()).isZero();
            assertThat(Files.list(mp).count()).isZero();
        }
    }
}
