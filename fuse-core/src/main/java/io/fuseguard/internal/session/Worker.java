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
    /** Whether this worker's lane slot and place among the live threads were given up when it got stuck. */
    volatile boolean stuck;

    Worker(Session session, WorkerBuffers buffers, int number) {
        super("fuseguard-" + session.name() + "-" + number);
        setDaemon(true); // a stuck handler must never keep the JVM alive
        this.session = session;
        this.buffers = buffers;
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
        } finally {
            session.workerExited(this);
        }
    }

    /** Reads one request into {@link #in}: its length, 0 at the end of the connection, or -errno. */
    long read() {
        return Syscalls.read(session.fd(), inAddress, buffers.inCapacity);
    }
}
