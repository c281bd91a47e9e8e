package io.fuseguard.examples.upload;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * A {@link Backend} kept in a directory of the local disk, with fault injection for drills and benchmarks:
 * latency on every call, uploads that stall until released (or interrupted), and failures.
 *
 * <pre>{@code
 * DirectoryBackend backend = new DirectoryBackend(Path.of("/srv/backend"));
 * backend.faults().latency(Duration.ofMillis(50)).stallUploads(true);   // a slow, then hung, store
 * backend.faults().stallUploads(false).failNext(3);                      // 3 failed puts/deletes, then fine
 * }</pre>
 *
 * <p>A put writes to a temp file under {@value #INCOMING} (never listed) and renames it into place, so readers
 * never see half a file. A stalled put stalls after writing its first chunk: the temp file is the visible
 * sign of an upload in flight. Temp files left by a killed process are removed when a backend is created.
 */
public final class DirectoryBackend implements Backend {
    /** Name of the top-level directory holding uploads in progress. */
    public static final String INCOMING = ".incoming";
    private static final int CHUNK = 64 * 1024;
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    private final Path root;
    private final Path incoming;
    private final Faults faults = new Faults();
    private final AtomicLong puts = new AtomicLong();
    /** Serialises directory creation (puts) with the pruning of empty directories (deletes). */
    private final Object structure = new Object();

    /** A backend storing files under {@code root} (created if missing). */
    public DirectoryBackend(Path root) throws IOException {
        Files.createDirectories(root);
        this.root = root.toRealPath();
        this.incoming = this.root.resolve(INCOMING);
        Files.createDirectories(incoming);
        try (Stream<Path> s = Files.list(incoming)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** The directory holding the stored files. */
    public Path root() {
        return root;
    }

    /** The fault injector, configurable at any time from any thread. */
    public Faults faults() {
        return faults;
    }

    /** Puts completed since creation. */
    public long completedPuts() {
        return puts.get();
    }

    /** Uploads in progress right now (temp files under {@value #INCOMING}). */
    public int uploadsInFlight() {
        try (Stream<Path> s = Files.list(incoming)) {
            return (int) s.count();
        } catch (IOException e) {
            return 0;
        }
    }

    /** The host file holding {@code path}. */
    public Path fileOf(String path) {
        if (path.equals("/")) {
            return root;
        }
        if (!path.startsWith("/")) {
            throw new IllegalArgumentException("not absolute: " + path);
        }
        Path p = root;
        for (String c : path.substring(1).split("/", -1)) {
            if (c.isEmpty() || c.equals(".") || c.equals("..")) {
                throw new IllegalArgumentException("bad path: " + path);
            }
            p = p.resolve(c);
        }
        if (p.getNameCount() > root.getNameCount() && p.getName(root.getNameCount()).toString().equals(INCOMING)) {
            throw new IllegalArgumentException("reserved name: " + path);
        }
        return p;
    }

    @Override
    public void put(String path, InputStream data, long size) throws IOException {
        faults.beforePut();
        Path target = fileOf(path);
        Path tmp = incoming.resolve(UUID.randomUUID() + ".part");
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                 OutputStream out = java.nio.channels.Channels.newOutputStream(ch)) {
                byte[] buf = new byte[CHUNK];
                long copied = 0;
                boolean stallChecked = false;
                int n;
                while ((n = data.read(buf)) >= 0) {
                    out.write(buf, 0, n);
                    copied += n;
                    if (!stallChecked) {
                        out.flush();
                        faults.stallPoint(); // the first chunk is on disk: the upload is visibly in flight
                        stallChecked = true;
                    }
                    if (Thread.currentThread().isInterrupted()) {
                        throw new InterruptedIOException("upload of " + path + " interrupted");
                    }
                }
                if (!stallChecked) {
                    faults.stallPoint();
                }
                if (copied != size) {
                    throw new IOException("short upload of " + path + ": " + copied + " of " + size + " bytes");
                }
                ch.force(true);
            }
            synchronized (structure) { // a concurrent delete must not prune the parent in between
                Files.createDirectories(target.getParent());
                if (Files.isDirectory(target, NOFOLLOW)) {
                    throw new IOException("is a directory in the backend: " + path);
                }
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
            done = true;
            puts.incrementAndGet();
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    @Override
    public InputStream get(String path) throws IOException {
        faults.before(false);
        Path p = fileOf(path);
        if (Files.isDirectory(p, NOFOLLOW)) {
            throw new IOException("is a directory: " + path);
        }
        return Files.newInputStream(p, NOFOLLOW);
    }

    @Override
    public List<BackendEntry> list(String dir) throws IOException {
        faults.before(false);
        Path d = fileOf(dir);
        List<BackendEntry> out = new ArrayList<>();
        if (!Files.isDirectory(d, NOFOLLOW)) {
            return out;
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(d)) {
            for (Path c : s) {
                if (c.equals(incoming)) {
                    continue;
                }
                entryOf(c).ifPresent(out::add);
            }
        } catch (NoSuchFileException e) {
            return out;
        }
        out.sort(Comparator.comparing(BackendEntry::name));
        return out;
    }

    @Override
    public void delete(String path) throws IOException {
        faults.before(true);
        Path p = fileOf(path);
        if (p.equals(root)) {
            return;
        }
        synchronized (structure) {
            try {
                Files.deleteIfExists(p);
            } catch (DirectoryNotEmptyException e) {
                throw new IOException("directory not empty in the backend: " + path, e);
            }
            // Directories are implicit: drop parents that became empty.
            for (Path parent = p.getParent(); parent != null && !parent.equals(root);
                 parent = parent.getParent()) {
                try {
                    Files.delete(parent);
                } catch (IOException e) {
                    break;
                }
            }
        }
    }

    @Override
    public Optional<BackendEntry> stat(String path) throws IOException {
        faults.before(false);
        return entryOf(fileOf(path));
    }

    private Optional<BackendEntry> entryOf(Path p) throws IOException {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(p, BasicFileAttributes.class, NOFOLLOW);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        String name = p.equals(root) ? "/" : p.getFileName().toString();
        if (a.isDirectory()) {
            return Optional.of(new BackendEntry(name, true, 0, a.lastModifiedTime().toInstant()));
        }
        if (a.isRegularFile()) {
            return Optional.of(new BackendEntry(name, false, a.size(), a.lastModifiedTime().toInstant()));
        }
        return Optional.empty();
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
