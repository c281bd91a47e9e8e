package io.fuseguard.engine;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.Operation;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * copy_file_range reaches the filesystem with the offsets and length the caller gave, and on a kernel with FUSE
 * 7.45 (Linux 6.18) a copy of more than 4 GiB is one request (COPY_FILE_RANGE_64), where the 32-bit form stops
 * each request below 4 GiB.
 */
class CopyFileRangeTest {
    private static final long SIZE = 6L << 30;

    @TempDir
    Path mp;

    /** Two 6 GiB files whose copies are only counted: the filesystem says it copied what it was asked. */
    static final class CountingFs implements FuseFileSystem {
        final List<long[]> copies = new CopyOnWriteArrayList<>();

        @Override
        public FileAttributes getattr(String path) {
            return switch (path) {
                case "/" -> FileAttributes.builder(FileType.DIRECTORY).build();
                case "/a", "/b" -> FileAttributes.builder(FileType.REGULAR).size(SIZE).blocks(0).build();
                default -> throw new ErrnoException(Errno.ENOENT);
            };
        }

        @Override
        public long copyFileRange(String pathIn, long fhIn, long offsetIn, String pathOut, long fhOut,
                                  long offsetOut, long length, int flags) {
            copies.add(new long[] {offsetIn, offsetOut, length});
            return Math.min(length, SIZE - offsetIn);
        }
    }

    @Test
    void aCopyReachesTheFilesystemWithItsOffsetsAndLengthAndOver4GiBInOneRequest() throws Exception {
        FuseAvailability.assumeUsable();
        CountingFs fs = new CountingFs();
        try (FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().shutdownHook(false).build())) {
            String out = Child.run(Duration.ofSeconds(20), "python3", "-c", """
                    import os, sys
                    i = os.open(sys.argv[1] + "/a", os.O_RDONLY)
                    o = os.open(sys.argv[1] + "/b", os.O_WRONLY)
                    print(os.copy_file_range(i, o, 1000, 4096, 8192))
                    print(os.copy_file_range(i, o, 5 << 30, 0, 0))
                    """, mp.toString()).assertOk().out();
            List<String> lines = out.lines().toList();
            assertThat(fs.copies.get(0)).containsExactly(4096, 8192, 1000);
            assertThat(lines.get(0)).isEqualTo("1000");
            if (m.protocol().minor() >= 45) {
                assertThat(lines.get(1)).as("one call").isEqualTo(String.valueOf(5L << 30));
                assertThat(fs.copies).hasSize(2);
                assertThat(fs.copies.get(1)[2]).isEqualTo(5L << 30);
            } else {
                assertThat(Long.parseLong(lines.get(1))).isLessThan(1L << 32);
            }
            assertThat(m.metrics().requests(Operation.COPY_FILE_RANGE)).isEqualTo(fs.copies.size());
        }
    }
}
