package io.fuseguard.edges;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.PyClient;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The errno of the system calls the framework decides on (found while testing issue 8's mount edges: close()
 * logged "umount ... failed with errno 1" for a busy mount, and never took its EBUSY branch). A busy mount's
 * umount2 is EBUSY, a bad descriptor's close is EBADF, a directory that is not a mount point is EINVAL.
 */
class SyscallErrnoTest {
    private FuseMount mount;
    private Path mp;
    private PyClient client;

    @BeforeEach
    void needs() {
        Edges.assumeFuseAndRoot();
    }

    @AfterEach
    void cleanUp() {
        if (client != null) {
            client.close();
        }
        if (mount != null) {
            mount.close();
        }
        if (mp != null) {
            Edges.forceUnmount(mp);
        }
    }

    @Test
    void failedSystemCallsReturnTheirErrno() throws Exception {
        mp = Edges.newDir("errno-");
        mount = FuseMount.mount(new SmallFs().withFile("/f", "x".getBytes(StandardCharsets.UTF_8)), mp,
                FuseguardConfig.builder().fsName("errno").shutdownHook(false).build());
        client = new PyClient();
        client.call(Duration.ofSeconds(10), "open f " + mp.resolve("f") + " r").assertOk();
        int busy = Syscalls.umount2(mp.toString(), 0);
        int notMounted = Syscalls.umount2(Edges.newDir("plain-").toString(), 0);
        int badFd = Syscalls.close(1_000_000);
        System.out.printf("umount2 of a busy mount: %d, of a plain directory: %d; close of a bad descriptor: %d%n",
                busy, notMounted, badFd);
        assertThat(busy).as("umount2 of a busy mount: -EBUSY").isEqualTo(-Syscalls.EBUSY);
        assertThat(notMounted).as("umount2 of a directory that is not a mount point: -EINVAL")
                .isEqualTo(-Syscalls.EINVAL);
        assertThat(badFd).as("close of a bad descriptor: -EBADF").isEqualTo(-Syscalls.EBADF);
    }
}
