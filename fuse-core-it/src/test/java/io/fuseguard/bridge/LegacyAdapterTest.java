package io.fuseguard.internal.bridge;

import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/** An existing jnr-fuse filesystem, unchanged, mounted under fuseguard's guards with one line. */
class LegacyAdapterTest {
    @TempDir
    Path tmp;

    /** A plain jnr-fuse filesystem, written the way jnr-fuse's examples are. */
    static final class PlainJnrFs extends FuseStubFS {
        final Map<String, byte[]> files = new ConcurrentHashMap<>(Map.of("/hello", "hello\n".getBytes()));
        final AtomicLong lateWrites = new AtomicLong();

        @Override
        public int getattr(String path, FileStat stat) {
            if (path.equals("/")) {
                stat.st_mode.set(FileStat.S_IFDIR | 0755);
                stat.st_nlink.set(2);
                return 0;
            }
            byte[] b = files.get(path);
            if (b == null) {
                return -ErrorCodes.ENOENT();
            }
            stat.st_mode.set(FileStat.S_IFREG | 0644);
            stat.st_nlink.set(1);
            stat.st_size.set(b.length);
            return 0;
        }

        @Override
        public int readdir(String path, Pointer buf, FuseFillDir filter, @off_t long offset, FuseFileInfo fi) {
            filter.apply(buf, ".", null, 0);
            filter.apply(buf, "..", null, 0);
            for (String f : files.keySet()) {
                filter.apply(buf, f.substring(1), null, 0);
            }
            return 0;
        }

        @Override
        public int open(String path, FuseFileInfo fi) {
            return files.containsKey(path) ? 0 : -ErrorCodes.ENOENT();
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
            byte[] b = files.get(path);
            if (b == null) {
                return -ErrorCodes.ENOENT();
            }
            int n = (int) Math.max(0, Math.min(size, b.length - offset));
            buf.put(0, b, (int) offset, n);
            return n;
        }

        @Override
        public int create(String path, long mode, FuseFileInfo fi) {
            files.put(path, new byte[0]);
            return 0;
        }

        @Override
        public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
            byte[] old = files.getOrDefault(path, new byte[0]);
            byte[] nb = java.util.Arrays.copyOf(old, (int) Math.max(old.length, offset + size));
            buf.get(0, nb, (int) offset, (int) size);
            files.put(path, nb);
            return (int) size;
        }

        @Override
        public int truncate(String path, long size) {
            files.computeIfPresent(path, (k, v) -> java.util.Arrays.copyOf(v, (int) size));
            return 0;
        }
    }

    @Test
    void servesAnUnchangedJnrFuseFilesystemUnderTheGuards() throws Exception {
        FuseAvailability.assumeUsable();
        PlainJnrFs legacy = new PlainJnrFs();
        legacy.files.put("/stall", new byte[4096]);
        FuseguardConfig config = FuseguardConfig.builder().deadline(OperationKind.DATA, Duration.ofMillis(300))
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false).build();
        try (FuseMount m = FuseMount.mount(legacy, tmp, config)) {   // the one line a migration changes
            assertThat(Child.run(Duration.ofSeconds(5), "cat", tmp.resolve("hello").toString()).out())
                    .isEqualTo("hello\n");
            Child.Result w = Child.run(Duration.ofSeconds(5), "sh", "-c", "echo written > " + tmp.resolve("new"));
            assertThat(w.exit()).isZero();
            assertThat(new String(legacy.files.get("/new"), StandardCharsets.UTF_8)).isEqualTo("written\n");
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
