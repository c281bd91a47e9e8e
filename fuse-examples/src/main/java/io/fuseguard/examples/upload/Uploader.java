package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.examples.upload.CrashPoints.Point;
import io.fuseguard.examples.upload.Journal.Entry;
import io.fuseguard.examples.upload.Journal.Op;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
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
 * <p>Every path has at most one backend operation running, and one queued: closes, truncates and renames of a
 * path within {@link CachedUploadFs.Settings#uploadDelay()} make one upload of its last content. A change while
 * an operation runs marks the path to run again. A change is marked before it starts and again when it is
 * done ({@link #beforeChange}, {@link #afterChange}), so an upload that overlaps it in any way is not taken
 * for the file's latest content: an entry leaves the journal only when the backend confirmed the operation and
 * the path did not change since the operation started.
 *
 * <p>A delete waits for the operations on paths below it (a directory removed by {@code rm -rf} is deleted
 * after its files); the backend's answer that a directory still holds entries it was not asked to delete ends
 * the delete (the directory stays, implied by them).
 */
final class Uploader implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Uploader.class);
    /** How often the journal is flushed while records arrive. */
    private static final long SYNC_MILLIS = 1000;
    /** How many paths a WARN about pending uploads names. */
    private static final int NAMED_PATHS = 20;

    /** A path's operation taken on by one thread: the entry it carries out and the change mark it started at. */
    private record Claim(String path, Entry entry, long mark) {
    }

    /** How a backend operation ended: a failure, or a cache file gone before it could be read. */
    private record Outcome(IOException failure, boolean vanished) {
        static final Outcome DONE = new Outcome(null, false);
        static final Outcome VANISHED = new Outcome(null, true);

        Outcome(IOException failure) {
            this(failure, false);
        }
    }

    private final Backend backend;
    private final CacheDir cache;
    private final Journal journal;
    private final CachedUploadFs.Settings settings;
    private final StateLock lock;
    private final Predicate<String> hasWriters;
    /** Ticks of the due queue, retries after a backoff, journal flushes: one thread, short tasks only. */
    private final ScheduledThreadPoolExecutor timer;
    /** The uploads and deletes themselves. */
    private final java.util.concurrent.ThreadPoolExecutor workers;
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    /** Paths whose cache file vanished, logged once each. */
    private final Set<String> vanishedLogged = java.util.concurrent.ConcurrentHashMap.newKeySet();
    /**
     * Paths whose upload was resumed from the journal at start and not changed since (guarded by lock): for them, a
     * missing cache file is an operation the stop interrupted before its cache file existed (a create), so the
     * path does not exist; for any other, it was removed from outside.
     */
    private final Set<String> replayed = new HashSet<>();

    // guarded by lock
    /** Pending entries by path, sorted so the paths below a directory are one range. */
    private final TreeMap<String, Entry> pending = new TreeMap<>();
    private final Map<String, Long> changeMarks = new HashMap<>();
    private final Map<String, Integer> attempts = new HashMap<>();
    private final Set<String> running = new HashSet<>();
    private final Set<String> rerun = new HashSet<>();
    private final Set<String> parked = new HashSet<>();
    /** A path waiting in the due queue until {@code due} (System.nanoTime); superseded ones are skipped. */
    private static final class Due {
        final String path;
        final long due;
        final long seq;
        boolean superseded;

        Due(String path, long due, long seq) {
            this.path = path;
            this.due = due;
            this.seq = seq;
        }
    }

    /**
     * Paths waiting for their upload to start, by due time: a further close of a path joins its wait. One timer
     * tick moves every path that is due to {@link #ready} and starts at most one worker task per uploader
     * thread, so a burst of closes (tar, cp) costs a few thread hand-offs per tick instead of some per file.
     */
    private final java.util.PriorityQueue<Due> dueQueue = new java.util.PriorityQueue<>(
            java.util.Comparator.<Due>comparingLong(d -> d.due).thenComparingLong(d -> d.seq));
    private final Map<String, Due> queued = new HashMap<>();
    /** Paths due, for the worker tasks to take. */
    private final java.util.ArrayDeque<String> ready = new java.util.ArrayDeque<>();
    private long dueSeq;
    /** When the next tick is armed for (System.nanoTime), or Long.MAX_VALUE when none is. */
    private long tickAt = Long.MAX_VALUE;
    private int activeWorkers;
    private long versions = 1;
    private long intents;
    private long lastMark;
    private long appendsSinceSync;
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
        this.workers = new java.util.concurrent.ThreadPoolExecutor(settings.uploaderThreads(),
                settings.uploaderThreads(), 30, TimeUnit.SECONDS, new java.util.concurrent.LinkedBlockingQueue<>(),
                r -> {
                    Thread t = new Thread(() -> {
                        lowerPriority();
                        r.run();
                    }, "fuseguard-uploader-" + n.incrementAndGet());
                    t.setDaemon(true);
                    return t;
                });
        this.workers.allowCoreThreadTimeOut(true);
        this.timer = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "fuseguard-upload-timer");
            t.setDaemon(true);
            return t;
        });
        this.timer.setRemoveOnCancelPolicy(true);
    }

    /** Nice value of the uploader threads: requests (and their fsync uploads) go first when CPUs are short. */
    static final int UPLOADER_NICE = 10;

    /**
     * Lowers the calling thread's CPU priority to {@link #UPLOADER_NICE}: on a busy machine a burst of writes
     * (tar, cp, git) is served first and the uploads catch up when it ends; on an idle one nothing changes.
     */
    private static void lowerPriority() {
        try {
            UploadLibC c = UploadLibC.get();
            if (c.setpriority(0, c.gettid(), UPLOADER_NICE) < 0) {
                LOG.debug("uploader thread keeps its priority: setpriority failed");
            }
        } catch (RuntimeException | LinkageError e) {
            LOG.debug("uploader thread keeps its priority: {}", e.toString());
        }
    }

    // ---------------------------------------------------------------- start

    /**
     * Loads the journal a previous run left, finishes what that run was in the middle of, rewrites the journal
     * with what is still pending, and schedules it:
     * <ul>
     *   <li>a rename the run stopped inside of (its intent has no outcome) is completed when the cache shows it
     *       happened (its source is gone), and rolled back, which is to say forgotten, when it did not;</li>
     *   <li>a delete whose cache entry is still there (the run stopped between journal and cache) is finished;
     *       a hidden name ({@code .fuse_hidden*}, local only) is removed from the cache;</li>
     *   <li>after a crash of the machine (another boot id, no clean stop) every cache file changed since the
     *       journal's last flush is uploaded again: its records may not have reached the disk;</li>
     *   <li>a log whose end cannot be read (a torn or damaged record) lost the records after it: every cache
     *       file changed since the last flush before the damage (all of them when none can be read) is uploaded
     *       again, with a WARN;</li>
     *   <li>a cache too full to rewrite the log in: the old log is continued ({@link Journal#resume}).</li>
     * </ul>
     */
    void replay() throws IOException {
        Journal.Replay r = journal.load();
        int resumed;
        List<String> toSchedule;
        try (StateLock.Held h = lock.hold()) {
            pending.putAll(r.entries());
            replayed.addAll(r.entries().keySet());
            versions = r.maxVersion() + 1;
            intents = r.maxIntent();
            if (r.openIntent() != null) {
                resolve(r.openIntent());
                CrashPoints.reached(Point.REPLAY_RESOLVED);
            }
            if (!r.clean() && !r.bootId().isEmpty() && !r.bootId().equals(journal.bootId())) {
                rescanChanged(r.syncedMillis(), "The machine stopped without a clean stop of this filesystem (boot "
                        + "id changed)");
            } else if (r.damaged() > 0) {
                rescanChanged(r.syncedMillis(), "The journal ends with " + r.damaged() + " unreadable byte(s) "
                        + "(damaged on disk, or torn by a crash of the machine), whose records are lost");
            }
            // the rewrite below would drop what could not be read: a copy stays for a look by hand
            Path aside = r.damaged() > 0 && r.legacy() == 0 ? journal.keepDamaged() : null;
            dropReserved();
            cleanUp();
            List<Entry> now = new ArrayList<>(pending.values());
            try {
                journal.compact(now);
                if (aside != null) {
                    LOG.warn("Journal: the damaged log is kept as {} (its unreadable records are not used)", aside);
                }
            } catch (IOException e) {
                // a full cache: no room for a second log beside the first. Continue the first one instead.
                if (aside != null) {
                    Files.deleteIfExists(aside); // the same file, about to be cut at its last readable record
                }
                try {
                    journal.resume(r, now);
                } catch (IOException again) {
                    e.addSuppressed(again);
                    throw e;
                }
                LOG.warn("Journal: no room to rewrite the journal ({}); appending to the old one instead", e
                        .getMessage());
            }
            toSchedule = new ArrayList<>(pending.keySet());
            resumed = toSchedule.size();
        }
        if (resumed > 0) {
            LOG.info("Journal replay: {} pending backend operation(s) resumed from the cache", resumed);
        }
        for (String p : toSchedule) {
            scheduleIn(p, Duration.ZERO);
        }
        timer.scheduleWithFixedDelay(this::syncJournal, SYNC_MILLIS, SYNC_MILLIS, TimeUnit.MILLISECONDS);
    }

    /** Completes (the source is gone from the cache) or rolls back (it is there) an interrupted rename. */
    private void resolve(Journal.Intent i) throws IOException {
        if (cache.exists(i.from())) {
            LOG.warn("Journal replay: the rename {} -> {} had not happened in the cache when the daemon stopped; "
                    + "both names stay as they were", i.from(), i.to());
            return;
        }
        List<String> files = new ArrayList<>();
        List<String> dirs = new ArrayList<>();
        if (i.directory()) {
            cache.walk(i.to(), files, dirs);
        } else {
            files.add("");
        }
        applyRename(i.from(), i.to(), i.directory(), files, dirs);
        LOG.warn("Journal replay: the rename {} -> {} had happened in the cache when the daemon stopped; its "
                + "backend side ({} file(s)) is completed", i.from(), i.to(), files.size());
    }

    /** Removes what the journal says must not be in the cache: hidden files, and deletes not yet done there. */
    private void cleanUp() throws IOException {
        int cleaned = 0;
        for (Entry e : new ArrayList<>(pending.values())) {
            if (e.op() == Op.LOCAL) {
                cache.deleteTree(e.path());
                pending.remove(e.path());
                cleaned++;
            } else if (e.op() == Op.DELETE && cache.exists(e.path())) {
                if (cache.deleteIfEmpty(e.path())) {
                    cleaned++;
                } else {
                    // a directory that got entries: its re-creation was not journaled; the cache wins
                    LOG.warn("Journal replay: {} was to be deleted but holds entries in the cache; kept", e.path());
                    pending.remove(e.path());
                }
            }
        }
        if (cleaned > 0) {
            LOG.info("Journal replay: {} cache entr{} removed (unlinked before the stop, or hidden names of files "
                    + "unlinked while open)", cleaned, cleaned == 1 ? "y" : "ies");
            CrashPoints.reached(Point.REPLAY_CLEANED);
        }
    }

    /**
     * Uploads again every cache file whose records may be lost: changed (ctime) since {@code syncedMillis}, the
     * last flush known to have reached the disk (0: every file). A lost record was appended after that flush,
     * and the change it announced came after it, so nothing acknowledged is missed. (A lost delete or rename is not
     * recovered: the old name shows again from the backend, which loses nothing.)
     */
    private void rescanChanged(long syncedMillis, String why) {
        long since = syncedMillis - 2000; // the kernel's coarse clock and the record's own timestamp
        List<String> changed = new ArrayList<>();
        cache.forEachFile((path, ctimeMillis) -> {
            if (ctimeMillis >= since && !UploadPaths.localOnly(path) && !backend.reserves(path)
                    && !pending.containsKey(path)) {
                changed.add(path);
            }
        });
        for (String p : changed) {
            pending.put(p, new Entry(Op.PUT, p, versions++));
        }
        LOG.warn("{}: {} cache file(s) changed since the journal's last flush{} are uploaded again", why,
                changed.size(), syncedMillis > 0 ? " (" + java.time.Instant.ofEpochMilli(syncedMillis) + ")" : "");
    }

    /**
     * Forgets entries of paths the backend keeps for itself ({@link Backend#reserves}): a cache written before
     * such names were refused may hold them; they can never be uploaded. The cache keeps them (WARN).
     */
    private void dropReserved() {
        List<String> reserved = new ArrayList<>();
        for (String p : pending.keySet()) {
            if (backend.reserves(p)) {
                reserved.add(p);
            }
        }
        if (!reserved.isEmpty()) {
            reserved.forEach(pending::remove);
            LOG.warn("Journal replay: {} pending operation(s) on names the backend reserves for itself are dropped "
                    + "(never uploadable; the cache keeps their files, hidden from the mount): {}", reserved.size(),
                    reserved.subList(0, Math.min(NAMED_PATHS, reserved.size())));
        }
    }

    // ---------------------------------------------------------------- bookkeeping (caller holds the lock)

    /** Whether a delete of {@code path} is pending: the backend's copy is hidden. */
    boolean deletePending(String path) {
        Entry e = pending.get(path);
        return e != null && e.op() == Op.DELETE;
    }

    /** Whether an upload of {@code path} is pending: the backend does not have the cache's content. */
    boolean putPending(String path) {
        Entry e = pending.get(path);
        return e != null && e.op() == Op.PUT;
    }

    /** The entry of {@code path}, or null. */
    Entry entryOf(String path) {
        return pending.get(path);
    }

    /**
     * Commits "upload pending" for {@code path} before its content changes ("local only" for a hidden name,
     * which never reaches the backend).
     */
    void recordPut(String path) throws IOException {
        if (UploadPaths.localOnly(path)) {
            recordLocal(path);
            return;
        }
        if (putPending(path)) {
            return;
        }
        set(new Entry(Op.PUT, path, versions++));
        CrashPoints.reached(Point.JOURNAL_PUT);
    }

    /** Commits "local only, remove at the next start" for a hidden name before it is created. */
    void recordLocal(String path) throws IOException {
        Entry e = pending.get(path);
        if (e != null && e.op() == Op.LOCAL) {
            return;
        }
        set(new Entry(Op.LOCAL, path, versions++));
        CrashPoints.reached(Point.JOURNAL_LOCAL);
    }

    /** Commits "delete pending" for {@code path} (forgets what a local-only path had pending). */
    void recordDelete(String path) throws IOException {
        if (UploadPaths.localOnly(path)) {
            dropEntry(path);
            return;
        }
        set(new Entry(Op.DELETE, path, versions++));
        parked.remove(path);
        attempts.remove(path);
        CrashPoints.reached(Point.JOURNAL_DELETE);
    }

    /** Puts {@code previous} back as {@code path}'s entry after the change it was replaced for failed. */
    void restore(String path, Entry previous) {
        try {
            if (previous == null) {
                dropEntry(path);
            } else {
                set(new Entry(previous.op(), path, versions++), true); // an undo: may use a full cache's reserve
            }
        } catch (IOException e) {
            LOG.error("Journal: cannot restore the entry of {} after a failed change: {}", path, e.toString());
        }
    }

    /** Forgets {@code path}'s entry: the backend is in line, or the entry no longer applies. */
    void dropEntry(String path) throws IOException {
        if (pending.containsKey(path)) {
            journal.clear(path);
            appendsSinceSync++;
            pending.remove(path);
        }
    }

    private void set(Entry e) throws IOException {
        set(e, e.op() == Op.DELETE); // a removal must be possible on a full cache
    }

    private void set(Entry e, boolean essential) throws IOException {
        journal.set(e, essential);
        appendsSinceSync++;
        pending.put(e.path(), e);
    }

    /** Marks {@code path} changed: an upload running now must run again, a parked path is retried. */
    void markChanged(String path) {
        replayed.remove(path);
        changeMarks.put(path, ++lastMark);
        parked.remove(path);
    }

    /** Forgets {@code path}'s change mark (the path was removed). */
    void forgetChanges(String path) {
        changeMarks.remove(path);
    }

    /** Gives {@code path} a fresh set of attempts (its last writer closed it). */
    void resetAttempts(String path) {
        attempts.remove(path);
        parked.remove(path);
    }

    // ---------------------------------------------------------------- renames (caller holds the lock)

    /** Appends a rename's intent, before the cache is renamed. */
    Journal.Intent renameIntent(String from, String to, boolean directory) throws IOException {
        Journal.Intent i = new Journal.Intent(++intents, from, to, directory);
        // the engine's hide of a file unlinked while open is a removal: a full cache must allow it
        journal.intent(i, !directory && UploadPaths.localOnly(to) && !UploadPaths.localOnly(from));
        appendsSinceSync++;
        CrashPoints.reached(Point.JOURNAL_RENAME_INTENT);
        return i;
    }

    /** The cache rename failed: appends that it did not happen. */
    void renameFailed(Journal.Intent i) {
        try {
            journal.failed(i.id());
            appendsSinceSync++;
        } catch (IOException e) {
            LOG.error("Journal: cannot record that the rename {} -> {} failed: {}", i.from(), i.to(), e.toString());
        }
    }

    /**
     * The cache was renamed: gives every moved path its entry (upload under the new name, delete the old one),
     * appends them as the rename's outcome, and returns the paths to schedule.
     *
     * @param files the moved files, relative to {@code from} ({@code ""} for a file rename)
     * @param dirs  the moved directories below {@code from}, relative to it
     */
    List<String> renameDone(Journal.Intent i, List<String> files, List<String> dirs) {
        List<Entry> effects = applyRename(i.from(), i.to(), i.directory(), files, dirs);
        try {
            journal.done(i.id(), effects);
            appendsSinceSync++;
        } catch (IOException e) {
            // the next start resolves the intent from the cache, which has the rename
            LOG.error("Journal: cannot record the outcome of the rename {} -> {} ({}); the next start completes it "
                    + "from the cache", i.from(), i.to(), e.toString());
        }
        CrashPoints.reached(Point.JOURNAL_RENAME_DONE);
        List<String> touched = new ArrayList<>(effects.size());
        for (Entry e : effects) {
            touched.add(e.path());
        }
        return touched;
    }

    private List<Entry> applyRename(String from, String to, boolean directory, List<String> files,
                                    List<String> dirs) {
        List<Entry> effects = new ArrayList<>(2 * files.size() + dirs.size() + 2);
        for (String rel : files) {
            String old = from + rel;
            String now = to + rel;
            Long mark = changeMarks.remove(old);
            if (mark != null) {
                changeMarks.put(now, mark);
            }
            if (UploadPaths.localOnly(now)) {
                effects.add(new Entry(Op.LOCAL, now, versions++));
            } else {
                effects.add(new Entry(Op.PUT, now, versions++));
                markChanged(now); // an upload of the name running now must run again
            }
            effects.add(UploadPaths.localOnly(old) ? new Entry(Op.CLEAR, old, 0) : new Entry(Op.DELETE, old,
                    versions++));
        }
        if (directory) {
            List<String> all = new ArrayList<>(dirs.size() + 1);
            all.add("");
            all.addAll(dirs);
            for (String rel : all) {
                String old = from + rel;
                String now = to + rel;
                effects.add(UploadPaths.localOnly(old) ? new Entry(Op.CLEAR, old, 0) : new Entry(Op.DELETE, old,
                        versions++));
                if (UploadPaths.localOnly(now)) {
                    effects.add(new Entry(Op.LOCAL, now, versions++));
                } else if (deletePending(now)) {
                    effects.add(new Entry(Op.CLEAR, now, 0)); // the name exists again
                }
            }
        }
        for (Entry e : effects) {
            if (e.op() == Op.CLEAR) {
                pending.remove(e.path());
            } else {
                pending.put(e.path(), e);
                if (e.op() == Op.DELETE) {
                    parked.remove(e.path());
                    attempts.remove(e.path());
                }
            }
        }
        return effects;
    }

    // ---------------------------------------------------------------- around a change (takes the lock)

    /**
     * Commits the journal entry before a change of {@code path}'s content and marks the path changed, so an
     * upload running now is not taken for the file's latest content.
     *
     * @throws ErrnoException ENOSPC or EIO when the journal cannot be written: the change must not happen
     */
    void beforeChange(String path) {
        try (StateLock.Held h = lock.hold()) {
            recordPut(path);
            markChanged(path);
        } catch (Journal.JournalException e) {
            throw e.asErrno(path);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "cannot journal " + path + ": " + e.getMessage());
        }
    }

    /** Marks {@code path} changed again after its content changed. */
    void afterChange(String path) {
        try (StateLock.Held h = lock.hold()) {
            markChanged(path);
        }
    }

    // ---------------------------------------------------------------- scheduling

    /**
     * Has an uploader thread bring the backend in line with {@code path}'s entry after
     * {@link CachedUploadFs.Settings#uploadDelay()}; joins an upload of the path already queued.
     */
    void schedule(String path) {
        scheduleIn(path, settings.uploadDelay());
    }

    /**
     * Queues {@code path} to start after {@code delay}; joins its wait when it is queued already (moving it
     * earlier if this delay ends sooner).
     */
    private void scheduleIn(String path, Duration delay) {
        long due = System.nanoTime() + delay.toNanos();
        try (StateLock.Held h = lock.hold()) {
            if (closed) {
                return;
            }
            Due old = queued.get(path);
            if (old != null) {
                if (old.due <= due) {
                    return;
                }
                old.superseded = true;
            }
            Due d = new Due(path, due, dueSeq++);
            queued.put(path, d);
            dueQueue.add(d);
            if (due < tickAt) {
                armTick(due);
            }
        }
    }

    /** Arms a tick of the due queue at {@code at}. Caller holds the lock. */
    private void armTick(long at) {
        tickAt = at;
        try {
            timer.schedule(this::tick, Math.max(0, at - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            LOG.debug("uploader stopped; queued paths stay pending");
        }
    }

    /** Moves the paths that are due to {@link #ready} and starts the worker tasks that take them. */
    private void tick() {
        try (StateLock.Held h = lock.hold()) {
            if (closed) {
                return;
            }
            long now = System.nanoTime();
            tickAt = Long.MAX_VALUE;
            Due d;
            while ((d = dueQueue.peek()) != null && d.due <= now) {
                dueQueue.poll();
                if (!d.superseded) {
                    queued.remove(d.path);
                    ready.add(d.path);
                }
            }
            if (d != null) {
                armTick(d.due);
            }
            while (activeWorkers < settings.uploaderThreads() && activeWorkers < ready.size()) {
                activeWorkers++;
                try {
                    workers.execute(this::work);
                } catch (RejectedExecutionException e) {
                    activeWorkers--;
                    break;
                }
            }
        }
    }

    /** A worker task: carries out ready paths until none is left. */
    private void work() {
        for (;;) {
            String path;
            try (StateLock.Held h = lock.hold()) {
                path = closed ? null : ready.poll();
                if (path == null) {
                    activeWorkers--;
                    return;
                }
            }
            try {
                reconcile(path, false);
            } catch (RuntimeException e) {
                LOG.error("uploading {} failed unexpectedly: {}", path, e.toString());
            }
        }
    }

    /** A retry after a failure: due after the backoff, unless a new close of the path asks for it sooner. */
    private void retryLater(String path, Duration delay) {
        scheduleIn(path, delay);
    }

    private Duration backoff(int failuresSoFar) {
        long ms = settings.initialBackoff().toMillis() << Math.min(20, failuresSoFar - 1);
        return Duration.ofMillis(Math.min(ms, settings.maxBackoff().toMillis()));
    }

    /**
     * Uploads the file of an open handle on the calling thread (the fsync handler's), within the request's
     * deadline: waits for an upload of it already running, then uploads unless the backend has its content
     * (no entry: a confirmed upload with no change since). A rename of the file meanwhile is followed.
     *
     * @throws ErrnoException EIO when the backend failed or the deadline passed (the upload stays pending)
     */
    void uploadNow(OpenFiles.Handle handle) {
        for (;;) {
            String path = handle.path;
            if (UploadPaths.localOnly(path)) {
                return; // unlinked while open: it has no name in the backend
            }
            try (StateLock.Held h = lock.hold()) {
                if (!handle.path.equals(path)) {
                    continue; // renamed meanwhile
                }
                if (!putPending(path)) {
                    return; // no entry: the backend confirmed this content and nothing changed since
                }
            }
            // An entry left after this (a change during the upload) came after the fsync began, which covers
            // only what was written before it; a rename during it moved the content: upload the new name too.
            reconcile(path, true);
            if (handle.path.equals(path)) {
                return;
            }
        }
    }

    /**
     * Carries out now, on the calling thread (the handler of an {@code fsync(2)} of directory {@code dir}), every
     * pending operation that changes the names in {@code dir}: the entries of its own names (a file created or
     * renamed into it is uploaded, a name unlinked or renamed out of it is deleted), and every entry below one of
     * its names when that name is to go (a directory removed or renamed away: its files' deletes first) or is not
     * in the backend yet (a directory renamed in: its files' uploads). Changes inside subdirectories that keep
     * their names are theirs to sync. Operations already running are waited for; the deepest paths go first, as
     * a directory's delete waits for what is below it.
     *
     * @throws ErrnoException EIO when the backend failed, the deadline passed, or a delete could not run
     */
    void syncDirectory(String dir) {
        String prefix = dir.equals("/") ? "/" : dir + "/";
        Map<String, Entry> snapshot = new HashMap<>();
        try (StateLock.Held h = lock.hold()) {
            for (Entry e : below(prefix).values()) {
                if (e.op() != Op.LOCAL) {
                    snapshot.put(e.path(), e);
                }
            }
        }
        List<String> due = new ArrayList<>();
        Map<String, List<String>> deeperByName = new TreeMap<>();
        for (String p : snapshot.keySet()) {
            int slash = p.indexOf('/', prefix.length());
            if (slash < 0) {
                due.add(p);
            } else {
                deeperByName.computeIfAbsent(p.substring(0, slash), k -> new ArrayList<>()).add(p);
            }
        }
        for (Map.Entry<String, List<String>> n : deeperByName.entrySet()) {
            Entry own = snapshot.get(n.getKey());
            if ((own != null && own.op() == Op.DELETE) || !backendHasDirectory(n.getKey())) {
                due.addAll(n.getValue());
            }
        }
        due.sort(java.util.Comparator.reverseOrder()); // below a directory before the directory
        for (String p : due) {
            reconcile(p, true);
        }
        try (StateLock.Held h = lock.hold()) {
            for (String p : due) {
                Entry now = pending.get(p);
                if (now != null && now.op() == Op.DELETE && now.equals(snapshot.get(p))) {
                    // not claimed: something below it is still pending (added after the snapshot)
                    throw new ErrnoException(Errno.EIO, "the delete of " + p + " waits for entries below it");
                }
            }
        }
    }

    private boolean backendHasDirectory(String path) {
        try {
            return backend.stat(path).map(BackendEntry::directory).orElse(false);
        } catch (IOException e) {
            throw new ErrnoException(Errno.EIO, "backend stat " + path + ": " + e.getMessage());
        }
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

    /**
     * Takes on {@code path}'s operation, or returns null: done already, running elsewhere, still written, local
     * only, or a delete with operations below it still pending (the last of them schedules it).
     */
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
            Entry e = pending.get(path);
            if (e == null || e.op() == Op.LOCAL
                    || (!sync && e.op() == Op.PUT && hasWriters.test(path))
                    || (e.op() == Op.DELETE && pendingBelow(path))) {
                return null;
            }
            running.add(path);
            return new Claim(path, e, changeMarks.getOrDefault(path, 0L));
        }
    }

    /** Whether an entry other than a local one is pending strictly below {@code dir}. Caller holds the lock. */
    private boolean pendingBelow(String dir) {
        String prefix = dir.equals("/") ? "/" : dir + "/";
        for (Entry e : below(prefix).values()) {
            if (e.op() != Op.LOCAL) {
                return true;
            }
        }
        return false;
    }

    private NavigableMap<String, Entry> below(String prefix) {
        // '/' + 1 == '0': every path starting with the prefix sorts before prefix-without-slash + '0'
        return pending.subMap(prefix, false, prefix.substring(0, prefix.length() - 1) + '0', false);
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
    private Outcome carryOut(Entry e) {
        try {
            if (e.op() == Op.DELETE) {
                delete(e.path());
                CrashPoints.reached(Point.BACKEND_DELETE);
                return Outcome.DONE;
            }
            Outcome o = upload(e.path());
            if (o == Outcome.DONE) {
                CrashPoints.reached(Point.BACKEND_PUT);
            }
            return o;
        } catch (IOException ex) {
            return new Outcome(ex);
        } catch (RuntimeException ex) {
            return new Outcome(new IOException(ex.toString(), ex));
        }
    }

    private void delete(String path) throws IOException {
        try {
            backend.delete(path);
        } catch (IOException failure) {
            // A directory that still holds entries nobody asked to delete (the name was used again, or the store
            // got them from elsewhere) stays: directories are implied by their entries.
            boolean holdsEntries;
            try {
                holdsEntries = backend.stat(path).map(BackendEntry::directory).orElse(false)
                        && !backend.list(path).isEmpty();
            } catch (IOException again) {
                throw failure;
            }
            if (!holdsEntries) {
                throw failure;
            }
            LOG.debug("{} still holds entries in the backend: the directory stays", path);
        }
    }

    private Outcome upload(String path) throws IOException {
        int fd = cache.openForUpload(path);
        boolean fromReplay;
        try (StateLock.Held h = lock.hold()) {
            fromReplay = replayed.contains(path);
        }
        if (fd < 0 && fromReplay) {
            return Outcome.VANISHED; // an operation the stop interrupted before its cache file existed
        }
        if (fd < 0) {
            // Every removal of a cache file by this filesystem journals a delete first (the entry then changed and
            // this outcome is moot), so this one was removed from outside: the cache directory lost or cleaned.
            // Its content is gone; the backend's copy is the last confirmed one and must stay. A failure, then:
            // fsync answers EIO, the entry stays pending (retried, then parked), nothing is deleted.
            if (vanishedLogged.size() < 1024 && vanishedLogged.add(path)) {
                LOG.error("The cache file of {} is gone without a journaled delete (removed outside the filesystem?): "
                        + "what was written since its last upload is lost; the backend keeps its last confirmed "
                        + "copy, which is not deleted", path);
            }
            return new Outcome(new IOException("its cache file is gone (removed outside the filesystem)"));
        }
        try (CacheContent content = CacheContent.of(fd)) { // closes fd
            // by position where the backend can (a DirectoryBackend: holes stay holes), else as a stream
            backend.putSparse(path, content);
        }
        return Outcome.DONE;
    }

    /** Records the outcome: drops the entry, retries, parks, or runs again for a change made meanwhile. */
    private void settle(Claim claim, Outcome outcome, boolean sync) {
        String path = claim.path();
        List<String> next = new ArrayList<>(2);
        try (StateLock.Held h = lock.hold()) {
            running.remove(path);
            boolean again = rerun.remove(path);
            Entry now = pending.get(path);
            boolean changed = now == null || now.version() != claim.entry().version()
                    || changeMarks.getOrDefault(path, 0L) != claim.mark();
            try {
                if (outcome.vanished() && !changed) {
                    // Resumed from the journal, and no cache file: a create the stop interrupted before its cache
                    // file existed (the path never came to be), or a cache file lost while the daemon was stopped.
                    // Either way there is nothing to upload, and the backend's copy, if any, is the last confirmed
                    // one (an unacknowledged create over it never happened): the entry goes, the backend stays.
                    LOG.info("Journal replay: {} has no cache file (a create the stop interrupted, or a cache file "
                            + "lost meanwhile); nothing to upload, the backend keeps what it has", path);
                    dropEntry(path);
                } else if (outcome.failure() == null && !outcome.vanished()) {
                    again |= succeeded(path, changed);
                    if (!pending.containsKey(path)) {
                        next.addAll(waitingParents(path));
                    }
                } else {
                    again = failed(claim, outcome.failure(), changed, sync, again);
                }
            } catch (IOException je) {
                LOG.error("Journal update for {} failed: {}; it stays pending", path, je.toString());
            } finally {
                lock.signalAll();
            }
            if (again && !closed) {
                // changed while it ran: once more after the upload delay, so a file written on and on is
                // uploaded once per delay, not once per write
                scheduleIn(path, settings.uploadDelay());
            }
        }
        for (String p : next) {
            scheduleIn(p, Duration.ZERO);
        }
    }

    /** The directories above {@code path} whose delete waited for it and can run now. Caller holds the lock. */
    private List<String> waitingParents(String path) {
        List<String> out = new ArrayList<>(1);
        for (String p = UploadPaths.parentOf(path); !p.equals("/"); p = UploadPaths.parentOf(p)) {
            if (deletePending(p) && !pendingBelow(p)) {
                out.add(p);
            }
        }
        return out;
    }

    /** A confirmed operation; returns whether it must run again (the path changed meanwhile). */
    private boolean succeeded(String path, boolean changed) throws IOException {
        completed.incrementAndGet();
        resetAttempts(path);
        if (changed) {
            return true;
        }
        dropEntry(path);
        CrashPoints.reached(Point.JOURNAL_CLEAR);
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
            retryLater(path, d);
        }
        return false;
    }

    // ---------------------------------------------------------------- journal upkeep

    /**
     * Flushes the journal (an fsync of a file makes every record before it durable, renames of other files
     * included). Takes no filesystem lock during the flush.
     */
    void syncJournal() {
        long t0 = System.currentTimeMillis();
        try {
            journal.sync();
            try (StateLock.Held h = lock.hold()) {
                if (closed) {
                    return;
                }
                if (appendsSinceSync > 0) {
                    appendsSinceSync = 0;
                    journal.noteSynced(t0);
                }
                if (journal.wantsCompaction()) {
                    journal.compact(new ArrayList<>(pending.values()));
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.warn("Journal flush failed: {}", e.toString());
        }
    }

    // ---------------------------------------------------------------- observability and control

    /** Paths whose upload or delete the backend has not confirmed yet. */
    Set<String> pendingPaths() {
        try (StateLock.Held h = lock.hold()) {
            return backendPending();
        }
    }

    private Set<String> backendPending() {
        Set<String> out = new TreeSet<>();
        for (Entry e : pending.values()) {
            if (e.op() != Op.LOCAL) {
                out.add(e.path());
            }
        }
        return out;
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

    /** Waits until no upload or delete is pending (or the timeout passed); returns whether none is. */
    boolean awaitIdle(Duration timeout) throws InterruptedException {
        long left = timeout.toNanos();
        try (StateLock.Held h = lock.hold()) {
            while (!backendPending().isEmpty()) {
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
        paths.forEach(p -> scheduleIn(p, Duration.ZERO));
    }

    /**
     * Stops the threads (operations in flight are interrupted and stay in the journal), records the clean stop
     * and names at WARN what is left pending for the next start.
     */
    @Override
    public void close() {
        try (StateLock.Held h = lock.hold()) {
            closed = true;
            lock.signalAll();
        }
        timer.shutdownNow();
        workers.shutdownNow();
        try {
            if (!workers.awaitTermination(5, TimeUnit.SECONDS) || !timer.awaitTermination(1, TimeUnit.SECONDS)) {
                LOG.warn("uploader threads still busy 5 s after close (backend ignores interrupts)");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try (StateLock.Held h = lock.hold()) {
            Set<String> left = backendPending();
            if (!left.isEmpty()) {
                List<String> named = new ArrayList<>(left).subList(0, Math.min(NAMED_PATHS, left.size()));
                LOG.warn("{} backend operation(s) still pending at shutdown, kept in the journal for the next start: "
                        + "{}{}", left.size(), named, left.size() > named.size() ? " and " + (left.size()
                        - named.size()) + " more" : "");
            }
            try {
                journal.closed();
            } catch (IOException e) {
                LOG.warn("Journal: cannot record the clean stop: {}", e.toString());
            }
            journal.close();
        }
    }
}
