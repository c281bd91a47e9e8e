package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The open files of a {@link CachedUploadFs}, by file handle. A look-up ({@link #get}, on every read and write)
 * takes no lock; changes and the questions that must agree with the upload bookkeeping ({@link #hasWriters},
 * {@link #renamed}) run under the filesystem's {@link StateLock}.
 */
final class OpenFiles {
    /**
     * An open cache file: a host descriptor (not a FileChannel, which an interrupt of a request thread past its
     * deadline would close for good); its path follows renames.
     */
    static final class Handle {
        volatile String path;
        final int fd;
        final boolean writable;
        /** The download still filling the file, or null once it is whole (the fd is the cache file's then). */
        volatile Download download;
        /** The download the handle was opened on (kept after it ended), counted in its openers; or null. */
        final Download origin;
        /** The file was renamed to a hidden name while this handle was open (the engine's hide of an unlink). */
        volatile boolean hidden;
        /** Writable and backed by its cache file (FUSE passthrough): the kernel writes it without the daemon. */
        volatile boolean backedWritable;

        Handle(String path, int fd, boolean writable, Download download) {
            this.path = path;
            this.fd = fd;
            this.writable = writable;
            this.download = download;
            this.origin = download;
        }
    }

    private final Map<Long, Handle> handles = new ConcurrentHashMap<>();
    /** Handles open for writing, by path; guarded by the filesystem's lock. */
    private final Map<String, Integer> writers = new java.util.HashMap<>();
    private final AtomicLong nextFh = new AtomicLong(1);

    /** Registers an open cache file and returns its new handle number. Caller holds the lock. */
    long add(String path, int fd, boolean writable) {
        return add(path, fd, writable, null);
    }

    /** Registers a descriptor of a file still being downloaded. Caller holds the lock. */
    long add(String path, int fd, boolean writable, Download download) {
        long fh = nextFh.getAndIncrement();
        if (download != null) {
            download.openers.incrementAndGet();
        }
        handles.put(fh, new Handle(path, fd, writable, download));
        if (writable) {
            writers.merge(path, 1, Integer::sum);
        }
        return fh;
    }

    /**
     * The open file of handle {@code fh}.
     *
     * @throws ErrnoException EBADF for an unknown handle
     */
    Handle get(long fh) {
        Handle h = handles.get(fh);
        if (h == null) {
            throw new ErrnoException(Errno.EBADF);
        }
        return h;
    }

    /** The open file of handle {@code fh}, or null when unknown. */
    Handle find(long fh) {
        return handles.get(fh);
    }

    /** Forgets handle {@code fh}; null when unknown. Caller holds the lock. */
    Handle remove(long fh) {
        Handle h = handles.remove(fh);
        if (h != null && h.origin != null) {
            h.origin.openers.decrementAndGet(); // the last one lets a cancelled download stop
        }
        if (h != null && h.writable) {
            writers.computeIfPresent(h.path, (p, n) -> n == 1 ? null : n - 1);
        }
        return h;
    }

    /** Whether {@code path} is open for writing. Caller holds the lock. */
    boolean hasWriters(String path) {
        return writers.containsKey(path);
    }

    /** Whether a handle open on {@code path} is writable and backed (the kernel writes the cache file itself). */
    boolean hasBackedWriter(String path) {
        for (Handle h : handles.values()) {
            if (h.backedWritable && h.path.equals(path)) {
                return true;
            }
        }
        return false;
    }

    /** Whether any handle is open on {@code path}. Caller holds the lock. */
    boolean isOpen(String path) {
        for (Handle h : handles.values()) {
            if (h.path.equals(path)) {
                return true;
            }
        }
        return false;
    }

    /** Moves the open files at or below {@code from} to {@code to}. Caller holds the lock. */
    void renamed(String from, String to) {
        for (Handle h : handles.values()) {
            if (h.path.equals(from) || UploadPaths.under(h.path, from)) {
                String now = UploadPaths.moved(h.path, from, to);
                if (UploadPaths.localOnly(now) && !UploadPaths.localOnly(h.path)) {
                    h.hidden = true;
                }
                if (h.writable) {
                    writers.computeIfPresent(h.path, (p, n) -> n == 1 ? null : n - 1);
                    writers.merge(now, 1, Integer::sum);
                }
                h.path = now;
            }
        }
    }

    /** Forgets every handle and returns them, for closing. Caller holds the lock. */
    List<Handle> removeAll() {
        List<Handle> all = new ArrayList<>(handles.values());
        handles.clear();
        writers.clear();
        return all;
    }
}
