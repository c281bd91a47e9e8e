package io.fuseguard.internal.uring;

import io.fuseguard.internal.sys.Syscalls;

import java.lang.invoke.VarHandle;

import static io.fuseguard.internal.uring.RingLayout.*;

/**
 * One io_uring instance with 128-byte SQEs: its descriptor, the mapped submission and completion rings and the
 * SQE array. Used by one thread only (the one that submits is the one the kernel runs a command's completion
 * work on: see {@link FuseRing}), so there is no locking; the orderings with the kernel are the fences the ring
 * protocol asks for (release before publishing a tail or a head, acquire after reading the kernel's).
 */
public final class IoUring implements AutoCloseable {
    private final int fd;
    private final long sqRing;
    private final long sqRingSize;
    private final long cqRing;
    private final long cqRingSize;
    private final long sqes;
    private final long sqesSize;
    private final long sqHead;
    private final long sqTail;
    private final int sqMask;
    private final long sqArray;
    private final int sqEntries;
    private final long cqHead;
    private final long cqTail;
    private final int cqMask;
    private final long cqes;
    /** SQEs written since the last {@link #enter}. */
    private int pending;
    private int localTail;

    private final int flags;

    private IoUring(int fd, long params, int flags) {
        this.fd = fd;
        this.flags = flags;
        sqEntries = Syscalls.getInt(params + P_SQ_ENTRIES);
        int cqEntries = Syscalls.getInt(params + P_CQ_ENTRIES);
        int features = Syscalls.getInt(params + P_FEATURES);
        int sqArrayOff = Syscalls.getInt(params + P_SQ_OFF + SQ_OFF_ARRAY);
        int cqesOff = Syscalls.getInt(params + P_CQ_OFF + CQ_OFF_CQES);
        long sqSize = sqRingSize(sqArrayOff, sqEntries);
        long cqSize = cqRingSize(cqesOff, cqEntries);
        boolean single = (features & FEAT_SINGLE_MMAP) != 0;
        if (single) {
            sqSize = Math.max(sqSize, cqSize);
            cqSize = sqSize;
        }
        sqRing = UringCalls.mapShared(fd, sqSize, OFF_SQ_RING);
        sqRingSize = sqSize;
        cqRing = single ? sqRing : UringCalls.mapShared(fd, cqSize, OFF_CQ_RING);
        cqRingSize = single ? 0 : cqSize;
        sqesSize = (long) SQE_SIZE * sqEntries;
        sqes = UringCalls.mapShared(fd, sqesSize, OFF_SQES);
        if (sqRing == 0 || cqRing == 0 || sqes == 0) {
            int e = UringCalls.lastError();
            unmapAll();
            Syscalls.close(fd);
            throw new IllegalStateException("mmap of the io_uring rings failed: errno " + e);
        }
        sqHead = sqRing + Syscalls.getInt(params + P_SQ_OFF + OFF_HEAD);
        sqTail = sqRing + Syscalls.getInt(params + P_SQ_OFF + OFF_TAIL);
        sqMask = Syscalls.getInt(sqRing + Syscalls.getInt(params + P_SQ_OFF + OFF_RING_MASK));
        sqArray = sqRing + sqArrayOff;
        cqHead = cqRing + Syscalls.getInt(params + P_CQ_OFF + OFF_HEAD);
        cqTail = cqRing + Syscalls.getInt(params + P_CQ_OFF + OFF_TAIL);
        cqMask = Syscalls.getInt(cqRing + Syscalls.getInt(params + P_CQ_OFF + OFF_RING_MASK));
        cqes = cqRing + cqesOff;
        localTail = Syscalls.getInt(sqTail);
    }

    /**
     * Sets up a ring of at least {@code entries} SQEs (128 bytes each).
     *
     * @throws IllegalStateException with the errno when the kernel refuses (ENOSYS: no io_uring; EPERM: disabled
     *                               by {@code kernel.io_uring_disabled})
     */
    public static IoUring open(int entries) {
        // One thread submits and waits (single issuer), so the completion work the kernel queues for it can wait
        // until it asks for completions (deferred task work): no signal-like interruption per request. Kernels
        // before 6.1 refuse those flags: then plain.
        IllegalStateException refused = null;
        int[] tries = Boolean.getBoolean("fuseguard.uring.plain") ? new int[] {SETUP_SQE128}
                : new int[] {SETUP_SQE128 | SETUP_SINGLE_ISSUER | SETUP_DEFER_TASKRUN, SETUP_SQE128};
        for (int flags : tries) {
            long params = Syscalls.allocate(PARAMS_SIZE);
            try {
                Syscalls.putInt(params + P_FLAGS, flags);
                int fd = UringCalls.setup(powerOfTwo(entries), params);
                if (fd >= 0) {
                    return new IoUring(fd, params, flags);
                }
                refused = new IllegalStateException("io_uring_setup failed: errno " + -fd);
                if (fd != -Syscalls.EINVAL) {
                    break;
                }
            } finally {
                Syscalls.free(params);
            }
        }
        throw refused;
    }

    /** The setup flags the kernel took. */
    public int flags() {
        return flags;
    }

    /** SQEs the ring holds. */
    public int capacity() {
        return sqEntries;
    }

    /** SQEs written and not yet submitted. */
    public int pending() {
        return pending;
    }

    /**
     * The next free SQE, zeroed, or 0 when the submission ring is full (submit with {@link #enter} first).
     * {@link #push} publishes it.
     */
    public long nextSqe() {
        int head = Syscalls.getInt(sqHead);
        VarHandle.acquireFence();
        if (localTail - head >= sqEntries) {
            return 0;
        }
        long sqe = sqes + (long) SQE_SIZE * (localTail & sqMask);
        Syscalls.zero(sqe, SQE_SIZE);
        return sqe;
    }

    /** Publishes the SQE {@link #nextSqe} returned, after it was filled. */
    public void push() {
        int index = localTail & sqMask;
        Syscalls.putInt(sqArray + 4L * index, index);
        localTail++;
        VarHandle.releaseFence(); // the SQE and its index before the tail the kernel reads
        Syscalls.putInt(sqTail, localTail);
        pending++;
    }

    /**
     * Submits what was pushed and, with {@code wait}, waits until at least one completion is there. Returns what
     * was submitted or -errno (EINTR: a signal; nothing to do but call again).
     */
    public int enter(boolean wait) {
        int n = pending;
        int r = UringCalls.enter(fd, n, wait ? 1 : 0, wait ? ENTER_GETEVENTS : 0);
        if (r > 0) {
            pending -= Math.min(r, pending);
        }
        return r;
    }

    /** Completions waiting to be read. */
    public int ready() {
        int tail = Syscalls.getInt(cqTail);
        VarHandle.acquireFence();
        return tail - Syscalls.getInt(cqHead);
    }

    /** The address of the {@code i}-th waiting completion (0 is the oldest); valid until {@link #consume}. */
    public long cqe(int i) {
        int head = Syscalls.getInt(cqHead);
        return cqes + (long) CQE_SIZE * ((head + i) & cqMask);
    }

    /** Gives {@code n} read completions back to the kernel. */
    public void consume(int n) {
        int head = Syscalls.getInt(cqHead);
        VarHandle.releaseFence(); // done reading them before the kernel may reuse their slots
        Syscalls.putInt(cqHead, head + n);
    }

    /** The ring's descriptor. */
    public int fd() {
        return fd;
    }

    private void unmapAll() {
        if (sqes != 0) {
            UringCalls.unmap(sqes, sqesSize);
        }
        if (cqRing != 0 && cqRing != sqRing) {
            UringCalls.unmap(cqRing, cqRingSize);
        }
        if (sqRing != 0) {
            UringCalls.unmap(sqRing, sqRingSize);
        }
    }

    /** Unmaps the rings and closes the descriptor; the kernel cancels what is still pending. */
    @Override
    public void close() {
        unmapAll();
        Syscalls.close(fd);
    }
}
