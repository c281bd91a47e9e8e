package io.fuseguard.mount;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.time.Instant;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link FuseMount#inProcess()}: every operation's value comes back to the caller, and its errno as an
 * {@link ErrnoException}, and what it did is what the kernel's side sees.
 */
class InProcessAccessTest {
    @TempDir
    Path mp;

    @Test
    void valuesAndErrorsComeBackThroughTheSameTable() throws Exception {
        FuseAvailability.assumeUsable();
        try (FuseMount m = FuseMount.mount(new SmallFs(), mp, FuseguardConfig.builder().shutdownHook(false)
                .build())) {
            FuseFileSystem fs = m.inProcess();

            long fh = fs.create("/a", 0640, OpenFlags.of(01 | 0100));
            byte[] text = "in-process".getBytes(StandardCharsets.UTF_8);
            assertThat(fs.write("/a", fh, ByteBuffer.wrap(text), 0)).isEqualTo(text.length);
            fs.release("/a", fh, OpenFlags.of(01));
            assertThat(Files.readString(mp.resolve("a"))).as("seen by the kernel's side").isEqualTo("in-process");

            long rfh = fs.open("/a", OpenFlags.of(0));
            ByteBuffer dst = ByteBuffer.allocate(64);
            assertThat(fs.read("/a", rfh, dst, 3)).isEqualTo(text.length - 3);
            assertThat(new String(dst.array(), 0, dst.position(), StandardCharsets.UTF_8)).isEqualTo("process");
            assertThat(fs.read("/a", rfh, ByteBuffer.allocate(8), 100)).as("end of file").isZero();
            fs.release("/a", rfh, OpenFlags.of(0));

            assertThat(fs.getattr("/a").size()).isEqualTo(text.length);
            assertThat(fs.getattr("/a").permissions()).isEqualTo(0640);
            fs.chmod("/a", 0600);
            assertThat(java.nio.file.attribute.PosixFilePermissions.toString(
                    Files.getPosixFilePermissions(mp.resolve("a")))).isEqualTo("rw-------");
            fs.utimens("/a", Optional.empty(), Optional.of(Instant.ofEpochSecond(1_000_000, 5)));
            assertThat(fs.getattr("/a").mtime()).isEqualTo(Instant.ofEpochSecond(1_000_000, 5));

            fs.symlink("a", "/link");
            assertThat(fs.readlink("/link")).isEqualTo("a");
            fs.mkdir("/d", 0755);
            fs.rename("/a", "/d/b");
            List<String> names = new ArrayList<>();
            fs.readdir("/d", new DirectorySink() {
                @Override
                public void add(String name) {
                    names.add(name);
                }

                @Override
                public void add(String name, io.fuseguard.api.FileAttributes attributes) {
                    names.add(name);
                }
            });
            assertThat(names).contains("b");
            assertThat(fs.getattr("/d").type()).isEqualTo(FileType.DIRECTORY);
            assertThat(fs.statfs("/").blockSize()).isPositive();

            assertThatThrownBy(() -> fs.getattr("/a")).isInstanceOfSatisfying(ErrnoException.class,
                    e -> assertThat(e.errno()).isEqualTo(Errno.ENOENT));
            assertThatThrownBy(() -> fs.rmdir("/d")).isInstanceOfSatisfying(ErrnoException.class,
                    e -> assertThat(e.errno()).isEqualTo(Errno.ENOTEMPTY));
            fs.unlink("/d/b");
            fs.rmdir("/d");
            assertThat(Files.exists(mp.resolve("d"))).isFalse();
        }
    }

    /** A filesystem whose open of {@code /slow} outlives its deadline, then succeeds. */
    static final class SlowOpenFs extends SmallFs {
        final java.util.List<Long> released = new java.util.concurrent.CopyOnWriteArrayList<>();

        SlowOpenFs() {
            withFile("/slow", new byte[1]);
        }

        @Override
        public synchronized long open(String path, OpenFlags flags) {
            if (path.equals("/slow")) {
                long end = System.nanoTime() + 400_000_000L;
                while (System.nanoTime() < end) {
                    Thread.onSpinWait(); // deaf to the interrupt, as a blocking native call would be
                }
                return 4242;
            }
            return super.open(path, flags);
        }

        @Override
        public void release(String path, long fh, OpenFlags flags) {
            released.add(fh);
        }
    }

    @Test
    void aHandleOpenedAfterTheCallerGaveUpIsReleased() throws Exception {
        FuseAvailability.assumeUsable();
        SlowOpenFs slow = new SlowOpenFs();
        try (FuseMount m = FuseMount.mount(slow, mp, FuseguardConfig.builder().shutdownHook(false)
                .deadline(io.fuseguard.api.OperationKind.METADATA, java.time.Duration.ofMillis(100)).build())) {
            assertThatThrownBy(() -> m.inProcess().open("/slow", OpenFlags.of(0)))
                    .isInstanceOfSatisfying(ErrnoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.EIO));
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                    .until(() -> slow.released.contains(4242L));
        }
    }

    /** statx (with the birth time) and lseek's SEEK_DATA/SEEK_HOLE reach the filesystem in process too. */
    @Test
    void birthTimeAndHolesInProcess() throws Exception {
        FuseAvailability.assumeUsable();
        io.fuseguard.examples.memory.MemoryFs memory = new io.fuseguard.examples.memory.MemoryFs();
        try (FuseMount m = FuseMount.mount(memory, mp, FuseguardConfig.builder().shutdownHook(false).build())) {
            FuseFileSystem fs = m.inProcess();
            long fh = fs.create("/s", 0644, OpenFlags.of(02 | 0100));
            fs.write("/s", fh, ByteBuffer.wrap(new byte[4096]), 1 << 20);
            assertThat(fs.lseek("/s", fh, 0, io.fuseguard.api.SeekWhence.DATA)).isEqualTo(1 << 20);
            assertThat(fs.lseek("/s", fh, 0, io.fuseguard.api.SeekWhence.HOLE)).isZero();
            fs.release("/s", fh, OpenFlags.of(02));
            assertThat(fs.statx("/s").birthTime()).isEqualTo(memory.statx("/s").birthTime()).isNotNull();
        }
    }
}
