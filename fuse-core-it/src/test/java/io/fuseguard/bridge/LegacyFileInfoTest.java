package io.fuseguard.internal.bridge;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.migration.JnrMapFs;
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
import ru.serce.jnrfuse.struct.Timespec;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a jnr-fuse filesystem finds in its arguments is what libfuse 2.9 gave it (measured side by side with plain
 * jnr-fuse 0.5.8): the open file's flags in {@code write}'s {@code fuse_file_info} ({@code O_APPEND} for an
 * appending writer), {@code release}'s flags without the open-only bits, the {@code flush} bit in {@code flush},
 * and {@code utimens} with real times (the kernel's clock for "now", never UTIME_NOW), called only when both times
 * change (libfuse 2.9 without {@code flag_utime_omit_ok} never passes UTIME_OMIT).
 */
class LegacyFileInfoTest {
    private static final int O_APPEND = 02000;
    private static final int O_CREAT = 0100;
    private static final int O_TRUNC = 01000;
    private static final long UTIME_NOW = (1L << 30) - 1;
    private static final Duration LIMIT = Duration.ofSeconds(10);

    @TempDir
    Path tmp;

    /** The examples' jnr-fuse filesystem, noting what it is handed. */
    static final class RecordingFs extends JnrMapFs {
        final List<String> calls = new CopyOnWriteArrayList<>();

        @Override
        public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
            calls.add("write " + path + " flags=" + fi.flags.get());
            return super.write(path, buf, size, offset, fi);
        }

        @Override
        public int flush(String path, FuseFileInfo fi) {
            // the flush bit of fuse_file_info's bit field (jnr-fuse maps the bits as padding)
            calls.add("flush " + path + " flushbit=" + ((jnr.ffi.Struct.getMemory(fi).getInt(20) & 4) >> 2));
            return 0;
        }

        @Override
        public int release(String path, FuseFileInfo fi) {
            calls.add("release " + path + " flags=" + fi.flags.get());
            return 0;
        }

        @Override
        public int utimens(String path, Timespec[] timespec) {
            calls.add("utimens " + path + " " + timespec[0].tv_sec.get() + "." + timespec[0].tv_nsec.longValue()
                    + " " + timespec[1].tv_sec.get() + "." + timespec[1].tv_nsec.longValue());
            return 0;
        }

        List<String> of(String prefix) {
            return calls.stream().filter(c -> c.startsWith(prefix)).toList();
        }
    }

    @Test
    void fileInfoAndTimesAreWhatLibfuse2Passed() throws Exception {
        FuseAvailability.assumeUsable();
        RecordingFs fs = new RecordingFs();
        try (FuseMount m = JnrFuseMount.mount(fs, tmp, FuseguardConfig.builder().shutdownHook(false).build())) {
            Path f = tmp.resolve("f");
            assertThat(Child.run(LIMIT, "sh", "-c", "echo one > " + f + " && echo two >> " + f).exit()).isZero();
            List<String> writes = fs.of("write /f");
            assertThat(writes).hasSize(2);
            int first = Integer.parseInt(writes.get(0).replaceAll(".*flags=", ""));
            int second = Integer.parseInt(writes.get(1).replaceAll(".*flags=", ""));
            assertThat(first & O_APPEND).as("the truncating writer's flags: %s", writes).isZero();
            assertThat(second & O_APPEND).as("the appending writer's flags: %s", writes).isEqualTo(O_APPEND);
            assertThat(first & 3).as("opened for writing").isEqualTo(1);

            long before = System.currentTimeMillis() / 1000;
            assertThat(Child.run(LIMIT, "touch", f.toString()).exit()).isZero();
            assertThat(Child.run(LIMIT, "touch", "-m", "-d", "2010-06-06 06:06:06", f.toString()).exit()).isZero();
            assertThat(Child.run(LIMIT, "touch", "-d", "2000-01-01 00:00:00.5", f.toString()).exit()).isZero();
            long after = System.currentTimeMillis() / 1000 + 1;
            m.close(); // release and the deferred flush have run when the mount is closed

            List<String> times = fs.of("utimens /f");
            assertThat(times).as("touch; touch -m (one time only: no call, as libfuse 2.9); touch -d")
                    .hasSize(2);
            String[] now = times.get(0).split(" ");
            long atime = Long.parseLong(now[2].split("\\.")[0]);
            long atimeNsec = Long.parseLong(now[2].split("\\.")[1]);
            assertThat(atime).as("touch: the kernel's now, %s", times).isBetween(before, after);
            assertThat(atimeNsec).as("a real nanosecond value, not UTIME_NOW").isLessThan(1_000_000_000L)
                    .isNotEqualTo(UTIME_NOW);
            assertThat(times.get(1)).isEqualTo("utimens /f 946684800.500000000 946684800.500000000");

            for (String r : fs.of("release /f")) {
                int flags = Integer.parseInt(r.replaceAll(".*flags=", ""));
                assertThat(flags & (O_CREAT | O_TRUNC)).as("release flags without open-only bits: %s", r).isZero();
            }
            assertThat(fs.of("release /f")).hasSizeGreaterThanOrEqualTo(2);
            assertThat(fs.of("flush /f")).isNotEmpty().allMatch(s -> s.endsWith("flushbit=1"));
        }
    }
}
