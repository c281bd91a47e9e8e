package io.fuseguard.status;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.kernel.ConnectionReport;
import io.fuseguard.kernel.ConnectionStatus;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A mounted daemon publishes what it negotiated in a status file per connection, removes it at unmount, and
 * neither a file left by a killed daemon nor one whose connection id now belongs to another mount is believed.
 */
class ConnectionStatusTest {
    private static final String PROPERTY = "fuseguard.statusDir";
    private Path mp;

    @BeforeEach
    void needs() throws Exception {
        Edges.assumeFuseAndRoot();
        mp = Edges.newDir("status-");
    }

    @AfterEach
    void cleanUp() {
        System.clearProperty(PROPERTY);
        Edges.forceUnmount(mp);
    }

    private static Optional<ConnectionStatus> statusOf(long id) throws Exception {
        for (ConnectionReport.Connection c : ConnectionReport.scan()) {
            if (c.id() == id) {
                return ConnectionStatus.of(c);
            }
        }
        return Optional.empty();
    }

    @Test
    void aMountPublishesItsProtocolInRunAndRemovesItAtUnmount() throws Exception {
        Path file;
        long id;
        try (FuseMount m = FuseMount.mount(new SmallFs(), mp,
                FuseguardConfig.builder().fsName("status").shutdownHook(false).build())) {
            id = m.connectionId().orElseThrow();
            file = Path.of("/run/fuseguard/connections", id + ".json");
            assertThat(file).exists();
            System.out.println(Files.readString(file));
            ConnectionStatus s = statusOf(id).orElseThrow();
            assertThat(s.connectionId()).isEqualTo(id);
            assertThat(s.daemonPid()).isEqualTo(ProcessHandle.current().pid());
            assertThat(s.protocolMinor()).isEqualTo(m.protocol().minor());
            assertThat(s.kernelMinor()).isEqualTo(m.protocol().kernelMinor());
            assertThat(s.capabilities()).isEqualTo(m.protocol().used());
            assertThat(s.offeredUnused()).isEqualTo(m.protocol().offeredUnused());
            assertThat(s.passthrough()).isEqualTo(m.passthrough().state()).startsWith("not used");
            assertThat(s.mountPoint()).isEqualTo(mp.toRealPath().toString());
            assertThat(Files.getPosixFilePermissions(file)).hasSize(4); // rw-r--r--: readable by anyone
        }
        assertThat(file).as("removed at unmount").doesNotExist();
    }

    @Test
    void aFileOfAConnectionTheKernelNoLongerHasIsSweptByTheNextMount() throws Exception {
        Path dir = Edges.newDir("status-dir-");
        System.setProperty(PROPERTY, dir.toString());
        long gone = 0xFFFFF; // no connection has this id here: its daemon died without removing its file
        Path stale = dir.resolve(gone + ".json");
        Files.writeString(stale, "{\"version\":1,\"connection\":" + gone + "}");
        try (FuseMount m = FuseMount.mount(new SmallFs(), mp,
                FuseguardConfig.builder().fsName("status-sweep").shutdownHook(false).build())) {
            assertThat(dir.resolve(m.connectionId().orElseThrow() + ".json")).exists();
            assertThat(stale).as("swept when the new mount published").doesNotExist();
        }
    }

    @Test
    void aFileWhoseConnectionIdNowBelongsToAnotherMountIsNotBelieved() throws Exception {
        Path dir = Edges.newDir("status-dir-");
        System.setProperty(PROPERTY, dir.toString());
        try (FuseMount m = FuseMount.mount(new SmallFs(), mp,
                FuseguardConfig.builder().fsName("status-reused").shutdownHook(false).build())) {
            long id = m.connectionId().orElseThrow();
            Path f = dir.resolve(id + ".json");
            assertThat(statusOf(id)).isPresent();
            // What a killed daemon of an earlier mount with the same connection id would have left.
            String own = Files.readString(f);
            String other = own.replaceFirst("\"source\":\"[^\"]*\"", "\"source\":\"fuseguard:1:earlier\"");
            assertThat(other).isNotEqualTo(own);
            Files.writeString(f, other);
            assertThat(statusOf(id)).as("another mount's source: not this connection's status").isEmpty();
            Files.writeString(f, "{\"version\":1,\"connection\":");
            assertThat(statusOf(id)).as("a damaged file").isEmpty();
            Files.writeString(f, own);
            assertThat(statusOf(id)).isPresent();
            Files.writeString(f, other);
        }
        assertThat(dir.resolve("x")).doesNotExist();
        assertThat(Files.list(dir).toList()).as("at unmount only its own file is removed; another's stays")
                .hasSize(1);
    }
}
