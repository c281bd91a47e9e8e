package io.fuseguard.engine;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.PassthroughStatus;
import io.fuseguard.testkit.BackedDirFs;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * FUSE passthrough on the real kernel: a filesystem that names backing files gets reads, writes and mmap served
 * by the kernel from them (none reaches the daemon), one backing id per file however many opens share it, closed
 * at the last release (the source filesystem can then be unmounted: the kernel holds nothing of it), and the
 * kernel's one-mode-per-file rule kept (a backed open of a file open without passthrough falls back).
 */
class PassthroughTest {
    private Path src;
    private Path mp;
    private Path tmpfs;

    @BeforeEach
    void setUp() throws IOException {
        Edges.assumeFuseAndRoot();
        src = Edges.newDir("pt-src-");
        mp = Edges.newDir("pt-mnt-");
    }

    @AfterEach
    void cleanUp() throws Exception {
        Edges.forceUnmount(mp);
        if (tmpfs != null && Edges.mountAt(tmpfs).isPresent()) {
            Child.run(Duration.ofSeconds(10), "umount", "-l", tmpfs.toString());
        }
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private static FuseguardConfig config(String name) {
        // FileChannels close when their thread is interrupted: a handler is never interrupted here
        return FuseguardConfig.builder().fsName(name).shutdownHook(false).interruptStalledHandlers(false).build();
    }

    private static String sha256(byte[] b) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(b));
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void readsWritesAndMmapOfBackedFilesNeverReachTheDaemon() throws Exception {
        byte[] content = random(1 << 20, 1);
        Files.write(src.resolve("f"), content);
        BackedDirFs fs = new BackedDirFs(src);
        try (FuseMount m = FuseMount.mount(fs, mp, config("pt-io"))) {
            assertThat(m.passthrough().state()).isEqualTo("on");
            assertThat(m.protocol().used()).contains("passthrough");

            assertThat(Files.readAllBytes(mp.resolve("f"))).isEqualTo(content);
            byte[] patch = random(8192, 2);
            try (FileChannel ch = FileChannel.open(mp.resolve("f"), StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(patch), 4096);
            }
            System.arraycopy(patch, 0, content, 4096, patch.length);
            assertThat(Files.readAllBytes(src.resolve("f"))).as("the write landed in the backing file")
                    .isEqualTo(content);
            // mmap in a process that ends: a JVM's mapping lives until a garbage collection
            String sum = Child.runOk(Edges.python(), "-c", "import hashlib, mmap, sys\n"
                    + "with open(sys.argv[1], 'rb') as f:\n"
                    + "    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
                    + "    print(hashlib.sha256(m).hexdigest())", mp.resolve("f").toString()).trim();
            assertThat(sum).as("mmap of a backed file").isEqualTo(sha256(content));
            byte[] created = random(65536, 3);
            Files.write(mp.resolve("g"), created);
            assertThat(Files.readAllBytes(src.resolve("g"))).as("a created file is backed too").isEqualTo(created);

            assertThat(fs.reads.get()).as("READ requests that reached the filesystem").isZero();
            assertThat(fs.writes.get()).as("WRITE requests that reached the filesystem").isZero();
            PassthroughStatus st = m.passthrough();
            System.out.println("passthrough: " + st);
            assertThat(st.backedOpens()).as("opens answered with a backing file: read, write, mmap, create")
                    .isEqualTo(4);
            assertThat(st.fallbackOpens()).isZero();
            await().atMost(Duration.ofSeconds(5)).until(() -> m.passthrough().openBackingIds() == 0
                    && fs.openChannels() == 0);
        }
    }

    @Test
    void concurrentOpensOfAFileShareOneBackingIdClosedAtTheLastRelease() throws Exception {
        Files.write(src.resolve("f"), random(4096, 4));
        BackedDirFs fs = new BackedDirFs(src);
        try (FuseMount m = FuseMount.mount(fs, mp, config("pt-share"))) {
            FileChannel a = FileChannel.open(mp.resolve("f"), StandardOpenOption.READ);
            FileChannel b = FileChannel.open(mp.resolve("f"), StandardOpenOption.READ, StandardOpenOption.WRITE);
            try {
                assertThat(m.passthrough().backedOpens()).isEqualTo(2);
                assertThat(m.passthrough().openBackingIds()).as("one id for the file").isEqualTo(1);
                b.write(ByteBuffer.wrap(new byte[] {42}), 0);
                ByteBuffer one = ByteBuffer.allocate(1);
                a.read(one, 0);
                assertThat(one.get(0)).as("both opens see the one backing file").isEqualTo((byte) 42);
                a.close();
                Thread.sleep(200); // its RELEASE arrives: the other backed open still needs the id
                assertThat(m.passthrough().openBackingIds()).isEqualTo(1);
            } finally {
                a.close();
                b.close();
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> m.passthrough().openBackingIds() == 0);
            assertThat(fs.reads.get() + fs.writes.get()).isZero();
        }
    }

    @Test
    void afterTheLastReleaseTheKernelHoldsNothingOfTheSourceFilesystem() throws Exception {
        tmpfs = Edges.newDir("pt-tmpfs-");
        Child.runOk("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", tmpfs.toString());
        Files.write(tmpfs.resolve("f"), random(65536, 5));
        BackedDirFs fs = new BackedDirFs(tmpfs);
        try (FuseMount m = FuseMount.mount(fs, mp, config("pt-release"))) {
            for (int i = 0; i < 20; i++) {
                assertThat(Files.readAllBytes(mp.resolve("f"))).hasSize(65536);
            }
            try (FileChannel held = FileChannel.open(mp.resolve("f"), StandardOpenOption.READ)) {
                assertThat(held.size()).isEqualTo(65536);
                assertThat(m.passthrough().openBackingIds()).isEqualTo(1);
            }
            await().atMost(Duration.ofSeconds(5)).until(() -> m.passthrough().openBackingIds() == 0
                    && fs.openChannels() == 0);
            assertThat(m.passthrough().backedOpens()).isEqualTo(21);
            // A backing id still registered would hold a reference to the tmpfs file: umount would say busy.
            Child.Result r = Child.run(Duration.ofSeconds(10), "umount", tmpfs.toString());
            assertThat(r.exit()).as("umount of the source while the FUSE mount lives: " + r.err()).isZero();
        }
    }

    @Test
    void aBackedOpenOfAFileOpenWithoutPassthroughFallsBackAndUnbackedOpensOfABackedFileAreRefused()
            throws Exception {
        byte[] content = random(16384, 6);
        Files.write(src.resolve("f"), content);
        BackedDirFs fs = new BackedDirFs(src);
        try (FuseMount m = FuseMount.mount(fs, mp, config("pt-modes"))) {
            fs.backs = p -> false;
            try (FileChannel plain = FileChannel.open(mp.resolve("f"), StandardOpenOption.READ)) {
                fs.backs = p -> true;
                try (FileChannel other = FileChannel.open(mp.resolve("f"), StandardOpenOption.READ)) {
                    ByteBuffer b = ByteBuffer.allocate(content.length);
                    while (b.hasRemaining() && other.read(b, b.position()) > 0) {
                        // reads until full
                    }
                    assertThat(b.array()).isEqualTo(content);
                }
                assertThat(plain.size()).isEqualTo(content.length);
            }
            assertThat(m.passthrough().fallbackOpens()).as("the backed open of a file open without").isEqualTo(1);
            assertThat(m.passthrough().backedOpens()).isZero();
            assertThat(fs.reads.get()).as("its reads reached the filesystem").isPositive();

            await().atMost(Duration.ofSeconds(5)).until(() -> fs.openChannels() == 0);
            long readsBefore = fs.reads.get();
            try (FileChannel backed = FileChannel.open(mp.resolve("f"), StandardOpenOption.READ)) {
                assertThat(m.passthrough().backedOpens()).as("once closed, the file is backed again").isEqualTo(1);
                fs.backs = p -> false;
                assertThatThrownBy(() -> FileChannel.open(mp.resolve("f"), StandardOpenOption.READ).close())
                        .as("the kernel refuses an open without a backing file while one is backed")
                        .isInstanceOf(IOException.class);
                assertThat(backed.read(ByteBuffer.allocate(100), 0)).isEqualTo(100);
            }
            assertThat(fs.reads.get()).isEqualTo(readsBefore);
        }
    }

    @Test
    void aWritableBackedOpenCountsAsWrittenSoFsyncRunsItsFlushFirst() throws Exception {
        Files.write(src.resolve("f"), new byte[10]);
        AtomicLong flushes = new AtomicLong();
        BackedDirFs fs = new BackedDirFs(src) {
            @Override
            public void flush(String path, long fh) {
                flushes.incrementAndGet();
            }
        };
        try (FuseMount m = FuseMount.mount(fs, mp, config("pt-flush"))) {
            try (FileChannel ch = FileChannel.open(mp.resolve("f"), StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3}), 0);
                assertThat(flushes.get()).isZero();
                ch.force(true);
                assertThat(flushes.get()).as("fsync ran the flush of what the kernel wrote").isEqualTo(1);
            }
            Thread.sleep(300); // the release: flushed since, nothing more to flush
            assertThat(flushes.get()).isEqualTo(1);
            assertThat(fs.writes.get()).as("the write went to the backing file").isZero();
            assertThat(m.passthrough().backedOpens()).isEqualTo(1);
        }
    }

    @Test
    void passthroughFalseServesEverythingThroughTheFilesystem() throws Exception {
        byte[] content = random(65536, 7);
        Files.write(src.resolve("f"), content);
        BackedDirFs fs = new BackedDirFs(src);
        try (FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("pt-off").shutdownHook(false)
                .interruptStalledHandlers(false).passthrough(false).build())) {
            assertThat(Files.readAllBytes(mp.resolve("f"))).isEqualTo(content);
            assertThat(m.passthrough().state()).startsWith("off");
            assertThat(m.protocol().used()).doesNotContain("passthrough");
            assertThat(fs.asked.get()).as("backingFile is never asked").isZero();
            assertThat(fs.reads.get()).isPositive();
        }
    }
}
