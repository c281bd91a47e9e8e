package io.fuseguard.examples.memory;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.DelegatingFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What birth times cost, through the kernel, and that {@link MemoryFs.Builder#birthTime birthTime(false)} saves
 * it: with birth times, the first {@code statx(2)} asking for one on each file reaches the filesystem (no LOOKUP
 * or CREATE answer can carry it) and later ones are served from the kernel's cache; without, the filesystem is
 * asked once, answers ENOSYS, and the kernel never asks again (callers see no birth time).
 */
class MemoryFsBirthTimeCostTest {
    private static final int FILES = 20;

    /** MemoryFs, counting the statx calls that reach it. */
    static final class Counting extends DelegatingFs {
        final AtomicInteger statx = new AtomicInteger();

        Counting(boolean birthTime) {
            super(MemoryFs.builder().capacity(16L << 20).birthTime(birthTime).build());
        }

        @Override
        public FileAttributes statx(String path) throws IOException {
            statx.incrementAndGet();
            return fs.statx(path);
        }
    }

    @RegisterExtension
    final FuseMountExtension with = FuseMountExtension.of(() -> new Counting(true),
            MountedFsSupport.cachedConfig());

    @RegisterExtension
    final FuseMountExtension without = FuseMountExtension.of(() -> new Counting(false),
            MountedFsSupport.cachedConfig());

    /** Creates FILES files, then asks each for its birth time three times; prints how many had one. */
    private static final String SCRIPT = """
            import ctypes, os, struct, sys
            libc = ctypes.CDLL(None, use_errno=True)
            os.chdir(sys.argv[1])
            for i in range(int(sys.argv[2])):
                open("f%d" % i, "w").close()
            had = 0
            for rnd in range(3):
                for i in range(int(sys.argv[2])):
                    buf = ctypes.create_string_buffer(256)
                    if libc.statx(-100, ("f%d" % i).encode(), 0x100, 0xfff, buf) != 0:
                        raise OSError(ctypes.get_errno(), "statx")
                    if struct.unpack_from("<I", buf, 0)[0] & 0x800:
                        had += 1
            print(had)
            """;

    private static int birthTimesSeen(FuseMountExtension m) {
        String out = MountedFsSupport.run("python3", "-c", SCRIPT, m.mountPoint().toString(), String.valueOf(FILES))
                .assertOk().out().trim();
        return Integer.parseInt(out);
    }

    @Test
    void withBirthTimesTheFirstStatxOfEachFileReachesTheFilesystemOnce() {
        Counting fs = (Counting) with.fileSystem();
        assertThat(birthTimesSeen(with)).as("statx answers with a birth time").isEqualTo(3 * FILES);
        assertThat(fs.statx.get()).as("statx calls reaching MemoryFs for %d files asked 3 times each", FILES)
                .isEqualTo(FILES);
    }

    @Test
    void withoutBirthTimesTheKernelStopsAskingAfterOneAnswer() {
        Counting fs = (Counting) without.fileSystem();
        assertThat(birthTimesSeen(without)).as("statx answers with a birth time").isZero();
        assertThat(fs.statx.get()).as("statx calls reaching MemoryFs (one ENOSYS, then the kernel stops asking)")
                .isEqualTo(1);
    }
}
