package io.fuseguard.metrics;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.StallingFs;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The figures a mount keeps, read directly and through Micrometer. */
class MountMetricsTest {
    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(StallingFs::new, FuseguardConfig.builder()
            .deadline(OperationKind.METADATA, Duration.ofMillis(300)).shutdownHook(false).build());

    /** A second, different filesystem under the same fsName: its own series all the same. */
    @RegisterExtension
    final FuseMountExtension broken = FuseMountExtension.of(BrokenFs::new, FuseguardConfig.builder()
            .shutdownHook(false).build());

    /** "/" exists; "/broken" fails with EIO; everything else does not exist; no extended attribute is set. */
    static final class BrokenFs implements FuseFileSystem {
        @Override
        public FileAttributes getattr(String path) throws IOException {
            return switch (path) {
                case "/" -> FileAttributes.builder(FileType.DIRECTORY).build();
                case "/broken" -> throw new ErrnoException(Errno.EIO);
                default -> throw new ErrnoException(Errno.ENOENT);
            };
        }

        @Override
        public byte[] getxattr(String path, String name) throws IOException {
            throw new ErrnoException(Errno.ENODATA);
        }
    }

    @Test
    void requestsErrorsLatenciesAndEventsAreCounted() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        new FuseguardMeterBinder(fuse.mount()).bindTo(registry);
        MountMetrics m = fuse.mount().metrics();
        long reads = m.requests(Operation.READ);
        assertThat(Files.readString(fuse.mountPoint().resolve("ok"))).isEqualTo("fine\n");
        assertThat(Files.exists(fuse.mountPoint().resolve("missing"))).isFalse();
        assertThat(m.requests(Operation.READ)).isGreaterThan(reads);
        assertThat(m.expectedErrors(Operation.LOOKUP)).as("the missing file's lookup (ENOENT)").isPositive();
        assertThat(m.errors(Operation.LOOKUP)).as("ENOENT is no failure").isZero();
        assertThat(m.handlerNanos(Operation.READ)).isPositive();
        String mp = fuse.mountPoint().toString();
        assertThat(registry.get("fuseguard.requests").tag("op", "read").tag("mount", mp).functionCounter().count())
                .isEqualTo(m.requests(Operation.READ));
        assertThat(registry.get("fuseguard.request.duration").tag("op", "lookup").timer().count()).isPositive();

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

    @Test
    void expectedAnswersAreCountedApartFromFailures() throws Exception {
        MountMetrics m = broken.mount().metrics();
        Path mp = broken.mountPoint();
        assertThat(Files.exists(mp.resolve("nothing-here"))).isFalse();
        assertThatThrownBy(() -> Files.readAttributes(mp.resolve("broken"), "unix:mode"))
                .isInstanceOf(IOException.class).hasMessageContaining("Input/output error");
        assertThatThrownBy(() -> Files.getAttribute(mp, "user:absent")).isInstanceOf(IOException.class);
        assertThat(m.expectedErrors(Operation.LOOKUP)).as("ENOENT of nothing-here").isGreaterThanOrEqualTo(1);
        assertThat(m.errors(Operation.LOOKUP)).as("EIO of broken").isGreaterThanOrEqualTo(1);
        assertThat(m.expectedErrors(Operation.GETXATTR)).as("ENODATA").isGreaterThanOrEqualTo(1);
        assertThat(m.errors(Operation.GETXATTR)).isZero();
        assertThat(MountMetrics.isExpected(Errno.ENOENT.code())).isTrue();
        assertThat(MountMetrics.isExpected(Errno.EIO.code())).isFalse();
        assertThat(MountMetrics.isExpected(0)).isFalse();
        assertThat(MountMetrics.isExpected(4095)).isFalse();
    }

    @Test
    void twoMountsOfOneNameHaveSeparateSeriesAndOnlyServedOperationsAppear() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        assertThat(fuse.mount().config().mount().fsName()).isEqualTo(broken.mount().config().mount().fsName());
        new FuseguardMeterBinder(fuse.mount()).bindTo(registry);
        FuseguardMeterBinder.builder(broken.mount()).latencyBuckets(java.util.List.of()).build().bindTo(registry);
        assertThat(Files.readString(fuse.mountPoint().resolve("ok"))).isEqualTo("fine\n");
        assertThat(Files.exists(broken.mountPoint().resolve("x"))).isFalse();

        Set<String> labels = registry.getMeters().stream().map(x -> x.getId().getTag("mount"))
                .collect(Collectors.toSet());
        assertThat(labels).containsExactlyInAnyOrder(fuse.mountPoint().toString(), broken.mountPoint().toString());
        double lookupsOfFuse = registry.get("fuseguard.requests").tag("mount", fuse.mountPoint().toString())
                .tag("op", "lookup").functionCounter().count();
        assertThat(lookupsOfFuse).isEqualTo(fuse.mount().metrics().requests(Operation.LOOKUP));
        // nobody wrote to either mount: no write series, and per operation one set of series at most
        assertThat(registry.find("fuseguard.requests").tag("op", "write").meters()).isEmpty();
        Set<String> ops = registry.find("fuseguard.requests").meters().stream().map(x -> x.getId().getTag("op"))
                .collect(Collectors.toSet());
        assertThat(ops).isNotEmpty().hasSizeLessThan(Operation.values().length);
        long perMountPerOp = registry.find("fuseguard.request.duration").meters().stream()
                .map(Meter::getId).map(id -> id.getTag("mount") + " " + id.getTag("op")).distinct().count();
        assertThat(perMountPerOp).isEqualTo(registry.find("fuseguard.request.duration").meters().size());
    }
}
