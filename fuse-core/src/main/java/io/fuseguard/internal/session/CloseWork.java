package io.fuseguard.internal.session;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.Operation;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.tree.HandleTable;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.tree.NodeTable;
import io.fuseguard.internal.tree.PathLocks;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Close-time work: what happens to an open file after the kernel released it (after the last {@code close()},
 * which has already returned, or at unmount). Per handle, in this order, on a close-time thread: wait for
 * requests still running on the handle (late handlers), run the filesystem's deferred flush (under
 * {@link FlushPolicy#DEFERRED}, unless the handle was flushed since its last write), run its release, and
 * remove a hidden (unlinked while open) file. Nothing waits on this work; lateness and failures go to the
 * listeners and the log, and unmounting drains it within a bound.
 */
final class CloseWork {
    private static final Log LOG = Log.of(CloseWork.class);
    private static final int THREADS = 16;

    private final String name;
    private final FsOps ops;
    private final NodeTable nodes;
    private final HandleTable handles;
    private final PathLocks paths;
    private final java.util.function.BiConsumer<Throwable, String> fatal;
    private final Passthrough passthrough;
    private final boolean deferredFlush;
    private final long deadlineNanos;
    private final EventReporter events;
    private final ThreadPoolExecutor pool;
    private final Set<Job> running = ConcurrentHashMap.newKeySet();
    private final AtomicInteger pending = new AtomicInteger();
    private final AtomicInteger done = new AtomicInteger();
    private final int maxStuck;

    CloseWork(String name, FsOps ops, NodeTable nodes, HandleTable handles, PathLocks paths, FlushPolicy policy,
              Duration deadline, EventReporter events, int maxStuck,
              java.util.function.BiConsumer<Throwable, String> fatal, Passthrough passthrough) {
        this.fatal = fatal;
        this.passthrough = passthrough;
        this.paths = paths;
        this.maxStuck = maxStuck;
        this.name = name;
        this.ops = ops;
        this.nodes = nodes;
        this.handles = handles;
        this.deferredFlush = policy == FlushPolicy.DEFERRED && ops.implementsFlush();
        this.deadlineNanos = deadline.toNanos();
        this.events = events;
        AtomicInteger n = new AtomicInteger();
        this.pool = new ThreadPoolExecutor(THREADS, THREADS, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                r -> new CloseThread(r, "fuseguard-close-" + name + "-" + n.incrementAndGet(), paths));
        pool.allowCoreThreadTimeOut(true);
    }

    /** A close-time thread with its own handler context. */
    private static final class CloseThread extends Thread implements OpContext.Owner {
        private final OpContext context = new OpContext();
        private final PathLocks paths;

        CloseThread(Runnable r, String name, PathLocks paths) {
            super(r, name);
            this.paths = paths;
            setDaemon(true);
        }

        @Override
        public void run() {
            paths.register(context.pin);
            try {
                super.run();
            } finally {
                paths.unregister(context.pin);
            }
        }

        @Override
        public OpContext opContext() {
            return context;
        }
    }

    /**
     * Queues the close-time work of a handle the kernel released (or that is left open at unmount), on behalf of
     * the caller of the RELEASE. If it is the last handle of a file unlinked while open, the work removes the
     * hidden file too (decided when it runs, with the file's path pinned).
     */
    void release(Handle h, int uid, int gid, int pid) {
        noteReleased(h);
        submit(new Job(h, null, 0, 0, h.isDirectory(), uid, gid, pid));
    }

    /**
     * Runs the close-time work of a handle whose RELEASE a previous worker of a supervised mount answered (and
     * counted) but did not finish: the file was opened again in this process for it.
     */
    void rerelease(Handle h) {
        submit(new Job(h, null, 0, 0, h.isDirectory(), h.openerUid(), h.openerGid(), h.openerPid()));
    }

    /**
     * Counts a handle's release (once): from now on the file is not open through it, and the kernel no longer
     * uses its backing file (closed with the file's last backed open).
     */
    void noteReleased(Handle h) {
        if (handles.released(h) && !h.isDirectory()) {
            nodes.released(h.node());
            passthrough.detach(h);
        }
    }

    /**
     * Releases a file the filesystem opened after its request had been answered (the caller was told the open
     * failed, so no RELEASE will ever come for it).
     */
    void releaseLateOpen(Node node, long userFh, int flags, boolean directory) {
        submit(new Job(null, node, userFh, flags, directory, 0, 0, 0));
    }

    private void submit(Job j) {
        nodes.keep(j.node()); // in the table until the work is done, even if the kernel forgets the file now
        j.node().workStarted();
        pending.incrementAndGet();
        try {
            pool.execute(j);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            // after drain(): run it here rather than lose it
            j.run();
        }
    }

    /**
     * Reports close-time work running past the data deadline (once per job), and gives the pool one more thread
     * for each such job (up to {@code maxStuck}), so that close-time work of other files is not held up by
     * flushes that hang. Called by the watchdog.
     */
    void checkLate(long now) {
        int late = 0;
        for (Job j : running) {
            if (now - j.deadline > 0) {
                late++;
                if (!j.reportedLate) {
                    j.reportedLate = true;
                    events.report(GuardEvent.Type.CLOSE_WORK_LATE, j.operation, j.path, 0, j.started, 0, null,
                            "nothing waits on it; it goes on (its thread is replaced)");
                }
            }
        }
        int want = THREADS + Math.min(late, maxStuck);
        if (want != pool.getCorePoolSize() && !pool.isShutdown()) {
            if (want > pool.getMaximumPoolSize()) {
                pool.setMaximumPoolSize(want);
                pool.setCorePoolSize(want);
            } else {
                pool.setCorePoolSize(want);
                pool.setMaximumPoolSize(want);
            }
        }
    }

    /** Jobs queued or running. */
    int pending() {
        return pending.get();
    }

    /** Jobs finished since the mount started. */
    int done() {
        return done.get();
    }

    /**
     * Lets queued and running work finish, for at most {@code bound}; returns a description of each job that did
     * not (also logged at WARN and reported).
     */
    List<String> drain(Duration bound) {
        pool.shutdown();
        try {
            pool.awaitTermination(bound.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        List<String> left = new ArrayList<>();
        for (Runnable r : pool.shutdownNow()) {
            if (r instanceof Job j) {
                left.add(j.describe() + " (not started)");
                events.report(GuardEvent.Type.CLOSE_WORK_UNFINISHED, j.operation, j.path(), 0, System.nanoTime(), 0,
                        null, "not started");
            }
        }
        for (Job j : running) {
            left.add(j.describe() + " (running " + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - j.started)
                    + " ms, in " + j.operation + ")");
            events.report(GuardEvent.Type.CLOSE_WORK_UNFINISHED, j.operation, j.path, 0, j.started, 0, null,
                    "still running");
        }
        if (!left.isEmpty()) {
            LOG.warn("{}: unmounting after {} ms with close-time work unfinished, {} file(s): {}", name,
                    bound.toMillis(), left.size(), left);
        }
        return left;
    }

    private final class Job implements Runnable {
        private final Handle handle;
        private final Node lateNode;
        private final long lateFh;
        private final int lateFlags;
        private final boolean directory;
        private final int uid;
        private final int gid;
        private final int pid;
        volatile Operation operation = Operation.RELEASE;
        volatile String path;
        volatile long started;
        volatile long deadline;
        volatile boolean reportedLate;

        Job(Handle handle, Node lateNode, long lateFh, int lateFlags, boolean directory, int uid, int gid, int pid) {
            this.handle = handle;
            this.lateNode = lateNode;
            this.lateFh = lateFh;
            this.lateFlags = lateFlags;
            this.directory = directory;
            this.uid = uid;
            this.gid = gid;
            this.pid = pid;
        }

        Node node() {
            return handle != null ? handle.node() : lateNode;
        }

        String path() {
            return path != null ? path : nodes.path(node());
        }

        String describe() {
            String p = path();
            return (p == null ? "(unlinked file)" : p) + (directory ? " [directory]" : "");
        }

        @Override
        public void run() {
            started = System.nanoTime();
            deadline = started + deadlineNanos;
            running.add(this);
            OpContext ctx = OpContext.forCurrentThread();
            boolean counted = true;
            try {
                synchronized (node().closeWorkLock) {
                    // The file's path stays put while its flush and release run (a rename waits for them).
                    while (!paths.pin(ctx.pin, node(), null, System.nanoTime() + TimeUnit.HOURS.toNanos(1))) {
                        Thread.interrupted(); // only a stray interrupt ends the wait: it must not drop the work
                    }
                    work(ctx);
                    // Counted down and the hidden name's fate decided in one step, still under the file's close-work
                    // lock: whichever end comes last (this work, another, an inline release) removes it, once.
                    counted = false;
                    if (nodes.workDoneAndLastCloseOfHidden(node(), handle != null)) {
                        removeHidden(paths, nodes, ctx, node(), deadline,
                                hidden -> step(ctx, Operation.UNLINK, () -> ops.unlink(ctx, hidden)));
                    }
                }
            } catch (RuntimeException | Error e) {
                LOG.error("Close-time work of {} failed unexpectedly", describe(), e);
                if (e instanceof Error) {
                    fatal.accept(e, "close-time work"); // not a handler's: bridges catch those
                }
            } finally {
                paths.unpin(ctx.pin);
                ctx.end();
                running.remove(this);
                if (counted) {
                    node().workDone(); // the work failed before it was counted down
                }
                nodes.unhold(node());
                pending.decrementAndGet();
                done.incrementAndGet();
            }
        }

        private void work(OpContext ctx) {
            Node node = node();
            path = nodes.path(node);
            long fh = handle != null ? handle.userFh() : lateFh;
            int flags = handle != null ? handle.flags() : lateFlags;
            if (handle != null && handle.running() > 0) {
                try {
                    if (!handle.awaitIdle(deadlineNanos)) {
                        events.report(GuardEvent.Type.CLOSE_WORK_LATE, Operation.RELEASE, path, 0, started, 0, null,
                                handle.running() + " request(s) still running on the handle; releasing it anyway");
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (handle != null && handle.isLost()) {
                handles.remove(handle); // its file could not be opened again after a worker change
                return;
            }
            if (directory) {
                step(ctx, Operation.RELEASEDIR, () -> ops.releasedir(ctx, path, fh));
                if (handle != null) {
                    handles.remove(handle);
                }
                return;
            }
            if (deferredFlush && handle != null && !handle.isFlushedClean()) {
                int rc = step(ctx, Operation.FLUSH, () -> ops.flush(ctx, path, fh));
                handle.flushed(rc >= 0 || rc == -Syscalls.ENOSYS);
                if (rc >= 0) {
                    handle.takeFailure(); // the file as it is now was flushed: an older failure is moot
                }
                if (rc < 0 && rc != -Syscalls.ENOSYS) {
                    handle.recordFailure(-rc);
                    events.report(GuardEvent.Type.CLOSE_WORK_FAILED, Operation.FLUSH, path, 0, started, -rc, null,
                            "deferred flush at release");
                }
            }
            if (handle != null && (handle.lockOwners().length > 0 || handle.isFlocked())) {
                step(ctx, Operation.SETLK, () -> {
                    LockRequests.releaseLocks(ops, ctx, path, handle); // the FLUSH that would drop them never came
                    return 0;
                });
            }
            int rc = step(ctx, Operation.RELEASE, () -> ops.release(ctx, path, fh, flags));
            if (rc < 0 && rc != -Syscalls.ENOSYS) {
                events.report(GuardEvent.Type.CLOSE_WORK_FAILED, Operation.RELEASE, path, 0, started, -rc, null,
                        "release");
            }
            if (handle != null) {
                handles.remove(handle);
            }
        }

        private int step(OpContext ctx, Operation op, java.util.function.IntSupplier work) {
            operation = op;
            // On behalf of whoever closed the file, as libfuse's flush and release are.
            ctx.begin(op, path, uid, gid, pid, 0, deadline);
            try {
                return work.getAsInt();
            } finally {
                ctx.end();
            }
        }
    }

    /**
     * Removes the hidden name of a file at its last close (a file unlinked while open, or the reserved name of an
     * O_TMPFILE file), for the thread whose {@code ctx.pin} pins the file: it trades the pin for a write lock on
     * that name, as an unlink takes, before it asks the filesystem. A linked O_TMPFILE file can be opened by its
     * new name while its descriptor's close is being handled, and the engine names the file to the filesystem by
     * its first name, the reserved one; without the lock that open could reach the filesystem with the reserved
     * name after the filesystem dropped it (ENOENT for a file that exists: 1 to 3 opens in 300 before). With it, the
     * open waits, and then finds the file by the name it has left. The lock is released with the pin (by the
     * caller, as usual). A rename of the hidden name between the release of the pin and the lock is seen after
     * the lock, which is then taken again on the new name. Past the deadline the name is removed without the lock
     * rather than left behind.
     */
    static void removeHidden(PathLocks paths, NodeTable nodes, OpContext ctx, Node node, long deadlineNanos,
                             java.util.function.ToIntFunction<String> unlink) {
        paths.unpin(ctx.pin);
        while (true) {
            Node dir = nodes.parentOf(node);
            String name = nodes.nameOf(node);
            if (dir == null || name == null) {
                return;
            }
            if (!paths.lock(ctx.pin, dir, name, null, null, deadlineNanos)) {
                LOG.warn("Removing the hidden name {} of a closed file without waiting any longer for the "
                        + "requests that use the file", name);
                break;
            }
            if (nodes.parentOf(node) == dir && name.equals(nodes.nameOf(node))) {
                break; // locked, and still the file's name (nothing renamed it while this thread held nothing)
            }
            paths.unpin(ctx.pin);
        }
        String hidden = nodes.path(node);
        if (hidden == null) {
            return;
        }
        int u = unlink.applyAsInt(hidden);
        if (u < 0) {
            LOG.warn("Could not remove {} (a file unlinked while open) at its release: errno {}", hidden, -u);
        }
        nodes.unlinked(node);
    }
}
