package io.fuseguard.internal.bridge;

import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.migration.JnrMapFs;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/** An existing jnr-fuse filesystem, unchanged, mounted under fuseguard's guards with one line. */
class LegacyAdapterTest {
    @TempDir
    Path tmp;

    /** The examples' plain jnr-fuse filesystem, with a read of {@code /stall} that overruns its deadline. */
    static final class PlainJnrFs extends JnrMapFs {
        final AtomicLong lateWrites = new AtomicLong();

        PlainJnrFs() {
            files().put("/hello", "hello\n".getBytes(StandardCharsets.UTF_8));
        }

        @Override
        public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
            if (path.equals("/stall")) {
                // Overrun the deadline, then keep writing into the buffer it was handed (a private copy).
                long end = System.nanoTime() + Duration.ofMillis(1200).toNanos();
                while (System.nanoTime() < end) {
                    buf.put(0, new byte[(int) size], 0, (int) size);
                    lateWrites.incrementAndGet();
                }
                return (int) size;
            }
            return super.read(path, buf, size, offset, fi);
        }
    }

    @Test
    void servesAnUnchangedJnrFuseFilesystemUnderTheGuards() throws Exception {
        FuseAvailability.assumeUsable();
        PlainJnrFs legacy = new PlainJnrFs();
        legacy.files().put("/stall", new byte[4096]);
        FuseguardConfig config = FuseguardConfig.builder().deadline(OperationKind.DATA, Duration.ofMillis(300))
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false).build();
        try (FuseMount m = JnrFuseMount.mount(legacy, tmp, config)) {   // the one line a migration changes
            assertThat(Child.run(Duration.ofSeconds(5), "cat", tmp.resolve("hello").toString()).out())
                    .isEqualTo("hello\n");
            Child.Result w = Child.run(Duration.ofSeconds(5), "sh", "-c", "echo written > " + tmp.resolve("new"));
            assertThat(w.exit()).isZero();
            assertThat(new String(legacy.files().get("/new"), StandardCharsets.UTF_8)).isEqualTo("written\n");
            assertThat(Child.run(Duration.ofSeconds(5), "ls", tmp.toString()).out().split("\n"))
                    .contains("hello", "new", "stall");

            Child.Result stalled = Child.run(Duration.ofSeconds(10), "cat", tmp.resolve("stall").toString());
            assertThat(stalled.exit()).isNotZero();
            assertThat(stalled.err()).contains("Input/output error");
            // The late handler keeps writing into its private copy while the mount goes on serving.
            for (int i = 0; i < 20; i++) {
                assertThat(Child.run(Duration.ofSeconds(5), "cat", tmp.resolve("hello").toString()).out())
                        .isEqualTo("hello\n");
            }
            System.out.printf("legacy stalled read answered after %d ms; late handler wrote its buffer %d times%n",
                    stalled.millis(), legacy.lateWrites.get());
            assertThat(legacy.lateWrites.get()).isPositive();
        }
    }
}
