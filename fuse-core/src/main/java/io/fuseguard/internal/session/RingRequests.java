package io.fuseguard.internal.session;

import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.uring.FuseRing;
import io.fuseguard.internal.uring.RingLayout;
import io.fuseguard.internal.wire.Fuse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedTransferQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * The request source of a mount served over io_uring ({@code io_uring} option): request threads take requests
 * here instead of reading /dev/fuse, and answers to requests that came on a ring entry are committed on that
 * entry instead of written to /dev/fuse. Everything else is unchanged: the same threads run the same dispatch under
 * the same watchdog, lanes and interrupt handling, because a request looks the same whichever way it came (the
 * ring's parts are laid out as /dev/fuse would have delivered them) and every answer still goes through
 * {@code Session.send}/{@code sendError}, which ask here first.
 *
 * <p>What the kernel still sends through /dev/fuse (INIT, and after it FORGET and INTERRUPT, and requests queued
 * before the ring was ready) is read by one reader thread of its own and handed over the same way. Exactly one
 * answer per ring request: the answer takes the request's entry out of {@link #pending} before it touches the
 * entry, so a second answer (a handler returning after the watchdog answered) finds nothing and goes to /dev/fuse,
 * where the kernel refuses it as it refuses any answer to a request it no longer waits for.
 */
final class RingRequests {
    private static final Log LOG = Log.of(RingRequests.class);
    static final Path ENABLE_URING = Path.of("/sys/module/fuse/parameters/enable_uring");
    private static final Object END = new Object();
    /** Most ring entries per queue: how many requests of one CPU's callers may be in the daemon at once. */
    private static final int MAX_PER_QUEUE = 16;
    /**
     * Most /dev/fuse messages read and not yet taken by a request thread: without request threads to take them
     * (all in handlers) the reader stops reading, and the kernel keeps the rest, as it does without io_uring.
     */
    private static final int MAX_UNTAKEN = 256;

    /** A message read from /dev/fuse, in a buffer of the reader's pool. */
    private static final class DevMessage {
        final long address;
        int length;

        DevMessage(int capacity) {
            address = Syscalls.mapAnonymous(capacity);
        }
    }

    private final Session s;
    private final int capacity;
    private final LinkedTransferQueue<Object> arrivals = new LinkedTransferQueue<>();
    private final ConcurrentHashMap<Long, FuseRing.Entry> pending = new ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<DevMessage> free = new ConcurrentLinkedQueue<>();
    private final LongAdder ringAnswers = new LongAdder();
    private final java.util.concurrent.Semaphore untaken = new java.util.concurrent.Semaphore(MAX_UNTAKEN);
    private final AtomicBoolean layoutLogged = new AtomicBoolean();
    private volatile FuseRing ring;
    private volatile long endCode;
    private volatile String state = "waiting for INIT";
    private Thread reader;

    private RingRequests(Session s, int capacity) {
        this.s = s;
        this.capacity = capacity;
    }

    /**
     * The io_uring source for a session whose options ask for it, or null (said in one INFO line) when this
     * kernel cannot give it: then the session reads /dev/fuse as without the option.
     */
    static RingRequests forSession(Session s, int capacity) {
        String why = unavailable();
        if (why != null) {
            LOG.info("{}: io_uring was asked for but is not used ({}); requests come through /dev/fuse", s.name(),
                    why);
            return null;
        }
        return new RingRequests(s, capacity);
    }

    /** Why this machine cannot serve FUSE over io_uring, or null. fuseguard never changes enable_uring itself. */
    static String unavailable() {
        if (!Files.exists(ENABLE_URING)) {
            return "this kernel has no FUSE over io_uring (Linux 6.14+ with CONFIG_FUSE_IO_URING)";
        }
        try {
            String v = Files.readString(ENABLE_URING).trim();
            if (!v.equals("Y") && !v.equals("1")) {
                return "the fuse module's enable_uring parameter is " + v + " (an administrator sets it: echo Y > "
                        + ENABLE_URING + ")";
            }
        } catch (java.io.IOException e) {
            return "cannot read " + ENABLE_URING + ": " + e.getMessage();
        }
        return null;
    }

    /** Starts the /dev/fuse reader (before any request thread takes requests). */
    void start() {
        reader = new Thread(this::readDevice, "fuseguard-" + s.name() + "-dev");
        reader.setDaemon(true);
        reader.start();
    }

    private void readDevice() {
        try {
            while (true) {
                untaken.acquireUninterruptibly();
                DevMessage m = free.poll();
                if (m == null) {
                    m = new DevMessage(capacity);
                }
                long n = Syscalls.read(s.fd(), m.address, capacity);
                if (n > 0) {
                    m.length = (int) n;
                    arrivals.add(m);
                    continue;
                }
                free.add(m);
                untaken.release();
                if (n == -Syscalls.EINTR || n == -Syscalls.EAGAIN || n == -Syscalls.ENOENT) {
                    continue;
                }
                endCode = n;
                arrivals.add(END);
                FuseRing r = ring;
                if (r != null) {
                    r.stop(); // the connection ended: the kernel has ended the ring's entries too
                }
                state = "ended";
                return;
            }
        } catch (Throwable e) {
            s.fatal(e, "the /dev/fuse reader");
            endCode = -Syscalls.EIO;
            arrivals.add(END);
        }
    }

    /**
     * INIT was answered with FUSE_OVER_IO_URING granted: registers the ring's entries (the kernel accepts them
     * only now). The kernel uses the ring once every queue has an entry; until then requests keep coming through
     * /dev/fuse. A ring the kernel refuses is said once and /dev/fuse carries on.
     */
    void initAnswered(boolean granted, int maxWrite, int maxPages) {
        if (!granted) {
            state = "not offered by the kernel at INIT";
            LOG.info("{}: the kernel did not offer FUSE over io_uring at INIT; requests come through /dev/fuse",
                    s.name());
            return;
        }
        int queues = FuseRing.possibleCpus();
        int perQueue = Math.max(2, Math.min(MAX_PER_QUEUE, s.config().guard().workerThreads()));
        FuseRing r = new FuseRing(s.name(), s.fd(), queues, perQueue, RingLayout.payloadSize(maxWrite, maxPages),
                arrivals::add, e -> s.fatal(e, "the io_uring thread"));
        ring = r;
        try {
            r.start();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        String failure = r.failure();
        if (failure != null) {
            r.stop();
            ring = null;
            state = "refused: " + failure;
            LOG.info("{}: FUSE over io_uring could not start ({}); requests come through /dev/fuse", s.name(),
                    failure);
            return;
        }
        state = "active, " + r.shape();
        LOG.info("{}: FUSE over io_uring: {}", s.name(), r.shape());
    }

    /**
     * The next request for a request thread, laid out in its input buffer as /dev/fuse delivers it: its length,
     * 0 or -errno at the end of the connection, -EINTR when the thread was interrupted while it waited.
     */
    long take(Worker w) {
        Object a;
        try {
            a = arrivals.take();
        } catch (InterruptedException e) {
            return -Syscalls.EINTR; // a handler interrupt left over from the thread's last request
        }
        if (a == END) {
            arrivals.add(END); // for every other thread too
            return endCode;
        }
        if (a instanceof DevMessage m) {
            int n = m.length;
            Syscalls.copy(m.address, w.inAddress, n);
            free.add(m);
            untaken.release();
            return n;
        }
        FuseRing.Entry e = (FuseRing.Entry) a;
        int len = Syscalls.getInt(e.header + RingLayout.HEADER_IN_OUT);
        int payload = Syscalls.getInt(e.header + RingLayout.ENT_PAYLOAD_SZ);
        int op = RingLayout.opHeaderLength(len, payload);
        pending.put(e.unique, e);
        if (op < 0 || len > w.buffers.inCapacity) {
            if (layoutLogged.compareAndSet(false, true)) {
                LOG.warn("{}: a request on io_uring entry {} does not fit (len {}, payload {}); answered EIO",
                        s.name(), e.index, len, payload);
            }
            answerError(e.unique, Syscalls.EIO);
            return -Syscalls.EAGAIN;
        }
        Syscalls.copy(e.header + RingLayout.HEADER_IN_OUT, w.inAddress, Fuse.IN_HEADER);
        Syscalls.copy(e.header + RingLayout.HEADER_OP_IN, w.inAddress + Fuse.IN_HEADER, op);
        Syscalls.copy(e.payload, w.inAddress + Fuse.IN_HEADER + op, payload);
        if (withoutAnswer(Syscalls.getInt(e.header + RingLayout.HEADER_IN_OUT + Fuse.H_OPCODE))) {
            // Nothing will answer it, but its entry waits for a commit before it takes the next request (the
            // kernel drops the empty answer): committed now that the request is copied out.
            answerError(e.unique, 0);
        }
        return len;
    }

    /**
     * Commits the answer in {@code out} (an out header and {@code length - 16} bytes of payload) on the ring
     * entry request {@code unique} came on: true when it came on one (answered here), false when the answer goes
     * to /dev/fuse.
     */
    boolean answer(long unique, long out, int length) {
        FuseRing.Entry e = pending.remove(unique);
        if (e == null) {
            return false;
        }
        int payload = length - Fuse.OUT_HEADER;
        if (payload > e.payloadSize) {
            putError(e, unique, Syscalls.EIO); // cannot happen with the negotiated sizes; never overrun the entry
        } else {
            Syscalls.copy(out, e.header + RingLayout.HEADER_IN_OUT, Fuse.OUT_HEADER);
            if (payload > 0) {
                Syscalls.copy(out + Fuse.OUT_HEADER, e.payload, payload);
            }
            Syscalls.putInt(e.header + RingLayout.ENT_PAYLOAD_SZ, payload);
        }
        commit(e);
        return true;
    }

    /**
     * Commits an error answer for {@code unique} if it came on a ring entry (errno 0: an empty answer); false
     * otherwise.
     */
    boolean answerError(long unique, int errno) {
        FuseRing.Entry e = pending.remove(unique);
        if (e == null) {
            return false;
        }
        putError(e, unique, errno);
        commit(e);
        return true;
    }

    /** Requests the kernel expects no answer to (on a ring entry: NOTIFY_REPLY, the retrieve's data). */
    private static boolean withoutAnswer(int opcode) {
        return opcode == Fuse.NOTIFY_REPLY || opcode == Fuse.FORGET || opcode == Fuse.BATCH_FORGET
                || opcode == Fuse.INTERRUPT;
    }

    private static void putError(FuseRing.Entry e, long unique, int errno) {
        long h = e.header + RingLayout.HEADER_IN_OUT;
        Syscalls.putInt(h, Fuse.OUT_HEADER);
        Syscalls.putInt(h + 4, -errno);
        Syscalls.storeLong(h + 8, unique);
        Syscalls.putInt(e.header + RingLayout.ENT_PAYLOAD_SZ, 0);
    }

    private void commit(FuseRing.Entry e) {
        ringAnswers.increment();
        FuseRing r = ring;
        if (r != null) {
            r.commit(e);
        }
    }

    /** Requests that came on ring entries. */
    long ringRequests() {
        FuseRing r = ring;
        return r == null ? 0 : r.delivered();
    }

    /** Answers committed on ring entries. */
    long ringAnswers() {
        return ringAnswers.sum();
    }

    /** Whether requests come on the ring. */
    boolean active() {
        FuseRing r = ring;
        return r != null && r.failure() == null && r.liveEntries() > 0;
    }

    /** A line for status output: active and its shape, or why not. */
    String state() {
        return state;
    }

    /** Ends the ring when the session's device goes (the connection has ended, or is left to others). */
    void stop() {
        FuseRing r = ring;
        if (r != null) {
            r.stop();
        }
    }
}
