package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.examples.host.HostFiles;
import io.fuseguard.examples.host.HostStat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Predicate;

/**
 * The backend side of a {@link CachedUploadFs}: what the backend still has to be told (the {@link Journal}'s
 * entries, mirrored in memory), the uploader threads that tell it, retries with exponential backoff, parking
 * after the last attempt, and {@link #uploadNow} for {@code fsync}.
 *
 * <p>Every path has at most one backend operation running; a change while it runs marks the path to run again.
 * An entry leaves the journal only when the backend confirmed the operation and the path did not change
 * meanwhile (its journal version and its change mark are the same as when the operation started).
 */
final class Uploader implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Uploader.class);

    /** A path's operation taken on by one thread: the entry it carries out and the change mark it started at. */
    private record Claim(String path, Journal.Entry entry, long mark) {
    }

    /** How a backend operation ended: a failure, or a cache file gone before it could be read. */
    private record Outcome(IOException failure, boolean vanished) {
        static final Outcome DONE = new Outcome(null, false);
        static final Outcome VANISHED = new Outcome(null, true);
    }

    private final Backend backend;
    private final CacheDir cache;
    private final Journal journal;
    private final CachedUploadFs.Settings settings;
    private final StateLock lock;
    private final Predicate<String> hasWriters;
    private final ScheduledThreadPoolExecutor threads;
    private final AtomicLong versions = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();

    // guarded by lock
    private final Map<String, Journal.Entry> pending = new HashMap<>();
    private final Map<String, Long> changeMarks = new HashMap<>();
    private final Map<String, Integer> attempts = new HashMap<>();
    private final Set<String> running = new HashSet<>();
    private final Set<String> rerun = new HashSet<>();
    private final Set<String> parked = new HashSet<>();
    private long lastMark;
    private boolean closed;

    /**
     * An uploader whose threads read cache files from {@code cache}; {@code hasWriters} tells (under the lock)
     * whether a path is still open for writing, in which case its last release schedules the upload.
     */
    Uploader(Backend backend, CacheDir cache, Journal journal, CachedUploadFs.Settings settings, StateLock lock,
             Predicate<String> hasWriters) {
        this.backend = backend;
        this.cache = cache;
        this.journal = journal;
        this.settings = settings;
        this.lock = lock;
        this.hasWriters = hasWriters;
        AtomicInteger n = new AtomicInteger();
        this.threads = new ScheduledThreadPoolExecutor(settings.uploaderThreads(), r -> {
            Thread t = new Thread(r, "fuseguard-uploader-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        this.threads.setRemoveOnCancelPolicy(true);
    }

    /** Loads the journal a previous run left and schedules every entry again. */
    void replay() throws IOException {
        List<Journal.Entry> replay = journal.load();
        long maxVersion = 0;
        try (StateLock.Held h = lock.hold()) {
            for (Journal.Entry e : replay) {
                pending.put(e.path(), e);
                maxVersion = Math.max(maxVersion, e.version());
            }
        }
        versions.set(Math.max(maxVersion + 1, System.currentTimeMillis()));
        if (!replay.isEmpty()) {
            LOG.info("Journal replay: {} pending backend operation(s) resumed from the cache", replay.size());
        }
        for (Journal.Entry e : replay) {
            schedule(e.path());
        }
    }

    // ---------------------------------------------------------------- bookkeeping (caller holds the lock)

    /** Whether a delete of {@code path} is pending: the backend's copy is hidden. */
    boolean deletePending(String path) {
        Journal.Entry e = pending.get(path);
        return e != null && e.op() == Journal.Op.DELETE;
    }

    /** Whether an upload of {@code path} is pending: the backend does not have the cache's content. */
    boolean putPending(String path) {
        Journal.Entry e = pending.get(path);
        return e != null && e.op() == Journal.Op.PUT;
    }

    /** Commits "upload pending" for {@code path} before its content changes (nothing for a local-only path). */
    void journalPut(String path) throws IOException {
        if (UploadPaths.localOnly(path) || putPending(path)) {
            return;
        }
        Journal.Entry put = new Journal.Entry(Journal.Op.PUT, path, versions.getAndIncrement());
        journal.write(put);
        pending.put(path, put);
    }

    /** Commits "delete pending" for {@code path} (drops what a local-only path had pending). */
    void journalDelete(String path) throws IOException {
        if (UploadPaths.localOnly(path)) {
            if (pending.remove(path) != null) {
                journal.remove(path);
            }
            return;
        }
        Journal.Entry del = new Journal.Entry(Journal.Op.DELETE, path, versions.getAndIncrement());
        journal.write(del);
        pending.put(path, del);
        parked.remove(path);
        attempts.remove(path);
    }

    /** Forgets {@code path}'s entry: the backend is in line, or the entry no longer applies. */
    void dropEntry(String path) throws IOException {
        journal.remove(path);
        pending.remove(path);
    }

    /** Marks {@code path} changed: an upload running now must run again, a parked path is retried. */
    void markChanged(String path) {
        changeMarks.put(path, ++lastMark);
        parked.remove(path);
    }

    /** Forgets {@code path}'s change mark (the path was removed). */
    void forgetChanges(String path) {
        changeMarks.remove(path);
    }

    /** Carries {@code from}'s change mark over to {@code to} (a renamed file). */
    void moveChanges(String from, String to) {
        Long m = changeMarks.remove(from);
        if (m != null) {
            changeMarks.put(to, m);
        }
    }

    /** Gives {@code path} a fresh set of attempts (its last writer closed it). */
    void resetAttempts(String path) {
        attempts.remove(path);
        parked.remove(path);
    }

    // ---------------------------------------------------------------- around a change (takes the lock)

    /**
     * Commits the journal entry before a change of {@code path}'s content.
     *
     * @throws ErrnoException EIO when the journal cannot be written: the change must not happen
     */
    void beforeChange(String path) {
        try (StateLock.Held h = lock.hold()) {
            journalPut(path);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "cannot journal " + path + ": " + e.getMessage());
        }
    }

    /** Marks {@code path} changed after its content changed. */
    void afterChange(String path) {
        try (StateLock.Held h = lock.hold()) {
            markChanged(path);
        }
    }

    // ---------------------------------------------------------------- scheduling

    /** Has an uploader thread bring the backend in line with {@code path}'s entry. */
    void schedule(String path) {
        try {
            threads.execute(() -> reconcile(path, false));
        } catch (RejectedExecutionException e) {
            LOG.debug("uploader stopped; {} stays pending", path);
        }
    }

    private void scheduleLater(String path, Duration delay) {
        try {
            threads.schedule(() -> reconcile(path, false), delay.toMillis(), TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            LOG.debug("uploader stopped; {} stays pending", path);
        }
    }

    private Duration backoff(int failuresSoFar) {
        long ms = settings.initialBackoff().toMillis() << Math.min(20, failuresSoFar - 1);
        return Duration.ofMillis(Math.min(ms, settings.maxBackoff().toMillis()));
    }

    /**
     * Uploads {@code path} on the calling thread (the fsync handler's), after waiting for an upload of it
     * already running, within the request's deadline; nothing when no upload is pending.
     *
     * @throws ErrnoException EIO when the backend failed or the deadline passed (the upload stays pending)
     */
    void uploadNow(String path) {
        try (StateLock.Held h = lock.hold()) {
            if (!putPending(path)) {
                return; // the backend has this content
            }
        }
        reconcile(path, true);
    }

    /**
     * Brings the backend in line with {@code path}'s journal entry. On an uploader thread ({@code sync} false)
     * a failure is retried later; on a request thread ({@code sync}) it is thrown as EIO.
     */
    private void reconcile(String path, boolean sync) {
        Claim claim = claim(path, sync);
        if (claim == null) {
            return;
        }
        Outcome outcome = carryOut(claim.entry());
        settle(claim, outcome, sync);
        if (sync && outcome.failure() != null) {
            throw new ErrnoException(Errno.EIO, "upload of " + path + " failed: " + outcome.failure().getMessage());
        }
    }

    /** Takes on {@code path}'s operation, or returns null: done already, running elsewhere, or still written. */
    private Claim claim(String path, boolean sync) {
        try (StateLock.Held h = lock.hold()) {
            if (closed) {
                if (sync) {
                    throw new ErrnoException(Errno.EIO, "filesystem closed");
                }
                return null;
            }
            if (sync) {
                awaitNotRunning(path);
            } else if (running.contains(path)) {
                rerun.add(path); // the running thread goes again when done
                return null;
            }
            Journal.Entry e = pending.get(path);
            if (e == null || (!sync && e.op() == Journal.Op.PUT && hasWriters.test(path))) {
                return null; // done already, or the last release schedules it
            }
            running.add(path);
            return new Claim(path, e, changeMarks.getOrDefault(path, 0L));
        }
    }

    private void awaitNotRunning(String path) {
        while (running.contains(path)) {
            try {
                lock.awaitWithinDeadline();
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                throw new ErrnoException(Errno.EINTR);
            }
        }
    }

    /** Calls the backend, without the lock. */
    private Outcome carryOut(Journal.Entry e) {
        try {
            if (e.op() == Journal.Op.DELETE) {
                backend.delete(e.path());
                return Outcome.DONE;
            }
            return upload(e.path());
        } catch (IOException ex) {
            return new Outcome(ex, false);
        } catch (RuntimeException ex) {
            return new Outcome(new IOException(ex), false);
        }
    }

    private Outcome upload(String path) throws IOException {
        int fd = cache.openForUpload(path);
        if (fd < 0) {
            return Outcome.VANISHED;
        }
        // the size of the open file, so it agrees with what the stream reads even if the path is renamed
        try (InputStream data = HostFiles.inputStream(fd)) {
            backend.put(path, data, HostStat.of(fd).size());
        }
        return Outcome.DONE;
    }

    /** Records the outcome: drops the entry, retries, parks, or runs again for a change made meanwhile. */
    private void settle(Claim claim, Outcome outcome, boolean sync) {
        String path = claim.path();
        try (StateLock.Held h = lock.hold()) {
            running.remove(path);
            boolean again = rerun.remove(path);
            Journal.Entry now = pending.get(path);
            boolean changed = now == null || now.version() != claim.entry().version()
                    || changeMarks.getOrDefault(path, 0L) != claim.mark();
            try {
                if (outcome.failure() == null && outcome.vanished() && !changed) {
                    LOG.warn("Cache file of {} disappeared; dropping its pending upload", path);
                    dropEntry(path);
                } else if (outcome.failure() == null) {
                    again |= succeeded(path, changed);
                } else {
                    again = failed(claim, outcome.failure(), changed, sync, again);
                }
            } catch (java.nio.channels.ClosedByInterruptException je) {
                // Interrupted by close() (or a request's deadline): the entry stays and the next start redoes it,
                // which a backend's idempotent put makes harmless.
                LOG.info("Journal update for {} interrupted; it stays in the journal for the next start", path);
            } catch (IOException je) {
                LOG.error("Journal update for {} failed: {}", path, je.toString());
            } finally {
                lock.signalAll();
            }
            if (again && !closed) {
                schedule(path);
            }
        }
    }

    /** A confirmed operation; returns whether it must run again (the path changed meanwhile). */
    private boolean succeeded(String path, boolean changed) throws IOException {
        completed.incrementAndGet();
        resetAttempts(path);
        if (changed) {
            return true;
        }
        dropEntry(path);
        return false;
    }

    /** A failed attempt; returns whether to run again at once (else it is retried later, parked, or thrown). */
    private boolean failed(Claim claim, IOException failure, boolean changed, boolean sync, boolean again) {
        failed.incrementAndGet();
        String path = claim.path();
        if (changed) {
            attempts.remove(path);
            return true;
        }
        if (sync || closed) {
            return again; // fsync reports it; a closed uploader leaves it in the journal
        }
        int n = attempts.merge(path, 1, Integer::sum);
        if (n >= settings.maxAttempts()) {
            attempts.remove(path);
            parked.add(path);
            LOG.warn("{} of {} failed {} times ({}); kept pending until its next change, retryPending() or the "
                    + "next mount", claim.entry().op(), path, n, failure.toString());
        } else {
            Duration d = backoff(n);
            LOG.info("{} of {} failed (attempt {}/{}: {}); retrying in {} ms", claim.entry().op(), path, n,
                    settings.maxAttempts(), failure.toString(), d.toMillis());
            scheduleLater(path, d);
        }
        return false;
    }

    // ---------------------------------------------------------------- observability and control

    /** Paths whose upload or delete the backend has not confirmed yet. */
    Set<String> pendingPaths() {
        try (StateLock.Held h = lock.hold()) {
            return new TreeSet<>(pending.keySet());
        }
    }

    /** Paths that exhausted their attempts. */
    Set<String> parkedPaths() {
        try (StateLock.Held h = lock.hold()) {
            return new TreeSet<>(parked);
        }
    }

    long completedOperations() {
        return completed.get();
    }

    long failedAttempts() {
        return failed.get();
    }

    /** Waits until nothing is pending (or the timeout passed); returns whether the journal is empty. */
    boolean awaitIdle(Duration timeout) throws InterruptedException {
        long left = timeout.toNanos();
        try (StateLock.Held h = lock.hold()) {
            while (!pending.isEmpty()) {
                if (left <= 0) {
                    return false;
                }
                left = lock.awaitNanos(left);
            }
            return true;
        }
    }

    /** Schedules every pending path again, parked ones included. */
    void retryPending() {
        List<String> paths;
        try (StateLock.Held h = lock.hold()) {
            parked.clear();
            attempts.clear();
            paths = new ArrayList<>(pending.keySet());
        }
        paths.forEach(this::schedule);
    }

    /** Stops the threads; operations in flight are interrupted and stay in the journal. */
    @Override
    public void close() {
        try (StateLock.Held h = lock.hold()) {
            closed = true;
            lock.signalAll();
        }
        threads.shutdownNow();
        try {
            if (!threads.awaitTermination(5, TimeUnit.SECONDS)) {
                LOG.warn("uploader threads still busy 5 s after close (backend ignores interrupts)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
