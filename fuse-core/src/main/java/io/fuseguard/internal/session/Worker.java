package io.fuseguard.internal.session;

import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;

/**
 * A request thread: reads a request from /dev/fuse, runs its handler right here (no hand-off to another
 * thread), writes the answer, and reads the next one. It owns its buffers for its whole life, so a handler that
 * is still running after the watchdog answered its request keeps using memory nobody else touches.
 */
final class Worker extends Thread implements OpContext.Owner {
    final Session session;
    final WorkerBuffers buffers;
    final ByteBuffer in;
    final long inAddress;
    final ByteBuffer out;
    final long outAddress;
    /** The reply's data area (after the header), for READ. */
    final ByteBuffer replyData;
    /** A WRITE's data, read-only. */
    final ByteBuffer writeData;
    final Call call = new Call();
    final OpContext context = new OpContext();
    final Request request = new Request();
    /** The device descriptor the request being handled came from: its answers go there. */
    int replyFd;
    /** The nodes a READDIRPLUS answer counted, to uncount if the kernel does not take it (grows when needed). */
    long[] plusNodes = new long[64];
    /**
     * The unique of the request this thread has read and not yet begun to dispatch (0 when none): a removal that
     * finds its file open waits for an earlier-read RELEASE to be counted (see {@code Session.awaitEarlierReads}).
     */
    volatile long justRead;
    /** Whether this worker's lane slot and place among the live threads were given up when it got stuck. */
    volatile boolean stuck;
    final Role role;

    /** What a request thread does. */
    enum Role {
        /** Reads requests and runs their handlers. */
        WORKER,
        /** Reads only while no other thread can, and runs no handler (see {@code Session.standBy}). */
        SENTINEL,
        /** Runs what waits in the lanes, then ends. */
        DRAINER
    }

    Worker(Session session, WorkerBuffers buffers, int number, Role role) {
        super("fuseguard-" + session.name() + (role == Role.SENTINEL ? "-sentinel" : "-" + number));
        this.role = role;
        setDaemon(true); // a stuck handler must never keep the JVM alive
        this.session = session;
        this.buffers = buffers;
        this.replyFd = buffers.fd; // until a request read elsewhere says otherwise
        this.in = buffers.in;
        this.inAddress = buffers.inAddress;
        this.out = buffers.out;
        this.outAddress = buffers.outAddress;
        this.replyData = out.duplicate().position(Fuse.OUT_HEADER).slice();
        this.writeData = in.duplicate().position(Fuse.WRITE_DATA).slice().asReadOnlyBuffer();
    }

    @Override
    public OpContext opContext() {
        return context;
    }

    @Override
    public void run() {
        try {
            session.serve(this);
        } catch (Throwable e) {
            session.fatal(e, getName()); // handlers' errors are answered EIO; this one is fuseguard's own
        } finally {
            session.workerExited(this);
        }
    }

    /** Reads one request into {@link #in}: its length, 0 at the end of the connection, or -errno. */
    long read() {
        RingRequests ring = session.ring();
        if (ring != null) {
            return ring.take(this); // io_uring: requests are handed over, from the ring and from /dev/fuse
        }
        return Syscalls.read(buffers.fd, inAddress, buffers.inCapacity);
    }
}
