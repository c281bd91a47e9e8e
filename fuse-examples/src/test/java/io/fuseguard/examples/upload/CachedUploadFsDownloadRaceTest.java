package io.fuseguard.examples.upload;

import io.fuseguard.api.OpenFlags;
import org.junit.jupiter.api.AfterEach;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Races of the progressive download, in process (after review 2): a truncate or O_TRUNC open racing an open that
 * starts a download keeps the open's writes; a download whose install is skipped fails its handles' writes with
 * ESTALE; an unlinked download nobody has open stops streaming and leaves no temp file; close() stops the
 * fetchers and the cache refuses installs after it; at most {@link UnionView#FETCHERS} transfers run at once.
 */
class CachedUploadFsDownloadRaceTest {
    final Path work;
    final SlowBackend backend;
    CachedUploadFs fs;

    CachedUploadFsDownloadRaceTest() throws IOException {
        work = Files.createTempDirectory("dl-race-");
        backend = new SlowBackend(new DirectoryBackend(work.resolve("backend")));
    }

    @AfterEach
    void tearDown() throws Exception {
        backend.stop.set(true);
        if (fs != null) fs.close();
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(20, TimeUnit.SECONDS);
    }

    static final class SlowBackend implements Backend {
        final DirectoryBackend d;
        final AtomicLong streamed = new AtomicLong();
        final AtomicBoolean stop = new AtomicBoolean();
        volatile long rate = 4L << 20;
        volatile CountDownLatch statGate; // blocks stat() on threads named "gated"
        final CountDownLatch inStat = new CountDownLatch(1);
        SlowBackend(DirectoryBackend d) { this.d = d; }
        public void put(String p, InputStream in, long s) throws IOException { d.put(p, in, s); }
        public List<BackendEntry> list(String p) throws IOException { return d.list(p); }
        public void delete(String p) throws IOException { d.delete(p); }
        public Optional<BackendEntry> stat(String p) throws IOException {
            if (Thread.currentThread().getName().equals("gated") && statGate != null) {
                inStat.countDown();
                try { statGate.await(); } catch (InterruptedException e) { throw new IOException(e); }
            }
            return d.stat(p);
        }
        /** Serve from memory: a stream that ignores interrupts, like a socket's, and fails only once closed. */
        volatile boolean uninterruptible;

        public InputStream get(String p) throws IOException {
            InputStream src = d.get(p);
            if (uninterruptible) {
                byte[] all;
                try (InputStream raw = src) {
                    all = raw.readAllBytes();
                }
                src = new ByteArrayInputStream(all) {
                    volatile boolean closed;
                    @Override public synchronized int read(byte[] b, int off, int len) {
                        if (closed) throw new java.io.UncheckedIOException(new IOException("stream closed"));
                        return super.read(b, off, len);
                    }
                    @Override public void close() { closed = true; }
                };
            }
            return new FilterInputStream(src) {
                final long start = System.nanoTime(); long sent;
                @Override public int read(byte[] b, int off, int len) throws IOException {
                    if (stop.get()) throw new IOException("stopped by test");
                    int n = super.read(b, off, Math.min(len, 64 << 10));
                    if (n > 0) {
                        sent += n; streamed.addAndGet(n);
                        long due = start + sent * 1_000_000_000L / rate;
                        while (System.nanoTime() < due) LockSupport.parkNanos(due - System.nanoTime()); // like a socket read: ignores interrupts
                    }
                    return n;
                }
            };
        }
    }

    byte[] store(String p, int size) throws IOException {
        byte[] c = new byte[size];
        new java.util.Random(1).nextBytes(c);
        backend.d.put(p, new ByteArrayInputStream(c), c.length);
        return c;
    }

    static final int O_RDONLY = 0;
    static final int O_RDWR = 2;
    static final int O_TRUNC = 01000;

    private String readAll(String p) throws IOException {
        long fh = fs.open(p, OpenFlags.of(O_RDONLY));
        try {
            ByteBuffer buf = ByteBuffer.allocate(8 << 20);
            long off = 0;
            for (int n; (n = fs.read(p, fh, buf, off)) > 0; ) {
                off += n;
            }
            return new String(buf.array(), 0, (int) off, StandardCharsets.ISO_8859_1);
        } finally {
            fs.release(p, fh, OpenFlags.of(O_RDONLY));
        }
    }

    private static long fetchThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(x -> x.getName().startsWith("upload-fetch-") && x.isAlive()).count();
    }

    /** The reviewer's repro: the truncate's backend stat lets an open start a download first. */
    private void raceAgainstAnOpen(ThrowingRunnable cut) throws Exception {
        store("/f", 2 << 20);
        fs = new CachedUploadFs(work.resolve("cache"), backend);
        backend.statGate = new CountDownLatch(1);
        AtomicReferenceHolder failure = new AtomicReferenceHolder();
        Thread t = new Thread(() -> {
            try {
                cut.run();
            } catch (Throwable e) {
                failure.t = e;
            }
        }, "gated");
        t.start();
        assertThat(backend.inStat.await(5, TimeUnit.SECONDS)).isTrue();
        long fh = fs.open("/f", OpenFlags.of(O_RDWR)); // starts the download
        backend.statGate.countDown();
        t.join(10_000);
        assertThat(failure.t).isNull();
        int n = fs.write("/f", fh, ByteBuffer.wrap("HELLO".getBytes(StandardCharsets.US_ASCII)), 0);
        assertThat(n).isEqualTo(5);
        fs.release("/f", fh, OpenFlags.of(O_RDWR));
        String content = readAll("/f");
        assertThat(content.length()).as("the truncate ran before the write, which must be in the file").isEqualTo(5);
        assertThat(content).isEqualTo("HELLO");
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    static final class AtomicReferenceHolder {
        volatile Throwable t;
    }

    @Test
    void aTruncateRacingAnOpenThatStartsADownloadKeepsTheOpensWrites() throws Exception {
        raceAgainstAnOpen(() -> fs.truncate("/f", 0));
    }

    @Test
    void anOpenWithOTruncRacingAnOpenThatStartsADownloadKeepsTheOpensWrites() throws Exception {
        raceAgainstAnOpen(() -> {
            long fh = fs.open("/f", OpenFlags.of(O_RDWR | O_TRUNC));
            fs.release("/f", fh, OpenFlags.of(O_RDWR | O_TRUNC));
        });
    }

    @Test
    void aDownloadWhosePathGotAnotherCacheFileFailsItsWritesWithEstale() throws Exception {
        store("/f", 2 << 20);
        fs = new CachedUploadFs(work.resolve("cache"), backend);
        long fh = fs.open("/f", OpenFlags.of(O_RDWR)); // download under way (0.5 s)
        long fh2 = fs.create("/f", 0644, OpenFlags.of(O_RDWR)); // e.g. a create after a stale lookup
        fs.write("/f", fh2, ByteBuffer.wrap("NEW".getBytes(StandardCharsets.US_ASCII)), 0);
        fs.release("/f", fh2, OpenFlags.of(O_RDWR));
        assertThatThrownBy(() -> fs.write("/f", fh, ByteBuffer.wrap("LOST".getBytes(StandardCharsets.US_ASCII)), 0))
                .isInstanceOfSatisfying(ErrnoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.ESTALE));
        fs.release("/f", fh, OpenFlags.of(O_RDWR));
        assertThat(readAll("/f")).isEqualTo("NEW");
    }

    @Test
    void anUnlinkedDownloadNobodyHasOpenStopsAndLeavesNoTempFile() throws Exception {
        store("/big", 32 << 20);
        fs = new CachedUploadFs(work.resolve("cache"), backend);
        long fh = fs.open("/big", OpenFlags.of(O_RDONLY));
        fs.release("/big", fh, OpenFlags.of(O_RDONLY));
        fs.unlink("/big");
        await().atMost(Duration.ofSeconds(5)).until(() -> fetchThreads() == 0 || idle());
        long a = backend.streamed.get();
        Thread.sleep(700);
        assertThat(backend.streamed.get()).as("no more bytes streamed").isEqualTo(a);
        try (var s = Files.list(work.resolve("cache/tmp"))) {
            assertThat(s.count()).as("temp file deleted").isZero();
        }
        assertThat(a).isLessThan(32 << 20);
    }

    private boolean idle() {
        long a = backend.streamed.get();
        LockSupport.parkNanos(100_000_000L);
        return backend.streamed.get() == a;
    }

    @Test
    void anUnlinkedDownloadStillOpenIsReadToTheEnd() throws Exception {
        byte[] c = store("/f", 2 << 20);
        fs = new CachedUploadFs(work.resolve("cache"), backend);
        long fh = fs.open("/f", OpenFlags.of(O_RDONLY));
        fs.unlink("/f");
        ByteBuffer buf = ByteBuffer.allocate(c.length);
        long off = 0;
        for (int n; (n = fs.read("/f", fh, buf, off)) > 0; ) {
            off += n;
        }
        fs.release("/f", fh, OpenFlags.of(O_RDONLY));
        assertThat(Arrays.equals(buf.array(), c)).as("the unlinked file's content, whole").isTrue();
        assertThat(fs.isCached("/f")).isFalse();
    }

    @Test
    void closeStopsTheFetchersAndWaitsForThem() throws Exception {
        store("/big", 32 << 20);
        fs = new CachedUploadFs(work.resolve("cache"), backend);
        fs.open("/big", OpenFlags.of(O_RDONLY));
        Thread.sleep(300);
        long t0 = System.nanoTime();
        fs.close();
        long ms = (System.nanoTime() - t0) / 1_000_000;
        fs = null;
        assertThat(fetchThreads()).as("fetchers ended within close()").isZero();
        long a = backend.streamed.get();
        Thread.sleep(500);
        assertThat(backend.streamed.get()).isEqualTo(a);
        assertThat(ms).isLessThan(2500);
    }

    @Test
    void closeStopsAFetchWhoseStreamIgnoresInterrupts() throws Exception {
        backend.uninterruptible = true;
        closeStopsTheFetchersAndWaitsForThem();
    }

    @Test
    void theCacheRefusesAnInstallAfterClose() throws Exception {
        CacheDir cache = CacheDir.open(work.resolve("c2"));
        Path tmp = cache.newDownload();
        Files.createFile(tmp);
        cache.close();
        assertThatThrownBy(() -> cache.install(tmp, "/x"))
                .isInstanceOfSatisfying(ErrnoException.class, e -> assertThat(e.errno()).isEqualTo(Errno.EIO));
    }

    @Test
    void atMostEightTransfersRunAtOnceAndQueuedOnesComplete() throws Exception {
        int files = 40;
        byte[][] c = new byte[files][];
        for (int i = 0; i < files; i++) {
            c[i] = store("/f" + i, 256 << 10);
        }
        fs = new CachedUploadFs(work.resolve("cache"), backend);
        backend.rate = 1L << 20;
        for (int i = 0; i < files; i++) {
            long fh = fs.open("/f" + i, OpenFlags.of(O_RDONLY));
            fs.release("/f" + i, fh, OpenFlags.of(O_RDONLY));
        }
        Thread.sleep(200);
        assertThat(fetchThreads()).isLessThanOrEqualTo(UnionView.FETCHERS);
        backend.rate = 64L << 20;
        String last = readAll("/f" + (files - 1)); // queued behind the others: waits, then reads
        assertThat(last.getBytes(StandardCharsets.ISO_8859_1)).isEqualTo(c[files - 1]);
        for (int i = 0; i < files; i++) {
            int k = i;
            await().atMost(Duration.ofSeconds(10)).until(() -> fs.isCached("/f" + k));
        }
    }

    @Test
    void opensRacingTheInstallNeverSeeEnoent() throws Exception {
        backend.rate = 1L << 40;
        fs = new CachedUploadFs(work.resolve("cache"), backend);
        for (int round = 0; round < 60; round++) {
            String p = "/r" + round;
            store(p, 64 << 10);
            CountDownLatch go = new CountDownLatch(1);
            AtomicReferenceHolder failure = new AtomicReferenceHolder();
            Thread[] ts = new Thread[4];
            for (int i = 0; i < ts.length; i++) {
                ts[i] = new Thread(() -> {
                    try {
                        go.await();
                        for (int k = 0; k < 20; k++) {
                            long fh = fs.open(p, OpenFlags.of(O_RDONLY));
                            fs.release(p, fh, OpenFlags.of(O_RDONLY));
                        }
                    } catch (Throwable e) {
                        failure.t = e;
                    }
                });
                ts[i].start();
            }
            go.countDown();
            for (Thread t : ts) {
                t.join(10_000);
            }
            assertThat(failure.t).as("round " + round).isNull();
        }
    }
}
