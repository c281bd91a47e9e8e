package io.fuseguard.engine;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.OperationKind;
import io.fuseguard.kernel.ConnectionReport;
import io.fuseguard.kernel.ConnectionStatus;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.DelegatingFs;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The kernel's fast paths besides passthrough, on the real kernel: READDIRPLUS (listings carry the entries, so
 * {@code ls -l} needs no LOOKUP per file), the writeback cache (writes merged by the kernel; the daemon's own
 * writable opens refused), and 1 MiB requests ({@code max_pages}).
 */
class FastPathsTest {
    private Path mp;

    @BeforeEach
    void setUp() throws IOException {
        Edges.assumeFuseAndRoot();
        mp = Edges.newDir("fast-");
    }

    @AfterEach
    void cleanUp() {
        Edges.forceUnmount(mp);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    /** A SmallFs that lists attributes with its entries and counts the getattr calls (LOOKUPs) of its files. */
    static final class ListingFs extends SmallFs {
        final AtomicInteger fileGetattrs = new AtomicInteger();

        @Override
        public synchronized FileAttributes getattr(String path) {
            if (path.startsWith("/f")) {
                fileGetattrs.incrementAndGet();
            }
            return super.getattr(path);
        }

        @Override
        public synchronized void readdir(String path, DirectorySink sink) {
            super.readdir(path, new DirectorySink() {
                @Override
                public void add(String name) {
                    String p = path.equals("/") ? "/" + name : path + "/" + name;
                    sink.add(name, ListingFs.super.getattr(p));
                }

                @Override
                public void add(String name, FileAttributes attributes) {
                    sink.add(name, attributes);
                }
            });
        }
    }

    private static ListingFs files(int n) {
        ListingFs fs = new ListingFs();
        for (int i = 0; i < n; i++) {
            fs.withFile("/f" + i, new byte[i]);
        }
        return fs;
    }

    @Test
    void withReaddirplusLsMinusLNeedsNoLookupPerFile() throws Exception {
        int n = 200;
        ListingFs plus = files(n);
        String listed;
        try (FuseMount m = FuseMount.mount(plus, mp, FuseguardConfig.builder().fsName("rdplus").shutdownHook(false)
                .readdirPlus(true).build())) {
            assertThat(m.protocol().used()).contains("readdirplus", "readdirplus_auto");
            listed = Child.runOk("ls", "-ln", "--time-style=+", mp.toString());
        }
        System.out.printf("ls -l of %d files with readdirplus: %d LOOKUPs%n", n, plus.fileGetattrs.get());
        assertThat(plus.fileGetattrs.get()).as("entries came with the listing").isZero();

        ListingFs plain = files(n);
        String control;
        try (FuseMount m = FuseMount.mount(plain, mp, FuseguardConfig.builder().fsName("rdplain").shutdownHook(false)
                .build())) {
            assertThat(m.protocol().used()).doesNotContain("readdirplus");
            control = Child.runOk("ls", "-ln", "--time-style=+", mp.toString());
        }
        System.out.printf("ls -l of %d files without: %d LOOKUPs%n", n, plain.fileGetattrs.get());
        assertThat(plain.fileGetattrs.get()).as("one LOOKUP per file without readdirplus").isGreaterThanOrEqualTo(n);
        assertThat(listed).as("the same listing, sizes and modes included").isEqualTo(control);
    }

    @Test
    void withCloneFdEachRequestThreadReadsItsOwnCloneAndEveryAnswerFindsItsWay() throws Exception {
        byte[] content = new byte[256 << 10];
        new java.util.Random(3).nextBytes(content);
        String md5 = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("MD5")
                .digest(content)) + "  -";
        CountDownLatch release = new CountDownLatch(1);
        SmallFs small = new SmallFs().withFile("/f", content).withFile("/stall", new byte[0]);
        DelegatingFs fs = new DelegatingFs(small) {
            @Override
            public FileAttributes getattr(String path) throws IOException {
                if (path.equals("/stall")) {
                    try {
                        release.await(20, TimeUnit.SECONDS); // far past its deadline
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return super.getattr(path);
            }
        };
        try (FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("clonefd").shutdownHook(false)
                .cloneFd(true).deadline(OperationKind.METADATA, Duration.ofMillis(500)).build())) {
            ConnectionStatus st = ConnectionReport.scan().stream()
                    .filter(c -> c.id() == m.connectionId().orElseThrow()).findFirst()
                    .flatMap(ConnectionStatus::of).orElseThrow();
            assertThat(st.cloneFd()).as("the request threads read device clones").isTrue();
            // several readers at once: each request is answered through the clone it was read from
            List<Process> readers = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                readers.add(new ProcessBuilder("sh", "-c", "for i in 1 2 3 4 5 6 7 8; do cat "
                        + mp.resolve("f") + " | md5sum; done").redirectErrorStream(true).start());
            }
            for (Process p : readers) {
                String out = new String(p.getInputStream().readAllBytes());
                assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
                assertThat(out.lines().toList()).hasSize(8).containsOnly(md5);
            }
            // the watchdog answers a stalled request through the clone it came from
            long t0 = System.nanoTime();
            Child.Result stat = Child.run(Duration.ofSeconds(15), "stat", mp.resolve("stall").toString());
            long ms = (System.nanoTime() - t0) / 1_000_000;
            release.countDown();
            System.out.printf("clone_fd, %d request threads: a stalled stat answered in %d ms: %s%n",
                    m.status().threads(), ms, stat.err().trim());
            assertThat(stat.err()).contains("Input/output error");
            assertThat(ms).as("at its 500 ms deadline, not the 20 s stall").isLessThan(5000);
        }
    }

    /** A SmallFs that records the largest READ and WRITE it was asked for, and counts WRITEs. */
    static final class SizesFs extends SmallFs {
        final AtomicLong largestRead = new AtomicLong();
        final AtomicLong largestWrite = new AtomicLong();
        final AtomicInteger writes = new AtomicInteger();

        @Override
        public synchronized int read(String path, long fh, ByteBuffer dst, long offset) {
            largestRead.accumulateAndGet(dst.remaining(), Math::max);
            return super.read(path, fh, dst, offset);
        }

        @Override
        public synchronized int write(String path, long fh, ByteBuffer src, long offset) {
            largestWrite.accumulateAndGet(src.remaining(), Math::max);
            writes.incrementAndGet();
            return super.write(path, fh, src, offset);
        }
    }

    @Test
    void directOneMebibyteReadsAndWritesArriveAsOneRequestEach() throws Exception {
        SizesFs fs = new SizesFs();
        try (FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("maxpages").shutdownHook(false)
                .build())) {
            assertThat(m.config().mount().maxWrite()).isEqualTo(1 << 20);
            assertThat(m.protocol().used()).contains("max_pages");
            String f = mp.resolve("f").toString();
            Child.runOk("dd", "if=/dev/zero", "of=" + f, "bs=1M", "count=4", "oflag=direct");
            Child.runOk("dd", "if=" + f, "of=/dev/null", "bs=1M", "iflag=direct");
        }
        System.out.printf("largest WRITE %d bytes, largest READ %d bytes%n", fs.largestWrite.get(),
                fs.largestRead.get());
        assertThat(fs.largestWrite.get()).isEqualTo(1 << 20);
        assertThat(fs.largestRead.get()).isEqualTo(1 << 20);
        assertThat(fs.writes.get()).as("4 MiB in 1 MiB requests").isEqualTo(4);
    }

    @Test
    void theWritebackCacheMergesWritesAndRefusesTheDaemonsOwnWritableOpens() throws Exception {
        SizesFs fs = new SizesFs();
        fs.withFile("/mine", "daemon's\n".getBytes());
        try (FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("writeback").shutdownHook(false)
                .writebackCache(true).build())) {
            assertThat(m.protocol().used()).contains("writeback_cache").doesNotContain("passthrough");
            String f = mp.resolve("f").toString();
            Child.runOk("dd", "if=/dev/zero", "of=" + f, "bs=4k", "count=256"); // 1 MiB in 4 KiB write(2)s
            assertThat(Files.size(mp.resolve("f"))).isEqualTo(1 << 20);
            System.out.printf("1 MiB written in 4 KiB writes: %d WRITE requests, the largest %d bytes%n",
                    fs.writes.get(), fs.largestWrite.get());
            assertThat(fs.largestWrite.get()).as("the kernel merged the 4 KiB writes").isGreaterThan(4096);
            assertThat(fs.writes.get()).isLessThan(256);

            assertThat(Files.readString(mp.resolve("mine"))).as("the daemon may read its own files")
                    .isEqualTo("daemon's\n");
            assertThatThrownBy(() -> Files.newOutputStream(mp.resolve("mine"), StandardOpenOption.APPEND).close())
                    .as("but not open them for writing: dirty pages of its own would keep it from exiting")
                    .isInstanceOf(IOException.class).hasMessageContaining("deadlock");
        }
    }
}
