package io.fuseguard.mount;

import io.fuseguard.internal.session.Notifier;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * Tells the kernel that what it caches of this mount changed behind its back (a remote change, a download, a
 * reconciliation with a backend), the way libfuse's {@code fuse_lowlevel_notify_*} calls do. Without it, with any
 * cache timeout above zero, readers see stale attributes, names and data until the timeout passes.
 * {@link FuseMount#notifier()} returns it.
 *
 * <h2>Paths</h2>
 * Paths are looked up among the names the kernel holds (the nodes it looked up and has not forgotten). A path it
 * holds no node for has nothing cached: its notification is a no-op and completes with {@code false}. A
 * notification that reached the kernel completes with {@code true}.
 *
 * <h2>The rule: notifications never block a request, and never deadlock with one</h2>
 * Each call only queues the notification and returns at once, from any thread, handlers included. One thread of
 * the mount writes them to the kernel in the order they were made. The kernel applies a notification under the
 * locks of what it changes: the pages of a file (invalidating data, storing), the lock of a directory
 * (invalidating or deleting an entry); a request in flight for the same node may hold them until it is answered
 * (a READ of those pages, a LOOKUP or CREATE in that directory). A notification made inside that request's
 * handler would wait for the handler: libfuse's classic deadlock. Here the writer waits instead, until the
 * request is answered (by its handler, or by the watchdog at its deadline), and request threads go on meanwhile.
 * So: <b>never wait for a notification's future inside a handler</b> (the wait could be for the very request the
 * handler serves). fuseguard refuses it: {@code get()} or {@code join()} on a notification's future, or on one
 * derived from it, throws {@link IllegalStateException} in a thread that runs a handler (request, close-time and
 * in-process threads while they run one). Attach a callback instead ({@code thenRun}, {@code whenComplete}):
 * futures complete, and callbacks run, on a thread of the mount (not the writer), where waiting for another
 * notification is refused too. Other threads of the daemon may wait as they like.
 *
 * <p>Failures: a notification refused by the kernel completes exceptionally with an
 * {@link io.fuseguard.api.ErrnoException}; after the mount began to close, or when its connection ended, with an
 * {@link IllegalStateException}; one the kernel does not have (its protocol is too old) with an
 * {@link UnsupportedOperationException}.
 */
public final class KernelNotifier {
    private final Notifier notifier;

    KernelNotifier(Notifier notifier) {
        this.notifier = notifier;
    }

    /** Invalidates the attributes and all cached data of {@code path} (libfuse's {@code notify_inval_inode}). */
    public CompletableFuture<Boolean> invalidateInode(String path) {
        return notifier.invalidateInode(path, 0, 0);
    }

    /**
     * Invalidates the attributes of {@code path} and its cached data in {@code [offset, offset + length)}: a
     * {@code length} of 0 (or less) means to the end of the file, a negative {@code offset} invalidates the
     * attributes only.
     */
    public CompletableFuture<Boolean> invalidateInode(String path, long offset, long length) {
        return notifier.invalidateInode(path, offset, length);
    }

    /** Invalidates the attributes of {@code path} only; its cached data stays (its size or times changed). */
    public CompletableFuture<Boolean> invalidateAttributes(String path) {
        return notifier.invalidateInode(path, -1, 0);
    }

    /**
     * Invalidates the entry {@code name} in directory {@code parentPath}, positive or negative, and the
     * directory's attributes: the next lookup of the name asks the filesystem (libfuse's
     * {@code notify_inval_entry}).
     */
    public CompletableFuture<Boolean> invalidateEntry(String parentPath, String name) {
        return notifier.invalidateEntry(parentPath, name, false);
    }

    /**
     * Marks the entry {@code name} in {@code parentPath} expired without dropping it (libfuse's
     * {@code notify_expire_entry}): programs that hold it (a working directory, a mount point below it) keep it,
     * and the next lookup asks the filesystem. Needs FUSE 7.38 (Linux 6.2); before, the future completes with
     * {@link UnsupportedOperationException}.
     */
    public CompletableFuture<Boolean> expireEntry(String parentPath, String name) {
        return notifier.invalidateEntry(parentPath, name, true);
    }

    /**
     * Tells the kernel that {@code name} in {@code parentPath} was deleted (libfuse's {@code notify_delete}): its
     * entry goes, and for a directory the entries cached below it too. Where the kernel holds no node for the name
     * this is {@link #invalidateEntry}.
     */
    public CompletableFuture<Boolean> deleteEntry(String parentPath, String name) {
        return notifier.deleteEntry(parentPath, name);
    }

    /**
     * Puts {@code data} (copied before this returns) into the kernel's page cache of {@code path} at
     * {@code offset} (libfuse's {@code notify_store}): readers get it without a READ. A page the data covers only
     * in part (it starts or ends inside the page, before the end of the file) is not taken as filled, and is read
     * from the filesystem as usual. Data ending past the cached size grows it and makes the kernel ask the
     * filesystem for the attributes again: store what the filesystem now holds.
     */
    public CompletableFuture<Boolean> store(String path, long offset, ByteBuffer data) {
        return notifier.store(path, offset, data);
    }

    /**
     * The bytes of {@code path} the kernel has in its page cache from {@code offset}, at most {@code length}
     * (libfuse's {@code notify_retrieve}): the kernel stops at the first page it does not hold and at the end of
     * the file, so the buffer may be shorter, and it is empty when the kernel holds no node for the path.
     */
    public CompletableFuture<ByteBuffer> retrieve(String path, long offset, int length) {
        return notifier.retrieve(path, offset, length);
    }

    /**
     * Starts a new epoch (libfuse's {@code notify_increment_epoch}): every entry the kernel cached for this mount
     * must be looked up again before use. Needs FUSE 7.44 (Linux 6.16); before, the future completes with
     * {@link UnsupportedOperationException}.
     */
    public CompletableFuture<Boolean> incrementEpoch() {
        return notifier.incrementEpoch();
    }
}
