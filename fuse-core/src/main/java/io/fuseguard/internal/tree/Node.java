package io.fuseguard.internal.tree;

import java.util.HashMap;

/**
 * One file the kernel knows (it got a node id for it through LOOKUP, CREATE, MKDIR, LINK, ...). fuseguard serves
 * path-based filesystems, so a node is reached by a name: its primary (parent, name) pair, plus further names when
 * the filesystem reports it as one file under several hard links (then the kernel sees one inode and one page
 * cache for all of them). The kernel's reference count ({@code nlookup}) keeps it alive until FORGET. Fields other
 * than the caches are guarded by the {@link NodeTable}'s lock.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class Node {
    final long id;
    /** How often the id's slot was used before: the FUSE generation, so a reused id is never mistaken. */
    final int generation;
    Node parent;
    String name;
    /** Further names of the same file (hard links), or null. */
    Alias aliases;
    long nlookup;
    /**
     * Notifications on their way to the kernel that name this node by id (NodeTable.hold): while any is, the
     * node keeps its slot even after the kernel's FORGET, so the id cannot name another file when it arrives.
     */
    int holds;
    /** The filesystem's inode number, when it reports one and the file has several links (else 0). */
    long fsIno;
    /** Open handles (files and directories) whose release has not finished yet. */
    int openCount;
    /** Renamed to a .fuse_hidden name because it was unlinked while open; removed at its last release. */
    boolean hidden;
    /**
     * An O_TMPFILE file: hidden from birth under a name fuseguard reserved, which is not a link of the file (the
     * filesystem reports nlink 0 until the file gets a real name).
     */
    boolean anonymous;
    HashMap<String, Node> children;
    /** A failure (positive errno) of close-time work on this file, reported at its next fsync. */
    volatile int pendingFailure;
    /**
     * FUSE passthrough, guarded by this node's monitor (used only on mounts that pass I/O through): the backing id
     * registered for this file while some open of it is backed, and how many of its opens the kernel may hold
     * backed and not backed (counted at the open's answer, uncounted when its RELEASE is read: never fewer than the
     * kernel holds, which is what keeps the two kinds apart as the kernel demands).
     */
    public int backingId;
    public int backedOpens;
    public int plainOpens;
    /** Cached full path and the table epoch it was computed in; renames bump the epoch. */
    volatile PathCache path;

    record PathCache(String path, long epoch) {
    }

    /** A further name of a hard-linked file. */
    static final class Alias {
        Node parent;
        String name;
        Alias next;

        Alias(Node parent, String name, Alias next) {
            this.parent = parent;
            this.name = name;
            this.next = next;
        }
    }

    Node(long id, int generation, Node parent, String name) {
        this.id = id;
        this.generation = generation;
        this.parent = parent;
        this.name = name;
    }

    /** Close-time work of this file (deferred flushes and releases, a late flush) queued or running. */
    private int pendingWork;
    /** Held while close-time work of this file runs: one at a time, so a later flush never loses to an earlier. */
    public final Object closeWorkLock = new Object();

    /** Close-time work of this file was queued (or a flush of it started). */
    public synchronized void workStarted() {
        pendingWork++;
    }

    /** Close-time work of this file ended. */
    public synchronized void workDone() {
        if (--pendingWork <= 0) {
            pendingWork = 0;
            notifyAll();
        }
    }

    /** Close-time work of this file queued or running. */
    public synchronized int pendingWork() {
        return pendingWork;
    }

    /** Whether close-time work of this file is queued or running. */
    public synchronized boolean hasPendingWork() {
        return pendingWork > 0;
    }

    /**
     * Waits until no close-time work of this file is queued or running, at most {@code nanos}: what comes after a
     * close (an unlink, a rename, an fsync, the next flush) then sees it done, in the order plain libfuse gives.
     * Returns false if it is still running.
     */
    public synchronized boolean awaitWork(long nanos) throws InterruptedException {
        long end = System.nanoTime() + nanos;
        while (pendingWork > 0) {
            long left = end - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            java.util.concurrent.TimeUnit.NANOSECONDS.timedWait(this, left);
        }
        return true;
    }

    /** Remembers a failure (positive errno) of close-time work, for the next fsync of this file. */
    public void recordFailure(int errno) {
        pendingFailure = errno;
    }

    /** The remembered failure (positive errno), cleared; 0 when none. */
    public int takeFailure() {
        int f = pendingFailure;
        pendingFailure = 0;
        return f;
    }

    /** The node id the kernel uses for this file. */
    public long id() {
        return id;
    }

    /** The FUSE generation of the id (how often its slot was used before). */
    public int generation() {
        return generation;
    }
}
