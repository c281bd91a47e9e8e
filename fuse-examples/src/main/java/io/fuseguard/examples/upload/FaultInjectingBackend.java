package io.fuseguard.examples.upload;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A {@link Backend} decorator that injects faults into any backend, for drills, benchmarks and tests: latency on
 * every call, uploads that stall until released (or interrupted), and failures.
 *
 * <pre>{@code
 * FaultInjectingBackend backend = new FaultInjectingBackend(new DirectoryBackend(Path.of("/srv/backend")));
 * backend.faults().latency(Duration.ofMillis(50)).stallUploads(true);   // a slow, then hung, store
 * backend.faults().stallUploads(false).failNext(3);                      // 3 failed puts/deletes, then fine
 * }</pre>
 *
 * <p>A stalled put stalls after the wrapped backend consumed the first chunk of the data: the upload has begun
 * and is visibly in flight, as with a store that stops answering mid-transfer (a {@link DirectoryBackend} has
 * its temp file, an {@link S3Backend} its multipart upload; a single-part S3 upload reads the file whole before
 * it sends, so it stalls before its request). {@link #close()} closes the wrapped
 * backend.
 */
public final class FaultInjectingBackend implements Backend {
    /** Most bytes handed to the wrapped backend before a stalled put blocks. */
    static final int FIRST_CHUNK = 64 * 1024;

    private final Backend delegate;
    private final Faults faults = new Faults();

    /** Injects faults into {@code delegate}; no fault is set until configured through {@link #faults()}. */
    public FaultInjectingBackend(Backend delegate) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
    }

    /** The backend faults are injected into. */
    public Backend delegate() {
        return delegate;
    }

    /** The fault injector, configurable at any time from any thread. */
    public Faults faults() {
        return faults;
    }

    @Override
    public void put(String path, InputStream data, long size) throws IOException {
        faults.beforePut();
        delegate.put(path, new StallingStream(data, size), size);
    }

    /** Positional puts get the same faults, and stall at the same point: after the first chunk. */
    @Override
    public void putSparse(String path, SparseContent content) throws IOException {
        faults.beforePut();
        if (content.size() <= 0) {
            faults.stallPoint(); // nothing will be read: an empty upload stalls before it starts
        }
        delegate.putSparse(path, new StallingContent(content));
    }

    @Override
    public InputStream get(String path) throws IOException {
        faults.before(false);
        return delegate.get(path);
    }

    @Override
    public List<BackendEntry> list(String dir) throws IOException {
        faults.before(false);
        return delegate.list(dir);
    }

    @Override
    public void delete(String path) throws IOException {
        faults.before(true);
        delegate.delete(path);
    }

    @Override
    public Optional<BackendEntry> stat(String path) throws IOException {
        faults.before(false);
        return delegate.stat(path);
    }

    @Override
    public int maxPathLength() {
        return delegate.maxPathLength();
    }

    @Override
    public boolean reserves(String path) {
        return delegate.reserves(path);
    }

    @Override
    public void close() throws IOException {
        delegate.close();
    }

    @Override
    public String toString() {
        return "faults(" + delegate + ")";
    }

    /**
     * The data of one put. The first read hands over at most {@link #FIRST_CHUNK} bytes and, when the data is
     * larger than one byte, holds back at least one: the consumer must come back for more, and that second read
     * is the stall point, after the first chunk went out. An empty upload stalls at its first read.
     */
    private final class StallingStream extends FilterInputStream {
        private final long size;
        private long delivered;
        private boolean stallChecked;

        StallingStream(InputStream in, long size) {
            super(in);
            this.size = size;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (len == 0) {
                return 0;
            }
            if (!stallChecked && (delivered > 0 || size <= 0)) {
                stallChecked = true;
                faults.stallPoint();
            }
            if (Thread.currentThread().isInterrupted()) {
                throw new InterruptedIOException("upload interrupted");
            }
            int want = len;
            if (!stallChecked) {
                want = (int) Math.min(Math.min(len, FIRST_CHUNK), Math.max(1, size - 1));
            }
            int n = super.read(b, off, want);
            if (n > 0) {
                delivered += n;
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            // Skipping would bypass the stall point; the backends never skip upload data.
            throw new IOException("skip is not supported on upload data");
        }

        @Override
        public boolean markSupported() {
            return false;
        }
    }

    /** The content of one positional put, stalling at its second read as {@link StallingStream} does. */
    private final class StallingContent implements SparseContent {
        private final SparseContent content;
        private long delivered;
        private boolean stallChecked;

        StallingContent(SparseContent content) {
            this.content = content;
        }

        @Override
        public long size() {
            return content.size();
        }

        @Override
        public List<Extent> extents() throws IOException {
            return content.extents();
        }

        @Override
        public int read(java.nio.ByteBuffer dst, long position) throws IOException {
            if (!stallChecked && delivered > 0) {
                stallChecked = true;
                faults.stallPoint();
            }
            if (Thread.currentThread().isInterrupted()) {
                throw new InterruptedIOException("upload interrupted");
            }
            java.nio.ByteBuffer part = dst;
            if (!stallChecked) { // hold back at least one byte: the consumer must come back for more
                int want = (int) Math.min(Math.min(dst.remaining(), FIRST_CHUNK), Math.max(1, size() - 1));
                part = dst.duplicate().limit(dst.position() + want);
            }
            int n = content.read(part, position);
            if (part != dst) {
                dst.position(part.position());
            }
            if (n > 0) {
                delivered += n;
            }
            return n;
        }

        @Override
        public InputStream stream() throws IOException {
            return new StallingStream(content.stream(), content.size());
        }
    }

    /** Injected faults. All settings apply from the next call on (a stall release wakes stalled uploads). */
    public static final class Faults {
        private volatile Duration latency = Duration.ZERO;
        private volatile boolean failAll;
        private volatile boolean failUploads;
        private final AtomicInteger failNext = new AtomicInteger();
        private final AtomicInteger stalled = new AtomicInteger();
        private final AtomicLong injectedFailures = new AtomicLong();
        private boolean stallUploads; // guarded by this

        /** Delay before every backend call (interruptible). */
        public Faults latency(Duration latency) {
            this.latency = latency == null ? Duration.ZERO : latency;
            return this;
        }

        /**
         * While true, every put blocks after its first chunk until this is set false again or the uploading
         * thread is interrupted (then the put fails with {@link InterruptedIOException}).
         */
        public Faults stallUploads(boolean stall) {
            synchronized (this) {
                this.stallUploads = stall;
                notifyAll();
            }
            return this;
        }

        /** The next {@code n} puts or deletes fail with an {@link IOException}. */
        public Faults failNext(int n) {
            failNext.set(n);
            return this;
        }

        /** While true, every put fails (the store refuses writes; reads, listings and deletes still work). */
        public Faults failUploads(boolean fail) {
            this.failUploads = fail;
            return this;
        }

        /** While true, every call fails (the store is down). */
        public Faults failAll(boolean fail) {
            this.failAll = fail;
            return this;
        }

        /** Clears every fault (and releases stalled uploads). */
        public Faults reset() {
            latency(Duration.ZERO).failNext(0).failAll(false).failUploads(false);
            return stallUploads(false);
        }

        /** Uploads blocked in a stall right now. */
        public int stalledUploads() {
            return stalled.get();
        }

        /** Failures injected so far. */
        public long injectedFailures() {
            return injectedFailures.get();
        }

        void beforePut() throws IOException {
            before(true);
            if (failUploads) {
                injectedFailures.incrementAndGet();
                throw new IOException("injected failure: uploads refused");
            }
        }

        void before(boolean mutation) throws IOException {
            Duration l = latency;
            if (!l.isZero()) {
                try {
                    Thread.sleep(l.toMillis(), l.toNanosPart() % 1_000_000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted during injected latency");
                }
            }
            if (failAll) {
                injectedFailures.incrementAndGet();
                throw new IOException("injected failure: backend down");
            }
            if (mutation && failNext.getAndUpdate(n -> n > 0 ? n - 1 : 0) > 0) {
                injectedFailures.incrementAndGet();
                throw new IOException("injected failure");
            }
        }

        void stallPoint() throws InterruptedIOException {
            synchronized (this) {
                if (!stallUploads) {
                    return;
                }
                stalled.incrementAndGet();
                try {
                    while (stallUploads) {
                        wait();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("stalled upload interrupted");
                } finally {
                    stalled.decrementAndGet();
                }
            }
        }
    }
}
