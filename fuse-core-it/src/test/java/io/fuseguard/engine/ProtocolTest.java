package io.fuseguard.engine;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.KernelProtocol;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** INIT negotiates up to protocol 7.45 and says what it got; capabilities are used only when offered. */
class ProtocolTest {
    @Test
    void aMountReportsTheMinorAndTheCapabilitiesItUses() throws Exception {
        Edges.assumeFuseAndRoot();
        Path mp = Edges.newDir("protocol-");
        try (FuseMount m = FuseMount.mount(new SmallFs().withFile("/f", new byte[] {1}), mp,
                FuseguardConfig.builder().fsName("protocol").shutdownHook(false).build())) {
            KernelProtocol p = m.protocol();
            System.out.println("negotiated: " + p.describe());
            assertThat(p.kernelMajor()).isEqualTo(7);
            assertThat(p.minor()).isEqualTo(Math.min(p.kernelMinor(), 45));
            assertThat(p.used()).as("what every kernel since 4.20 offers").contains("async_read", "big_writes",
                    "max_pages", "parallel_dirops");
            assertThat(p.used()).doesNotContainAnyElementsOf(p.offeredUnused());
            if (p.kernelMinor() >= 43) {
                assertThat(p.used()).as("the kernel's request timeout, asked for by default").contains(
                        "request_timeout");
            }
            assertThat(Files.readAllBytes(mp.resolve("f"))).containsExactly(1);
        } finally {
            Edges.forceUnmount(mp);
        }
    }
}
