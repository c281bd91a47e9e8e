package io.fuseguard.edges;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.MountException;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A daemon restarted after a {@code kill -9} (by systemd's {@code Restart=}, a Pod's restart policy) mounts
 * again on the same directory: the dead fuseguard mount it left (every access ENOTCONN) is detached first.
 * A mount that is alive, or that is not fuseguard's, is never touched.
 */
class RemountAfterKillTest {
    private final List<Path> mountPoints = new ArrayList<>();
    private final List<AutoCloseable> closeables = new ArrayList<>();
    private final List<Long> connections = new ArrayList<>();

    @BeforeEach
    void needs() {
        Edges.assumeFuseAndRoot();
    }

    @AfterEach
    void cleanUp() throws Exception {
        Collections.reverse(closeables);
        for (AutoCloseable c : closeables) {
            c.close();
        }
        mountPoints.forEach(Edges::forceUnmount);
        connections.forEach(Edges::abortIfAlive);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private DaemonProcess daemon(Path mp) throws Exception {
        DaemonProcess d = new DaemonProcess(Edges.java(EdgeDaemon.class, mp.toString()));
        closeables.add(d);
        String ready = d.expectLine("READY", Duration.ofSeconds(60));
        connections.add(Long.parseLong(ready.split(" ")[1]));
        return d;
    }

    private static FuseguardConfig config() {
        return FuseguardConfig.builder().fsName("remount").shutdownHook(false).build();
    }

    @Test
    void aKilledDaemonsMountIsReplaced() throws Exception {
        Path mp = Edges.newDir("remount-");
        mountPoints.add(mp);
        DaemonProcess d = daemon(mp);
        d.process().destroyForcibly();
        assertThat(d.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(Edges.mountAt(mp)).as("kill -9 leaves the mount behind").isPresent();
        Child.Result dead = Child.run(Duration.ofSeconds(10), "timeout", "5", "cat", mp.resolve("hello").toString());
        assertThat(dead.err()).as("the left mount is dead").contains("Transport endpoint is not connected");

        long t0 = System.nanoTime();
        FuseMount again = FuseMount.mount(new SmallFs().withFile("/again", "again\n".getBytes(
                StandardCharsets.UTF_8)), mp, config());
        closeables.add(again);
        again.connectionId().ifPresent(connections::add);
        System.out.println("re-mount over the dead mount took " + Edges.ms(t0) + " ms");

        assertThat(Files.readString(mp.resolve("again"))).isEqualTo("again\n");
        assertThat(Edges.mountAt(mp).orElseThrow().connectionId()).isEqualTo(again.connectionId().orElseThrow());
    }

    @Test
    void aLiveDaemonsMountIsKept() throws Exception {
        Path mp = Edges.newDir("remount-live-");
        mountPoints.add(mp);
        daemon(mp);
        assertThatThrownBy(() -> closeables.add(FuseMount.mount(new SmallFs(), mp, config())))
                .isInstanceOf(MountException.class)
                .hasMessageContaining("already a mount point")
                .satisfies(e -> assertThat(((MountException) e).reason())
                        .isEqualTo(MountException.Reason.ALREADY_MOUNTED));
        Child.Result read = Child.run(Duration.ofSeconds(10), "timeout", "5", "cat", mp.resolve("hello").toString());
        assertThat(read.out()).as("the live daemon still serves").isEqualTo("hello\n");
    }

    @Test
    void anotherFilesystemIsKept() throws Exception {
        Path mp = Edges.newDir("remount-tmpfs-");
        mountPoints.add(mp);
        Child.runOk("mount", "-t", "tmpfs", "none", mp.toString());
        assertThatThrownBy(() -> closeables.add(FuseMount.mount(new SmallFs(), mp, config())))
                .isInstanceOf(MountException.class)
                .hasMessageContaining("already a mount point");
        assertThat(Edges.mountAt(mp).orElseThrow().fsType()).isEqualTo("tmpfs");
    }
}
