package io.fuseguard.examples.upload;

import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * A file known only to the backend is fetched in the background on its first open, through the kernel: with a
 * 300 ms METADATA deadline the open of a 64 MiB file streamed at 32 MiB/s (2 s) succeeds at once, the first
 * bytes are read long before the whole file is there, getattr shows the backend's size meanwhile, two opens
 * share one download, the content is intact, and a download failing midway is EIO on read and retried by the
 * next open.
 */
class CachedUploadFsProgressiveFetchTest {
    static final int SIZE = 64 << 20;
    static final long RATE = 32L << 20; // bytes per second
    static final Duration METADATA_DEADLINE = Duration.ofMillis(300);

    final Path work = createWork();
    final ThrottledBackend backend = new ThrottledBackend(newBackend(work.resolve("backend")));
    CachedUploadFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false)
            .deadline(OperationKind.METADATA, METADATA_DEADLINE)
            .deadline(OperationKind.DATA, Duration.ofSeconds(10)).fsName("upload-fetch-test").build());

    private static Path createWork() {
        return FuseTestSupport.newTempDir("upload-fetch-", "rwx------");
    }

    private static DirectoryBackend newBackend(Path dir) {
        try {
            return new DirectoryBackend(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private CachedUploadFs newFs() {
        try {
            fs = new CachedUploadFs(work.resolve("cache"), backend);
            return fs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        if (fs != null) {
            fs.close();
        }
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(20, TimeUnit.SECONDS);
    }

    private byte[] storeBig(String path) throws IOException {
        byte[] content = new byte[SIZE];
        new Random(7).nextBytes(content);
        backend.delegate.put(path, new java.io.ByteArrayInputStream(content), content.length);
        return content;
    }

    private static String sha256(byte[] b, int off, int len) throws Exception {
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        d.update(b, off, len);
        return HexFormat.of().formatHex(d.digest());
    }

    @Test
    void openReturnsAtOnceAndReadsGetTheirBytesBeforeTheWholeFileArrived() throws Exception {
        byte[] content = storeBig("/big.bin");
        Path f = fuse.mountPoint().resolve("big.bin");
        long t0 = System.nanoTime();
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ);
             FileChannel second = FileChannel.open(f, StandardOpenOption.READ)) {
            long openMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertThat(Files.size(f)).as("getattr during the download: the backend's size").isEqualTo(SIZE);
            ByteBuffer first = ByteBuffer.allocate(4096);
            ch.read(first, 0);
            long firstMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertThat(fs.isCached("/big.bin")).as("cached when the first bytes were read").isFalse();
            assertThat(first.array()).isEqualTo(java.util.Arrays.copyOf(content, 4096));

            String sum = Child.runOk("sha256sum", f.toString()).split(" ")[0];
            long wholeMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            ByteBuffer tail = ByteBuffer.allocate(1 << 20);
            second.read(tail, SIZE - (1 << 20));
            System.out.printf("backend-only file of 64 MiB at 32 MiB/s, METADATA deadline %d ms: open %d ms, "
                    + "first 4 KiB after %d ms, whole file read (sha256sum) after %d ms%n",
                    METADATA_DEADLINE.toMillis(), openMs, firstMs, wholeMs);
            assertThat(openMs).isLessThan(METADATA_DEADLINE.toMillis());
            assertThat(firstMs).isLessThan(1000); // the whole transfer takes 2 s
            assertThat(sum).isEqualTo(sha256(content, 0, SIZE));
            assertThat(tail.array()).isEqualTo(java.util.Arrays.copyOfRange(content, SIZE - (1 << 20), SIZE));
        }
        assertThat(backend.gets.get()).as("one download for both opens and the sha256sum").isEqualTo(1);
        // every byte was read; the download still flushes the file to disk before it renames it into the cache
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.isCached("/big.bin"));
        assertThat(Files.list(work.resolve("cache/tmp")).count()).as("temp files left").isZero();
    }

    @Test
    void aDownloadFailingMidwayIsEioOnReadAndTheNextOpenRetries() throws Exception {
        byte[] content = storeBig("/flaky.bin");
        Path f = fuse.mountPoint().resolve("flaky.bin");
        backend.failAfter.set(8 << 20);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate(4096);
            ch.read(head, 0);
            assertThat(head.array()).isEqualTo(java.util.Arrays.copyOf(content, 4096));
            ByteBuffer late = ByteBuffer.allocate(4096);
            assertThatThrownBy(() -> ch.read(late, 32L << 20)).isInstanceOf(IOException.class)
                    .hasMessageContaining("Input/output error");
        }
        assertThat(fs.isCached("/flaky.bin")).isFalse();
        backend.failAfter.set(Long.MAX_VALUE);
        String sum = Child.runOk("sha256sum", f.toString()).split(" ")[0];
        assertThat(sum).isEqualTo(sha256(content, 0, SIZE));
        assertThat(backend.gets.get()).isEqualTo(2);
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.isCached("/flaky.bin"));
        assertThat(Files.list(work.resolve("cache/tmp")).count()).as("temp files left").isZero();
    }

    @Test
    void aWriteToAFileStillDownloadingWaitsForTheWholeFile() throws Exception {
        byte[] content = storeBig("/edit.bin");
        Path f = fuse.mountPoint().resolve("edit.bin");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("EDIT".getBytes()), 10);
        }
        System.arraycopy("EDIT".getBytes(), 0, content, 10, 4);
        fs.awaitIdle(Duration.ofSeconds(20));
        assertThat(sha256(Files.readAllBytes(backend.delegate.root().resolve("edit.bin")), 0, SIZE))
                .isEqualTo(sha256(content, 0, SIZE));
    }

    /** A backend whose downloads stream at {@link #RATE} and can fail after some bytes. */
    static final class ThrottledBackend implements Backend {
        final DirectoryBackend delegate;
        final AtomicInteger gets = new AtomicInteger();
        final AtomicLong failAfter = new AtomicLong(Long.MAX_VALUE);

        ThrottledBackend(DirectoryBackend delegate) {
            this.delegate = delegate;
        }

        @Override
        public InputStream get(String path) throws IOException {
            gets.incrementAndGet();
            long fail = failAfter.get();
            return new FilterInputStream(delegate.get(path)) {
                final long start = System.nanoTime();
                long sent;

                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    if (sent >= fail) {
                        throw new IOException("connection reset (injected)");
                    }
                    int n = super.read(b, off, (int) Math.min(Math.min(len, 64 << 10), fail - sent));
                    if (n > 0) {
                        sent += n;
                        long due = start + sent * 1_000_000_000L / RATE;
                        long wait = due - System.nanoTime();
                        if (wait > 0) {
                            try {
                                TimeUnit.NANOSECONDS.sleep(wait);
                            } catch (InterruptedException e) {
                                Thread.currentThread().interrupt();
                                throw new java.io.InterruptedIOException();
                            }
                        }
                    }
                    return n;
                }

                @Override
                public int read() throws IOException {
                    byte[] one = new byte[1];
                    return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
                }
            };
        }

        @Override
        public void put(String path, InputStream data, long size) throws IOException {
            delegate.put(path, data, size);
        }

        @Override
        public List<BackendEntry> list(String dir) throws IOException {
            return delegate.list(dir);
        }

        @Override
        public void delete(String path) throws IOException {
            delegate.delete(path);
        }

        @Override
        public Optional<BackendEntry> stat(String path) throws IOException {
            return delegate.stat(path);
        }
    }
}
