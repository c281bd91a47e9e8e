package io.fuseguard.examples.memory;

import io.fuseguard.junit.FuseMountExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static io.fuseguard.examples.memory.MountedFsSupport.run;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Limits through the kernel: a 4 MiB filesystem with 20 inodes and files of at most 10 MiB. */
class MemoryFsCapacityTest {
    private static final long CAPACITY = 4L << 20;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(
            () -> MemoryFs.builder().capacity(CAPACITY).maxInodes(20).maxFileSize(10L << 20).build(),
            MountedFsSupport.config());

    private Path mnt(String name) {
        return fuse.mountPoint().resolve(name);
    }

    private String freeBlocks() {
        return run("stat", "-f", "-c", "%f", fuse.mountPoint().toString()).assertOk().out().trim();
    }

    @Test
    void writesFailWithEnospcWhenFullAndSucceedAgainAfterDeleting() throws Exception {
        Path f = mnt("filler");
        MountedFsSupport.Result dd = run("dd", "if=/dev/zero", "of=" + f, "bs=1M", "count=8", "status=none");
        assertThat(dd.exit()).isNotZero();
        assertThat(dd.err()).contains("No space left on device");
        assertThat(Files.size(f)).isLessThanOrEqualTo(CAPACITY).isGreaterThan(CAPACITY / 2);
        assertThat(freeBlocks()).isEqualTo("0");
        // Full means full for everybody: another file cannot get a byte either.
        // (Not through dash's echo: it reports every write error as "I/O error".)
        assertThatThrownBy(() -> Files.writeString(mnt("more"), "x")).isInstanceOf(IOException.class)
                .hasMessageContaining("No space left on device");
        MountedFsSupport.Result small = run("dd", "if=/dev/zero", "of=" + mnt("small"), "bs=2", "count=1",
                "status=none");
        assertThat(small.err()).contains("No space left on device");
        assertThat(Files.size(mnt("small"))).isZero();

        run("rm", f.toString()).assertOk();
        assertThat(freeBlocks()).isEqualTo(String.valueOf(CAPACITY / 4096));
        run("dd", "if=/dev/zero", "of=" + f, "bs=1M", "count=3", "status=none").assertOk();
        assertThat(Files.size(f)).isEqualTo(3L << 20);
    }

    @Test
    void truncatingUpIsSparseAndNeverRunsOutOfSpace() throws Exception {
        Path f = mnt("sparse");
        run("truncate", "-s", "8M", f.toString()).assertOk(); // twice the capacity: a hole costs nothing
        assertThat(Files.size(f)).isEqualTo(8L << 20);
        assertThat(freeBlocks()).isEqualTo(String.valueOf(CAPACITY / 4096));
    }

    @Test
    void fallocateReservesSpaceSoWritesIntoItCannotRunOut() throws Exception {
        Path f = mnt("reserved");
        MountedFsSupport.Result tooBig = run("fallocate", "-l", "8M", f.toString());
        assertThat(tooBig.err()).contains("No space left on device");
        run("fallocate", "-l", "3M", f.toString()).assertOk();
        assertThat(Files.size(f)).isEqualTo(3L << 20);
        assertThat(freeBlocks()).isEqualTo(String.valueOf((CAPACITY - (3L << 20)) / 4096));
        // The rest of the capacity goes to another file...
        MountedFsSupport.Result filler = run("dd", "if=/dev/zero", "of=" + mnt("filler"), "bs=1M", "count=8",
                "status=none");
        assertThat(filler.err()).contains("No space left on device");
        // ...and writing the reserved range still succeeds.
        run("dd", "if=/dev/urandom", "of=" + f, "bs=1M", "count=3", "conv=notrunc", "status=none").assertOk();
        // A punched hole gives its space back.
        run("rm", mnt("filler").toString()).assertOk();
        run("fallocate", "--punch-hole", "--offset", "0", "--length", "2M", f.toString()).assertOk();
        assertThat(Files.size(f)).isEqualTo(3L << 20);
        assertThat(freeBlocks()).isEqualTo(String.valueOf((CAPACITY - (1L << 20)) / 4096));
    }

    @Test
    void filesBeyondTheMaximumSizeGetEfbig() throws Exception {
        Path f = mnt("big");
        MountedFsSupport.Result t = run("truncate", "-s", "11M", f.toString());
        assertThat(t.exit()).isNotZero();
        assertThat(t.err()).contains("File too large");
        MountedFsSupport.Result dd = run("dd", "if=/dev/zero", "of=" + f, "bs=4096", "count=1",
                "seek=" + (10 * 256), "status=none");
        assertThat(dd.err()).contains("File too large");
        assertThat(Files.size(f)).isEqualTo(10L << 20);
    }

    @Test
    void inodeLimitGivesEnospc() throws Exception {
        int created = 0;
        for (int i = 0; i < 25; i++) {
            MountedFsSupport.Result r = run("touch", mnt("f" + i).toString());
            if (r.exit() != 0) {
                assertThat(r.err()).contains("No space left on device");
                break;
            }
            created++;
        }
        assertThat(created).isEqualTo(19); // 20 inodes, one is the root
        assertThat(run("stat", "-f", "-c", "%c %d", fuse.mountPoint().toString()).assertOk().out().trim())
                .isEqualTo("20 0");
        run("rm", mnt("f0").toString()).assertOk();
        run("mkdir", mnt("dir").toString()).assertOk();
    }
}
