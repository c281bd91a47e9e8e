package io.fuseguard.internal.session;

import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.wire.InitFlags;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;

/**
 * FUSE passthrough (Linux 6.9+, protocol 7.40) for one mount: asked for at INIT when the filesystem names backing
 * files, checked right after INIT (the daemon's privileges), and then, per open, the backing file registered with
 * {@code FUSE_DEV_IOC_BACKING_OPEN} and its id put in the open's answer, closed with
 * {@code FUSE_DEV_IOC_BACKING_CLOSE} when the last backed open of the file is released.
 *
 * <p>The kernel allows one way of doing I/O per file at a time, and for a backed file one backing file: so the
 * backing id belongs to the node (the kernel's inode), shared by its concurrent backed opens; an open the
 * filesystem backs while the file is open without passthrough falls back to being served by the filesystem. The
 * counts are taken when an open is answered and dropped when its RELEASE is read; the kernel drops its own before
 * it sends RELEASE, so these counts are never below the kernel's, and an open answered by them never conflicts.
 */
final class Passthrough {
    private static final Log LOG = Log.of(Passthrough.class);
    /**
     * How deep the backing files' filesystems may be stacked: 1 takes files of any plain filesystem (not of an
     * overlay) and keeps the mount usable as an overlay's lower layer, as libfuse's passthrough example does.
     */
    static final int MAX_STACK_DEPTH = 1;

    private final String name;
    private final Session session;
    private final boolean wanted;
    private final String notWanted;
    /** Set for a supervised worker's session (see {@link #offForSupervision}). */
    private volatile boolean supervised;
    private volatile boolean usable;
    private volatile String status;
    private final Set<Integer> loggedErrors = ConcurrentHashMap.newKeySet();
    private final java.util.concurrent.atomic.AtomicBoolean mixLogged = new java.util.concurrent.atomic.AtomicBoolean();
    private final LongAdder backed = new LongAdder();
    private final LongAdder fallbacks = new LongAdder();
    private final AtomicInteger liveIds = new AtomicInteger();
    /** Native scratch for the check and BACKING_CLOSE (threads without request buffers), guarded by closeLock. */
    private final long closeScratch;
    private final Object closeLock = new Object();
    private boolean closed;

    Passthrough(String name, Session session, FsOps ops, MountOptions options) {
        this.name = name;
        this.session = session;
        if (!ops.backsFiles()) {
            wanted = false;
            notWanted = "not used (the filesystem names no backing files)";
        } else if (!options.passthrough()) {
            wanted = false;
            notWanted = "off (passthrough(false), -o no_passthrough)";
        } else if (options.writebackCache()) {
            wanted = false;
            notWanted = "off: the writeback cache is on, and the kernel does not combine the two";
            LOG.info("{}: FUSE passthrough is off because the writeback cache is on (the kernel does not combine "
                    + "them); reads and writes are served by the filesystem", name);
        } else {
            wanted = true;
            notWanted = null;
        }
        this.status = notWanted != null ? notWanted : "pending (INIT not answered yet)";
        this.closeScratch = wanted ? Syscalls.allocate(16) : 0;
    }

    /** The capability bit to ask for at INIT (0 when this mount does not pass I/O through). */
    long capability() {
        return wanted && !supervised ? InitFlags.PASSTHROUGH : 0;
    }

    /**
     * Called before INIT for a worker of a supervised mount: no open is backed. The kernel's backing ids belong to
     * the connection, not to the worker, and a new worker would not know them: it could not close them at the last
     * release, and a backed open it made of a file still open through an old id would be refused by the kernel
     * (one backing file per inode). Reads and writes are served by the filesystem, as without passthrough.
     */
    void offForSupervision() {
        if (!wanted || supervised) {
            return;
        }
        supervised = true;
        usable = false;
        status = "off: a supervised mount (a new worker could not take over the kernel's backing files)";
        LOG.info("{}: FUSE passthrough is {}; reads and writes are served by the filesystem", name, status);
    }

    /** What INIT settled: {@code granted} holds the bit when the kernel offered it and it was asked for. */
    void negotiated(long granted, int kernelMinor) {
        if (!wanted || supervised) {
            return;
        }
        if ((granted & InitFlags.PASSTHROUGH) == 0) {
            status = "not available: the kernel does not offer it (protocol 7." + kernelMinor
                    + "; it needs Linux 6.9+ built with CONFIG_FUSE_PASSTHROUGH)";
            LOG.info("{}: FUSE passthrough is {}; reads and writes are served by the filesystem", name, status);
        }
    }

    /**
     * Right after the INIT answer was written (the kernel turned passthrough on while taking it): registers and
     * unregisters an anonymous file once, which tells whether this daemon may register backing files at all (the
     * kernel wants {@code CAP_SYS_ADMIN} in the initial user namespace), so that the mount says so once, now.
     */
    void afterInit(long granted) {
        if (!wanted || supervised || (granted & InitFlags.PASSTHROUGH) == 0) {
            return;
        }
        int probe = Syscalls.memfd("fuseguard-passthrough-check");
        if (probe < 0) {
            status = "not available: memfd_create failed with errno " + -probe;
            LOG.info("{}: FUSE passthrough is {}; reads and writes are served by the filesystem", name, status);
            return;
        }
        try {
            int id;
            synchronized (closeLock) {
                id = closed ? -Syscalls.ENODEV : Syscalls.backingOpen(session.fd(), probe, closeScratch);
                if (id > 0) {
                    Syscalls.backingClose(session.fd(), id, closeScratch);
                }
            }
            if (id > 0) {
                usable = true;
                status = "on";
            } else {
                status = "not available: " + (id == -Syscalls.EPERM ? "the daemon may not register backing files "
                        + "(it needs CAP_SYS_ADMIN in the initial user namespace: root, outside a user namespace)"
                        : "the kernel refused a backing file (errno " + -id + ")");
                LOG.info("{}: FUSE passthrough is {}; reads and writes are served by the filesystem", name, status);
            }
        } finally {
            Syscalls.close(probe);
        }
    }

    /** Frees the native scratch once the connection's device is closed. */
    void close() {
        synchronized (closeLock) {
            if (!closed) {
                closed = true;
                Syscalls.free(closeScratch);
            }
        }
    }

    /** Whether opens may be backed on this mount now. */
    boolean usable() {
        return usable;
    }

    /** One line: on, off and why, not available and why. */
    String status() {
        return status;
    }

    long backedOpens() {
        return backed.sum();
    }

    long fallbackOpens() {
        return fallbacks.sum();
    }

    int openBackingIds() {
        return liveIds.get();
    }

    /**
     * Decides how the just-opened handle {@code h} is answered: the backing id to put in the answer (with
     * {@code FOPEN_PASSTHROUGH}), or 0 to serve it through the filesystem. {@code fd} is what the filesystem named
     * ({@link FsOps#NO_BACKING} and {@link FsOps#UNKNOWN_DESCRIPTOR} included). Counts the open either way; a
     * writable backed open is marked written (its deferred flush must run). {@code scratch}: 16 bytes of native
     * memory the calling thread owns.
     */
    int attach(Handle h, int fd, boolean writable, String path, long scratch) {
        Node n = h.node();
        synchronized (n) {
            if (fd < 0) {
                if (fd == FsOps.UNKNOWN_DESCRIPTOR) {
                    fellBack(-1, path, "the backing file's descriptor could not be found (a FileChannel of another "
                            + "JDK?)");
                } else if (n.backedOpens > 0 && mixLogged.compareAndSet(false, true)) {
                    LOG.info("{}: {} was opened without a backing file while it is open with one: the kernel refuses "
                            + "such an open (EIO). Back every open of a file, or none. (Logged once.)", name, path);
                }
                return plain(n, h);
            }
            if (n.plainOpens > 0) {
                fallbacks.increment(); // the kernel keeps a file in one I/O mode: this open joins the other ones
                return plain(n, h);
            }
            if (n.backedOpens > 0) {
                n.backedOpens++;
                return backed(n, h, writable);
            }
            int id = Syscalls.backingOpen(session.fd(), fd, scratch);
            if (id <= 0) {
                if (id == -Syscalls.EPERM) {
                    usable = false; // privileges went away (cannot happen for a live process): stop trying
                    status = "off: the kernel refused to register a backing file (EPERM)";
                }
                fellBack(id, path, describe(id));
                return plain(n, h);
            }
            n.backingId = id;
            n.backedOpens = 1;
            liveIds.incrementAndGet();
            return backed(n, h, writable);
        }
    }

    private int plain(Node n, Handle h) {
        n.plainOpens++;
        h.ioMode(Handle.PLAIN);
        return 0;
    }

    private int backed(Node n, Handle h, boolean writable) {
        h.ioMode(Handle.BACKED);
        backed.increment();
        if (writable) {
            h.markDirty(); // the kernel writes the backing file without telling the daemon
        }
        return n.backingId;
    }

    private void fellBack(int errno, String path, String why) {
        fallbacks.increment();
        if (loggedErrors.size() < 64 && loggedErrors.add(errno)) {
            LOG.info("{}: {} is served by the filesystem instead of its backing file: {}. (Logged once per reason.)",
                    name, path, why);
        }
    }

    private static String describe(int rc) {
        return switch (-rc) {
            case Syscalls.ELOOP -> "the backing file is on a stacked filesystem (an overlay, or another passthrough "
                    + "mount) deeper than max_stack_depth " + MAX_STACK_DEPTH + " allows";
            case Syscalls.EPERM -> "the daemon may not register backing files (EPERM)";
            case Syscalls.EBADF -> "the backing descriptor is not open (or is O_PATH)";
            case Syscalls.EINVAL -> "the backing file cannot back a file (not a regular file?)";
            default -> "registering the backing file failed with errno " + -rc;
        };
    }

    /**
     * The kernel released handle {@code h} (its RELEASE was read, or the open's answer never arrived): uncounts it
     * and closes the file's backing id with its last backed open.
     */
    void detach(Handle h) {
        int mode = h.ioMode();
        if (mode == 0) {
            return;
        }
        h.ioMode(0);
        Node n = h.node();
        synchronized (n) {
            if (mode == Handle.PLAIN) {
                n.plainOpens--;
                return;
            }
            if (--n.backedOpens > 0) {
                return;
            }
            int id = n.backingId;
            n.backingId = 0;
            int rc;
            synchronized (closeLock) {
                // after the device was closed the connection, and its backing files, are gone already
                rc = closed ? 0 : Syscalls.backingClose(session.fd(), id, closeScratch);
            }
            liveIds.decrementAndGet();
            if (rc < 0 && rc != -Syscalls.ENODEV && rc != -Syscalls.ENOTCONN && rc != -Syscalls.EBADF
                    && rc != -Syscalls.ENOTTY) {
                LOG.warn("{}: closing backing id {} failed with errno {}", name, id, -rc);
            }
        }
    }
}
