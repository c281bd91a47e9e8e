package io.fuseguard.tree;

import java.util.HashMap;

/**
 * One name the kernel knows (it got a node id for it through LOOKUP, CREATE, MKDIR, ...). fuseguard serves
 * path-based filesystems, so a node is a (parent, name) pair; the kernel's reference count ({@code nlookup})
 * keeps it alive until FORGET. Fields other than the caches are guarded by the {@link NodeTable}'s lock.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class Node {
    final long id;
    Node parent;
    String name;
    long nlookup;
    /** Open handles (files and directories) whose release has not finished yet. */
    int openCount;
    /** Renamed to a .fuse_hidden name because it was unlinked while open; removed at its last release. */
    boolean hidden;
    HashMap<String, Node> children;
    /** A failure (positive errno) of close-time work on this file, reported at its next fsync. */
    volatile int pendingFailure;
    /** Cached full path and the table epoch it was computed in; renames bump the epoch. */
    volatile PathCache path;

    record PathCache(String path, long epoch) {
    }

    Node(long id, Node parent, String name) {
        this.id = id;
        this.parent = parent;
        this.name = name;
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

    /** The node id the kernel uses for this name. */
    public long id() {
        return id;
    }
}
