package io.fuseguard.metrics;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.StallingFs;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Files;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The figures a mount keeps, read directly and through Micrometer. */
class MountMetricsTest {
    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(StallingFs::new, FuseguardConfig.builder()
            .deadline(OperationKind.METADATA, Duration.ofMillis(300)).shutdownHook(false).build());

    @Test
    void requestsErrorsLatenciesAndEventsAreCounted() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        new FuseguardMeterBinder(fuse.mount()).bindTo(registry);
        MountMetrics m = fuse.mount().metrics();
        long reads = m.requests(Operation.READ);
        assertThat(Files.readString(fuse.mountPoint().resolve("ok"))).isEqualTo("fine\n");
        assertThat(Files.exists(fuse.mountPoint().resolve("missing"))).isFalse();
        assertThat(m.requests(Operation.READ)).isGreaterThan(reads);
        assertThat(m.errors(Operation.LOOKUP)).as("the missing file's lookup").isPositive();
        assertThat(m.handlerNanos(Operation.READ)).isPositive();
        assertThat(registry.get("fuseguard.requests").tag("op", "read").functionCounter().count())
                .isEqualTo(m.requests(Operation.READ));
        assertThat(registry.get("fuseguard.request.latency").tag("op", "lookup").timer().count()).isPositive();

        // A stalled lookup: answered at its deadline, counted as a timeout.
        try {
            Files.exists(fuse.mountPoint().resolve("stall-getattr"));
        } finally {
            ((StallingFs) fuse.fileSystem()).release();
        }
        await().atMost(Duration.ofSeconds(3)).until(() -> m.events(GuardEvent.Type.TIMEOUT) >= 1);
        assertThat(registry.get("fuseguard.events").tag("type", "timeout").functionCounter().count())
                .isGreaterThanOrEqualTo(1);
        assertThat(registry.get("fuseguard.threads").gauge().value()).isPositive();
    }
}
