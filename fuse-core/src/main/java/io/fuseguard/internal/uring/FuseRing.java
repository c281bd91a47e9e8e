package io.fuseguard.internal.uring;

import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.sys.Syscalls;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

import static io.fuseguard.internal.uring.RingLayout.*;

/**
 * FUSE over io_uring for one connection: ring entries (a header area and a payload buffer each) registered with
 * the kernel for every queue it has (one per possible CPU; the ring is used only once each has one), requests
 * delivered on them, answers committed on the entry that carried the request, which then waits for the next.
 *
 * <p>One thread of its own, the ring thread, makes every submission and reads every completion, and runs no
 * handler. That is deliberate: the kernel delivers a request to an entry by running work on the task that
 * submitted the entry's command, and cancels a task's commands when it exits. Were handler threads to submit, a
 * request could wait on a thread stuck in a handler (in the worst case on a thread waiting, uninterruptibly, for
 * that very request) and a thread that ends would take its entries with it. Request threads hand their answers
 * to the ring thread ({@link #commit}) and wake it through an eventfd it always has a read pending on.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class FuseRing {
    private static final Log LOG = Log.of(FuseRing.class);
    private static final long WAKE_TAG = -1L;

    /**
     * A ring entry: where the kernel writes a request and where its answer goes. Between its delivery and its
     * {@link #commit} the entry belongs to whoever handles the request; nobody else touches its memory.
     */
    public static final class Entry {
        /** Its index among the ring's entries (the completions' user data). */
        public final int index;
        /** The queue it serves. */
        public final int qid;
        /** struct fuse_uring_req_header. */
        public final long header;
        /** The payload buffer. */
        public final long payload;
        /** The payload buffer's size. */
        public final int payloadSize;
        /** The unique of the request it carries now (valid from its delivery to its commit). */
        public volatile long unique;
        final long iovec;
        boolean dead;
        int lastCommand;

        Entry(int index, int qid, int payloadSize) {
            this.index = index;
            this.qid = qid;
            this.payloadSize = payloadSize;
            // Mapped once, never unmapped: a late answer from a thread the watchdog gave up on writes only here.
            this.header = Syscalls.mapAnonymous(HEADER_SIZE);
            this.payload = Syscalls.mapAnonymous(payloadSize);
            this.iovec = Syscalls.allocate(32);
            Syscalls.putAddress(iovec, header);
            Syscalls.storeLong(iovec + 8, HEADER_SIZE);
            Syscalls.putAddress(iovec + 16, payload);
            Syscalls.storeLong(iovec + 24, payloadSize);
        }
    }

    private final String name;
    private final int devFd;
    private final Entry[] entries;
    private final Consumer<Entry> delivery;
    /**
     * Told when the ring thread fails once the ring serves: the kernel then sends requests to entries nobody
     * reads, so the mount must end (as after an error in any of fuseguard's own threads).
     */
    private final Consumer<Throwable> fatal;
    private final ConcurrentLinkedQueue<Entry> commits = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean wakePending = new AtomicBoolean();
    private final LongAdder delivered = new LongAdder();
    private final LongAdder reregistered = new LongAdder();
    private final CountDownLatch started = new CountDownLatch(1);
    private final int queues;
    private final int perQueue;
    private volatile boolean stopping;
    /**
     * Whether the ring thread is between waits (it reads the commit queue before it waits again): a commit then
     * needs no wake-up. Volatile on both sides (the thread clears it and reads the queue, a committer adds and
     * reads it), so one of the two always sees the other.
     */
    private volatile boolean awake;
    private volatile String failure;
    private volatile int live;
    private volatile int wakeFd = -1;
    private long wakeBuffer;
    private Thread thread;
    private volatile int setupFlags;

    /**
     * A ring for the connection whose device is {@code devFd}: {@code perQueue} entries for each of
     * {@code queues} queues, each with a payload buffer of {@code payloadSize} bytes; {@code delivery} gets every
     * entry that a request arrived on (on the ring thread: it must only hand the entry on).
     */
    public FuseRing(String name, int devFd, int queues, int perQueue, int payloadSize, Consumer<Entry> delivery,
                    Consumer<Throwable> fatal) {
        this.name = name;
        this.fatal = fatal;
        this.devFd = devFd;
        this.queues = queues;
        this.perQueue = perQueue;
        this.delivery = delivery;
        this.entries = new Entry[queues * perQueue];
        for (int q = 0; q < queues; q++) {
            for (int i = 0; i < perQueue; i++) {
                int index = q * perQueue + i;
                entries[index] = new Entry(index, q, payloadSize);
            }
        }
    }

    /** The kernel's queue count: one per possible CPU (/sys/devices/system/cpu/possible), at least one. */
    public static int possibleCpus() {
        try {
            String s = java.nio.file.Files.readString(java.nio.file.Path.of("/sys/devices/system/cpu/possible"))
                    .trim();
            int n = 0;
            for (String part : s.split(",")) {
                int dash = part.indexOf('-');
                n += dash < 0 ? 1 : Integer.parseInt(part.substring(dash + 1)) - Integer.parseInt(part.substring(0,
                        dash)) + 1;
            }
            return Math.max(1, n);
        } catch (java.io.IOException | RuntimeException e) {
            return Math.max(1, Runtime.getRuntime().availableProcessors());
        }
    }

    /**
     * Starts the ring thread, which sets the ring up and registers every entry; returns once that was submitted,
     * or with the reason it could not be ({@link #failure}).
     */
    public void start() throws InterruptedException {
        thread = new Thread(this::run, "fuseguard-uring-" + name);
        thread.setDaemon(true);
        thread.start();
        started.await(5, TimeUnit.SECONDS);
    }

    /** Why the ring does not work (setup, or the kernel refused a registration), or null. */
    public String failure() {
        return failure;
    }

    /** Requests delivered on ring entries so far. */
    public long delivered() {
        return delivered.sum();
    }

    /** Entries registered again after the kernel refused a commit on them. */
    public long reregistered() {
        return reregistered.sum();
    }

    /** Entries the kernel still serves (registered, not ended by the connection's end). */
    public int liveEntries() {
        return live;
    }

    /** The number of queues and of entries per queue. */
    public String shape() {
        return queues + " queues x " + perQueue + " entries"
                + ((setupFlags & SETUP_DEFER_TASKRUN) != 0 ? ", deferred task work" : "");
    }

    /**
     * Commits the answer the caller wrote into {@code e} (its out header in the header area, payload_sz set, the
     * payload in the payload buffer): the ring thread submits it, and the entry then waits for the next request.
     * Call exactly once per delivery.
     */
    public void commit(Entry e) {
        commits.add(e);
        if (!awake && !wakePending.getAndSet(true)) {
            wake();
        }
    }

    private void wake() {
        Syscalls.write(wakeFd, ONE, 8);
    }

    /** An eventfd increment of 1, shared read-only by every thread that wakes a ring thread. */
    private static final long ONE = one();

    private static long one() {
        long b = Syscalls.allocate(8);
        Syscalls.storeLong(b, 1);
        return b;
    }

    /** Stops the ring thread (the kernel then cancels what it had pending) and waits a moment for it. */
    public void stop() {
        stopping = true;
        if (wakeFd >= 0) {
            wake();
        }
        Thread t = thread;
        if (t != null && t != Thread.currentThread()) {
            try {
                t.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void run() {
        IoUring ring;
        try {
            wakeFd = UringCalls.eventfd();
            if (wakeFd < 0) {
                throw new IllegalStateException("eventfd failed: errno " + -wakeFd);
            }
            wakeBuffer = Syscalls.allocate(8);
            ring = IoUring.open(entries.length * 2 + 2);
            setupFlags = ring.flags();
        } catch (RuntimeException | LinkageError e) {
            failure = e.getMessage();
            started.countDown();
            return;
        }
        try {
            armWake(ring);
            for (Entry e : entries) {
                queueCommand(ring, e, FUSE_CMD_REGISTER);
            }
            live = entries.length;
            int r = submitAll(ring);
            if (r < 0) {
                failure = "io_uring_enter failed: errno " + -r;
                return;
            }
            reap(ring); // a registration the kernel refuses completes at once, with its errno
            started.countDown();
            if (failure == null) {
                loop(ring);
            }
        } catch (RuntimeException | Error e) {
            boolean serving = failure == null && started.getCount() == 0;
            failure = String.valueOf(e);
            LOG.error("{}: the io_uring thread failed: {}", name, e.toString());
            if (serving && !stopping) {
                fatal.accept(e);
            }
        } finally {
            started.countDown();
            ring.close();
            Syscalls.close(wakeFd);
        }
    }

    private void loop(IoUring ring) {
        while (!stopping) {
            drainCommits(ring);
            awake = false;
            if (!commits.isEmpty()) {
                awake = true; // committed meanwhile, without a wake-up: queue it before waiting
                continue;
            }
            int r = ring.enter(true); // submits what was queued, then waits for a completion
            awake = true;
            if (r < 0 && r != -Syscalls.EINTR && r != -Syscalls.EAGAIN && r != -Syscalls.EBUSY) {
                throw new IllegalStateException("io_uring_enter failed: errno " + -r);
            }
            reap(ring);
            if (live == 0) {
                return; // the connection ended: nothing will arrive any more
            }
        }
    }

    private void drainCommits(IoUring ring) {
        Entry e;
        while ((e = commits.poll()) != null) {
            if (!e.dead) {
                queueCommand(ring, e, FUSE_CMD_COMMIT_AND_FETCH);
            }
        }
    }

    private void reap(IoUring ring) {
        int n = ring.ready();
        for (int i = 0; i < n; i++) {
            long cqe = ring.cqe(i);
            long tag = Syscalls.getLong(cqe + CQE_USER_DATA);
            int res = Syscalls.getInt(cqe + CQE_RES);
            if (tag == WAKE_TAG) {
                wakePending.set(false); // before the commits are read: a commit queued later wakes again
                armWake(ring);
                continue;
            }
            Entry e = entries[(int) tag];
            if (res == 0) {
                e.unique = Syscalls.getLong(e.header + HEADER_IN_OUT + 8);
                delivered.increment();
                delivery.accept(e);
            } else if (res == -Syscalls.ENOTCONN || res == -Syscalls.ECONNABORTED || res == -125 /* ECANCELED */) {
                if (!e.dead) {
                    e.dead = true;
                    live--;
                }
            } else if (e.lastCommand == FUSE_CMD_REGISTER) {
                if (res == -Syscalls.EAGAIN && !stopping) {
                    queueCommand(ring, e, FUSE_CMD_REGISTER); // INIT's answer not processed yet
                    continue;
                }
                if (!e.dead) {
                    e.dead = true;
                    live--;
                }
                if (failure == null) {
                    failure = "the kernel refused to register an io_uring entry: errno " + -res
                            + (res == -Syscalls.EOPNOTSUPP ? " (enable_uring is off)" : "");
                    LOG.warn("{}: {}", name, failure);
                }
            } else {
                // The kernel refused the command (a commit it could not match, say): the entry is no longer in
                // its lists, so it is registered again rather than lost.
                LOG.warn("{}: the kernel refused a command on io_uring entry {} (queue {}): errno {}; registered "
                        + "again", name, e.index, e.qid, -res);
                reregistered.increment();
                queueCommand(ring, e, FUSE_CMD_REGISTER);
            }
        }
        ring.consume(n);
    }

    private void armWake(IoUring ring) {
        long sqe = sqe(ring);
        Syscalls.putInt(sqe + SQE_OPCODE, OP_READ); // opcode, flags, ioprio: 0
        Syscalls.putInt(sqe + SQE_FD, wakeFd);
        Syscalls.storeLong(sqe + SQE_ADDR, wakeBuffer);
        Syscalls.putInt(sqe + SQE_LEN, 8);
        Syscalls.storeLong(sqe + SQE_USER_DATA, WAKE_TAG);
        ring.push();
    }

    private void queueCommand(IoUring ring, Entry e, int command) {
        long sqe = sqe(ring);
        Syscalls.putInt(sqe + SQE_OPCODE, OP_URING_CMD);
        Syscalls.putInt(sqe + SQE_FD, devFd);
        Syscalls.putInt(sqe + SQE_OFF, command);
        if (command == FUSE_CMD_REGISTER) {
            Syscalls.storeLong(sqe + SQE_ADDR, e.iovec);
            Syscalls.putInt(sqe + SQE_LEN, 2);
        } else {
            Syscalls.storeLong(sqe + SQE_CMD + CMD_COMMIT_ID, e.unique);
        }
        Syscalls.putInt(sqe + SQE_CMD + CMD_QID, e.qid);
        Syscalls.storeLong(sqe + SQE_USER_DATA, e.index);
        e.lastCommand = command;
        ring.push();
    }

    /** A free SQE, submitting what is queued first when the ring is full. */
    private long sqe(IoUring ring) {
        long sqe = ring.nextSqe();
        while (sqe == 0) {
            int r = ring.enter(false);
            if (r < 0 && r != -Syscalls.EINTR && r != -Syscalls.EAGAIN && r != -Syscalls.EBUSY) {
                throw new IllegalStateException("io_uring_enter failed: errno " + -r);
            }
            sqe = ring.nextSqe();
        }
        return sqe;
    }

    private int submitAll(IoUring ring) {
        while (ring.pending() > 0) {
            int r = ring.enter(false);
            if (r < 0 && r != -Syscalls.EINTR && r != -Syscalls.EAGAIN) {
                return r;
            }
        }
        return 0;
    }
}
