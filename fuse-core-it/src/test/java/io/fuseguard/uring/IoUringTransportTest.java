package io.fuseguard.uring;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Requests over io_uring on a real kernel: they arrive on ring entries and get their answers there. */
class IoUringTransportTest {
    private static EnableUring enabled;

    @BeforeAll
    static void enable() throws Exception {
        FuseAvailability.assumeUsable();
        assumeTrue(EnableUring.available(), "this kernel has no FUSE over io_uring");
        enabled = EnableUring.set("Y");
    }

    @AfterAll
    static void restore() throws Exception {
        if (enabled != null) {
            enabled.close();
        }
    }

    private static FuseguardConfig config(boolean ioUring) {
        return FuseguardConfig.builder().ioUring(ioUring).allDeadlines(Duration.ofSeconds(5))
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false).build();
    }

    @Test
    void readsWritesAndStatsGoOverTheRing(@TempDir Path dir) throws Exception {
        SmallFs fs = new SmallFs().withFile("/hello", "hello\n".getBytes());
        try (FuseMount m = FuseMount.mount(fs, dir, config(true))) {
            assertThat(m.ioUringActive()).as(m.ioUringState()).isTrue();
            long before = m.ioUringRequests();
            assertThat(Files.readString(dir.resolve("hello"))).isEqualTo("hello\n");
            assertThat(Files.size(dir.resolve("hello"))).isEqualTo(6);
            System.out.println("io_uring: " + m.ioUringState() + ", requests on the ring " + m.ioUringRequests()
                    + " of " + m.status().requests());
            assertThat(m.ioUringRequests()).isGreaterThan(before);
        }
    }
}
