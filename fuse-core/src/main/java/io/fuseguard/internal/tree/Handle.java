package io.fuseguard.internal.tree;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * One open file or directory as the kernel knows it: the kernel gets the framework's own handle number (never
 * reused), the filesystem's own {@code fh} stays inside. The handle counts the requests running on it so that
 * its release waits for late handlers instead of racing them, and it carries what the close-time work needs:
 * whether data was written since the last flush, and a failure to report at the next fsync.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class Handle {
    private final long id;
    private final Node node;
    private volatile long userFh;
    private final int flags;
    private final boolean directory;
    private final AtomicInteger running = new AtomicInteger();
    private final Object idle = new Object();
    private volatile boolean released;
    private volatile boolean dirty;
    private volatile boolean flushedClean;
    private volatile Object listing;
    /** How this open's I/O was counted for passthrough: 0 not counted, {@link #PLAIN} or {@link #BACKED}. */
    private volatile int ioMode;
    /** Counted as an open whose reads and writes reach the filesystem. */
    public static final int PLAIN = 1;
    /** Counted as an open the kernel serves from a backing file. */
    public static final int BACKED = 2;
    private volatile int openerUid;
    private volatile int openerGid;
    private volatile int openerPid;

    Handle(long id, Node node, long userFh, int flags, boolean directory) {
        this.id = id;
        this.node = node;
        this.userFh = userFh;
        this.flags = flags;
        this.directory = directory;
    }

    /** The number the kernel holds. */
    public long id() {
        return id;
    }

    /** The node (path) this handle was opened on. */
    public Node node() {
        return node;
    }

    /** The filesystem's own file handle. */
    public long userFh() {
        return userFh;
    }

    /** The filesystem's handle after a new worker of a supervised mount opened the file again. */
    public void reopened(long fh) {
        userFh = fh;
    }

    private volatile boolean lost;

    /** A new worker of a supervised mount could not open the file again: requests on the handle answer EIO. */
    public void lost() {
        lost = true;
    }

    /** Whether the handle's file could not be opened again after a worker change. */
    public boolean isLost() {
        return lost;
    }

    /** The open flags. */
    public int flags() {
        return flags;
    }

    /** Whether this is a directory handle. */
    public boolean isDirectory() {
        return directory;
    }

    /** How this open's I/O is counted for passthrough (0, {@link #PLAIN}, {@link #BACKED}). */
    public int ioMode() {
        return ioMode;
    }

    /** Sets how this open's I/O is counted for passthrough. */
    public void ioMode(int mode) {
        ioMode = mode;
    }

    /** Remembers who opened the handle (RELEASE carries no caller: the kernel may send it from a worker). */
    public void opener(int uid, int gid, int pid) {
        openerUid = uid;
        openerGid = gid;
        openerPid = pid;
    }

    /** The opener's user id. */
    public int openerUid() {
        return openerUid;
    }

    /** The opener's group id. */
    public int openerGid() {
        return openerGid;
    }

    /** The opener's thread id. */
    public int openerPid() {
        return openerPid;
    }

    /** A request starts using this handle. */
    public void enter() {
        running.incrementAndGet();
    }

    /** A request (possibly a late handler) stopped using this handle. */
    public void exit() {
        if (running.decrementAndGet() == 0) {
            synchronized (idle) {
                idle.notifyAll();
            }
        }
    }

    /** Requests running on this handle now. */
    public int running() {
        return running.get();
    }

    /** Waits until no request uses the handle; false if that took longer than {@code nanos}. */
    public boolean awaitIdle(long nanos) throws InterruptedException {
        long end = System.nanoTime() + nanos;
        synchronized (idle) {
            while (running.get() > 0) {
                long left = end - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(idle, left);
            }
        }
        return true;
    }

    private final java.util.concurrent.atomic.AtomicBoolean releasedOnce = new java.util.concurrent.atomic.AtomicBoolean();

    /**
     * Marks that the kernel released the handle (or will never: the mount ended, the open's answer was lost).
     * True the first time only, so the release is counted once.
     */
    public boolean markReleased() {
        released = true;
        return releasedOnce.compareAndSet(false, true);
    }

    /** Whether the kernel released the handle. */
    public boolean isReleased() {
        return released;
    }

    /** Data was written (or the size changed) through this handle. */
    public void markDirty() {
        dirty = true;
        flushedClean = false;
    }

    /** Whether data changed since the last successful flush. */
    public boolean isDirty() {
        return dirty;
    }

    /** A flush of this handle finished; {@code ok} when it succeeded. */
    public void flushed(boolean ok) {
        if (ok) {
            dirty = false;
            flushedClean = true;
        }
    }

    /** Whether the last flush succeeded and nothing was written since. */
    public boolean isFlushedClean() {
        return flushedClean && !dirty;
    }

    /**
     * Remembers a failure (positive errno) of close-time work, to report at the next fsync of this file (this
     * handle, or another one of the same file; never a new file that reuses the name).
     */
    public void recordFailure(int errno) {
        node.recordFailure(errno);
    }

    /** The remembered failure of this file (positive errno), cleared; 0 when none. */
    public int takeFailure() {
        return node.takeFailure();
    }

    private static final long[] NO_OWNERS = new long[0];
    /** Lock owners that took a POSIX lock through this handle (the filesystem's locks): released with it. */
    private volatile long[] lockOwners = NO_OWNERS;
    private volatile boolean flocked;
    private volatile long flockOwner;

    /** {@code owner} took a POSIX record lock through this handle. */
    public synchronized void lockedBy(long owner) {
        long[] o = lockOwners;
        for (long x : o) {
            if (x == owner) {
                return;
            }
        }
        long[] more = java.util.Arrays.copyOf(o, o.length + 1);
        more[o.length] = owner;
        lockOwners = more;
    }

    /** The owners that took POSIX locks through this handle (its release must drop their locks). */
    public long[] lockOwners() {
        return lockOwners;
    }

    /** A {@code flock} was taken through this handle (by {@code owner}, the open file description). */
    public void flocked(long owner) {
        flockOwner = owner;
        flocked = true;
    }

    /** Whether a {@code flock} was taken through this handle. */
    public boolean isFlocked() {
        return flocked;
    }

    /** The owner of the handle's {@code flock}. */
    public long flockOwner() {
        return flockOwner;
    }

    /** The directory listing cached for READDIR (directory handles). */
    public Object listing() {
        return listing;
    }

    /** Sets the directory listing. */
    public void listing(Object l) {
        listing = l;
    }
}
