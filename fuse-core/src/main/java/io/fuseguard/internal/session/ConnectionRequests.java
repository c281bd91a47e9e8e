package io.fuseguard.internal.session;

import io.fuseguard.api.Operation;
import io.fuseguard.internal.wire.Fuse;
import io.fuseguard.internal.wire.InitFlags;
import io.fuseguard.internal.state.StateJournal;

import java.nio.ByteBuffer;

import static io.fuseguard.internal.sys.Syscalls.EPROTO;

/**
 * Requests about the connection itself: INIT (the negotiation, and the filesystem's {@code init} under the
 * mount timeout) and FORGET/BATCH_FORGET (the kernel dropping node references).
 */
final class ConnectionRequests extends Requests {
    private volatile int protoMinor;

    ConnectionRequests(Requests.Shared shared) {
        super(shared);
    }

    void init(Worker w, Request r) {
        int major = r.i32(0);
        int minor = r.i32(4);
        int kernelReadahead = r.i32(8);
        int flags = r.i32(12);
        ByteBuffer o = w.out;
        for (int i = 0; i < Fuse.INIT_OUT; i += 8) {
            o.putLong(Fuse.OUT_HEADER + i, 0);
        }
        o.putInt(Fuse.OUT_HEADER, Fuse.KERNEL_VERSION);
        o.putInt(Fuse.OUT_HEADER + 4, Fuse.KERNEL_MINOR_VERSION);
        if (major > Fuse.KERNEL_VERSION) {
            replyOk(w, r, Fuse.INIT_OUT); // the kernel asks again with our major
            return;
        }
        if (major < 7 || minor < 12) {
            LOG.error("{}: the kernel speaks FUSE {}.{}; fuseguard needs 7.12 or newer", s.name(), major, minor);
            reply(w, r, EPROTO);
            return;
        }
        protoMinor = Math.min(minor, Fuse.KERNEL_MINOR_VERSION);
        int flags2 = (flags & Fuse.INIT_EXT) != 0 && r.end >= Fuse.IN_HEADER + 20 ? r.i32(16) : 0;
        long offered = Integer.toUnsignedLong(flags) | ((long) flags2 << 32);
        long granted = 0;
        if (opt.asyncRead()) {
            granted |= InitFlags.ASYNC_READ;
        }
        granted |= InitFlags.BIG_WRITES | InitFlags.PARALLEL_DIROPS;
        if (opt.atomicOTrunc()) {
            granted |= InitFlags.ATOMIC_O_TRUNC;
        }
        int maxWrite = opt.maxWrite();
        int maxPages = 0;
        if ((offered & InitFlags.MAX_PAGES) != 0) {
            granted |= InitFlags.MAX_PAGES;
            maxPages = Math.min(256, Math.max(1, (maxWrite + 4095) / 4096));
        } else {
            maxWrite = Math.min(maxWrite, 128 * 1024);
        }
        if (ops.implementsLocks()) {
            granted |= InitFlags.POSIX_LOCKS; // else the kernel keeps POSIX locks itself (LockRequests)
        }
        if (ops.implementsFlock()) {
            granted |= InitFlags.FLOCK_LOCKS;
        }
        long timeout = s.kernelRequestTimeoutSeconds();
        if (timeout > 65535 && (offered & InitFlags.REQUEST_TIMEOUT) != 0) {
            // Cut to the kernel's largest, the backstop would end the whole connection while a handler may still
            // legitimately run (a deadline beyond 18 h): better none.
            LOG.warn("No kernel request timeout: {} s (the longest deadline + 15 s) is beyond the kernel's largest, "
                    + "65535 s; a daemon frozen with a request it had read then holds its caller until "
                    + "'fuseguard guard' or an abort ends the connection", timeout);
            timeout = 0;
        }
        if (timeout > 0 && (offered & InitFlags.REQUEST_TIMEOUT) != 0) {
            // The kernel's backstop if this daemon dies (or freezes) with a request it had read: it ends the
            // connection after this long. A live fuseguard answers every request at its deadline, well before.
            granted |= InitFlags.REQUEST_TIMEOUT;
            o.putShort(Fuse.OUT_HEADER + 40, (short) timeout);
        }
        if (opt.readdirPlus()) {
            granted |= InitFlags.DO_READDIRPLUS | InitFlags.READDIRPLUS_AUTO; // the kernel picks plus when it pays
        }
        if (opt.writebackCache()) {
            granted |= InitFlags.WRITEBACK_CACHE;
        }
        granted |= s.passthrough.capability();
        if (s.ring() != null) {
            granted |= InitFlags.OVER_IO_URING; // the io_uring option, on a kernel with enable_uring set
        }
        granted &= offered; // a capability is used only when this kernel has it
        s.passthrough.negotiated(granted, minor);
        if ((granted & InitFlags.PASSTHROUGH) != 0) {
            o.putInt(Fuse.OUT_HEADER + Fuse.INIT_OUT_MAX_STACK_DEPTH, Passthrough.MAX_STACK_DEPTH);
        }
        if ((granted >>> 32) != 0) {
            granted |= InitFlags.INIT_EXT;
        }
        s.kernelTimeoutAccepted((granted & InitFlags.REQUEST_TIMEOUT) != 0);
        s.negotiated(new io.fuseguard.mount.KernelProtocol(major, minor, protoMinor,
                InitFlags.names(granted & ~InitFlags.INIT_EXT),
                InitFlags.names(offered & ~granted & ~InitFlags.INIT_EXT)));
        int out = (int) granted;
        o.putInt(Fuse.OUT_HEADER + 32, (int) (granted >>> 32));
        int readahead = opt.maxReadahead() >= 0 ? Math.min(opt.maxReadahead(), kernelReadahead) : kernelReadahead;
        o.putInt(Fuse.OUT_HEADER + 8, readahead);
        o.putInt(Fuse.OUT_HEADER + 12, out);
        o.putShort(Fuse.OUT_HEADER + 16, (short) Math.max(0, opt.maxBackground()));
        o.putShort(Fuse.OUT_HEADER + 18, (short) Math.max(0, opt.congestionThreshold()));
        o.putInt(Fuse.OUT_HEADER + 20, maxWrite);
        o.putInt(Fuse.OUT_HEADER + 24, 1); // time granularity: nanoseconds
        o.putShort(Fuse.OUT_HEADER + 28, (short) maxPages);
        // The filesystem's init runs before the answer, as in libfuse, under the mount timeout: a close() (a
        // SIGTERM during mount) or the timeout answers INIT in its place and the thread is given up.
        byte[] answer = new byte[Fuse.INIT_OUT];
        o.get(Fuse.OUT_HEADER, answer);
        Call c = w.call;
        long now = System.nanoTime();
        c.unique = r.unique;
        c.opcode = r.opcode;
        c.fd = r.fd;
        c.operation = Operation.GETATTR;
        c.path = "/";
        c.pid = r.pid;
        c.startNanos = now;
        c.deadlineNanos = now + s.config().mount().mountTimeout().toNanos();
        c.handle = null;
        w.context.begin(Operation.GETATTR, "/", 0, 0, 0, 0, c.deadlineNanos);
        c.start();
        try {
            ops.init(w.context, major, protoMinor, maxWrite, readahead);
        } finally {
            w.context.end();
        }
        boolean mine = c.finish();
        c.idle();
        if (!mine) {
            return;
        }
        o.put(Fuse.OUT_HEADER, answer);
        StateJournal journal = s.journal();
        if (journal != null) {
            // recorded before the answer: a worker that takes over must not wait for an INIT that never comes
            journal.init(new StateJournal.Init(major, minor, protoMinor, granted, offered, maxWrite, readahead,
                    (granted & InitFlags.REQUEST_TIMEOUT) != 0));
        }
        replyOk(w, r, Fuse.INIT_OUT);
        RingRequests ring = s.ring();
        if (ring != null) {
            ring.initAnswered((granted & InitFlags.OVER_IO_URING) != 0, maxWrite, maxPages);
        }
        s.passthrough.afterInit(granted);
        s.markInitialized();
    }

    /**
     * A worker that takes over a supervised connection: INIT was answered by the first worker; its outcome comes
     * from the state journal, and the filesystem's own {@code init} runs here (this process's instance of it).
     */
    void resumed(StateJournal.Init init, io.fuseguard.internal.ops.OpContext ctx) {
        protoMinor = init.minor();
        s.kernelTimeoutAccepted(init.requestTimeout());
        s.negotiated(new io.fuseguard.mount.KernelProtocol(init.kernelMajor(), init.kernelMinor(), init.minor(),
                InitFlags.names(init.granted() & ~InitFlags.INIT_EXT),
                InitFlags.names(init.offered() & ~init.granted() & ~InitFlags.INIT_EXT)));
        ctx.begin(Operation.GETATTR, "/", 0, 0, 0, 0, System.nanoTime() + s.config().mount().mountTimeout().toNanos());
        try {
            ops.init(ctx, init.kernelMajor(), init.minor(), init.maxWrite(), init.readahead());
        } finally {
            ctx.end();
        }
        s.markInitialized();
    }

    void batchForget(Request r) {
        int count = r.i32(0);
        int at = 8;
        for (int i = 0; i < count && Fuse.IN_HEADER + at + 16 <= r.end; i++, at += 16) {
            nodes.forget(r.i64(at), r.i64(at + 8));
        }
    }

}
