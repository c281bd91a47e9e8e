package io.fuseguard.internal.session;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.DirListing;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.tree.NodeTable;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

import static io.fuseguard.internal.sys.Syscalls.EBADF;
import static io.fuseguard.internal.sys.Syscalls.EDEADLK;
import static io.fuseguard.internal.sys.Syscalls.EILSEQ;
import static io.fuseguard.internal.sys.Syscalls.EINTR;
import static io.fuseguard.internal.sys.Syscalls.EINVAL;
import static io.fuseguard.internal.sys.Syscalls.EIO;
import static io.fuseguard.internal.sys.Syscalls.ENOENT;
import static io.fuseguard.internal.sys.Syscalls.ENOSYS;
import static io.fuseguard.internal.sys.Syscalls.ENOTCONN;
import static io.fuseguard.internal.sys.Syscalls.EPERM;
import static io.fuseguard.internal.sys.Syscalls.EPROTO;
import static io.fuseguard.internal.sys.Syscalls.ERANGE;

/**
 * Turns FUSE requests into calls of the path-based operation table and their results into answers, the way
 * libfuse's high-level layer does (node ids to paths, entry and attribute caching times, hiding of unlinked
 * open files, directory listings by offset), under fuseguard's guards: the request's deadline, kernel interrupts,
 * answer-once, the self-access policy and the flush policy.
 */
final class Dispatcher {
    private static final Log LOG = Log.of(Dispatcher.class);
    private static final int S_IFMT = 0170000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFDIR = 0040000;
    private static final int O_CREAT_EXCL_WRONLY = 0100 | 0200 | 01;

    private final Session s;
    private final FsOps ops;
    private final NodeTable nodes;
    private final MountOptions opt;
    private final EventReporter events;
    private final io.fuseguard.metrics.MountMetrics metrics;
    private final FlushPolicy policy;
    private final boolean deferredFlush;
    private final long entrySec;
    private final int entryNsec;
    private final long attrSec;
    private final int attrNsec;
    private final long negativeSec;
    private final int negativeNsec;
    private final boolean negativeCaching;
    private final int daemonUid = Syscalls.getuid();
    private final int daemonGid = Syscalls.getgid();
    private final boolean debug;
    private final AtomicLong flushRequests = new AtomicLong();
    private final java.util.Set<String> lateLogged = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final java.util.concurrent.atomic.AtomicBoolean overtakeLogged = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile int protoMinor;

    Dispatcher(Session s, FsOps ops, FuseguardConfig config, MountOptions opt, EventReporter events,
               io.fuseguard.metrics.MountMetrics metrics) {
        this.s = s;
        this.metrics = metrics;
        this.ops = ops;
        this.nodes = s.nodes;
        this.opt = opt;
        this.events = events;
        this.policy = config.guard().flushPolicy();
        this.deferredFlush = policy == FlushPolicy.DEFERRED && ops.implementsFlush();
        this.entrySec = (long) opt.entryTimeout();
        this.entryNsec = nanos(opt.entryTimeout());
        this.attrSec = (long) opt.attrTimeout();
        this.attrNsec = nanos(opt.attrTimeout());
        this.negativeSec = (long) opt.negativeTimeout();
        this.negativeNsec = nanos(opt.negativeTimeout());
        this.negativeCaching = opt.negativeTimeout() > 0;
        this.debug = config.mount().debug();
    }

    private static int nanos(double seconds) {
        return (int) Math.round((seconds - Math.floor(seconds)) * 1e9) % 1_000_000_000;
    }

    long flushRequests() {
        return flushRequests.get();
    }

    static Operation operationOf(int opcode) {
        return switch (opcode) {
            case Fuse.LOOKUP -> Operation.LOOKUP;
            case Fuse.GETATTR -> Operation.GETATTR;
            case Fuse.SETATTR -> Operation.CHMOD;
            case Fuse.READLINK -> Operation.READLINK;
            case Fuse.SYMLINK -> Operation.SYMLINK;
            case Fuse.MKNOD -> Operation.MKNOD;
            case Fuse.MKDIR -> Operation.MKDIR;
            case Fuse.UNLINK -> Operation.UNLINK;
            case Fuse.RMDIR -> Operation.RMDIR;
            case Fuse.RENAME, Fuse.RENAME2 -> Operation.RENAME;
            case Fuse.LINK -> Operation.LINK;
            case Fuse.OPEN -> Operation.OPEN;
            case Fuse.READ -> Operation.READ;
            case Fuse.WRITE -> Operation.WRITE;
            case Fuse.STATFS -> Operation.STATFS;
            case Fuse.RELEASE -> Operation.RELEASE;
            case Fuse.FSYNC -> Operation.FSYNC;
            case Fuse.FALLOCATE -> Operation.FALLOCATE;
            case Fuse.SETXATTR -> Operation.SETXATTR;
            case Fuse.GETXATTR -> Operation.GETXATTR;
            case Fuse.LISTXATTR -> Operation.LISTXATTR;
            case Fuse.REMOVEXATTR -> Operation.REMOVEXATTR;
            case Fuse.FLUSH -> Operation.FLUSH;
            case Fuse.OPENDIR -> Operation.OPENDIR;
            case Fuse.READDIR -> Operation.READDIR;
            case Fuse.RELEASEDIR -> Operation.RELEASEDIR;
            case Fuse.FSYNCDIR -> Operation.FSYNCDIR;
            case Fuse.ACCESS -> Operation.ACCESS;
            case Fuse.CREATE -> Operation.CREATE;
            default -> Operation.GETATTR;
        };
    }

    // ---- entry points --------------------------------------------------------------------------------------

    void dispatch(Worker w, Request r) {
        if (debug) {
            System.err.printf("fuseguard: unique %d %s node %d pid %d len %d%n", r.unique, Fuse.name(r.opcode),
                    r.nodeid, r.pid, r.length);
        }
        switch (r.opcode) {
            case Fuse.INIT -> init(w, r);
            case Fuse.FORGET -> nodes.forget(r.nodeid, r.i64(0));
            case Fuse.BATCH_FORGET -> batchForget(r);
            case Fuse.INTERRUPT -> s.interrupt(r.i64(0));
            case Fuse.NOTIFY_REPLY -> {
            }
            case Fuse.DESTROY -> s.send(w, r.unique, 0, 0);
            case Fuse.RELEASE, Fuse.RELEASEDIR -> {
                if (releasesInline(r)) {
                    laned(w, r);
                } else {
                    releaseLater(w, r);
                }
            }
            default -> laned(w, r);
        }
    }

    private void laned(Worker w, Request r) {
        if (s.closing()) {
            s.send(w, r.unique, ENOTCONN, 0);
            return;
        }
        Lane lane = isData(r) ? s.dataLane : s.metadataLane;
        if (!lane.tryEnter()) {
            long now = System.nanoTime();
            QueuedRequest q = new QueuedRequest(r.buf, r.length, now, now + s.deadlines[kindOf(r).ordinal()]);
            if (!lane.offer(q)) {
                s.send(w, r.unique, s.overloadErrno, 0);
                events.report(GuardEvent.Type.OVERLOADED, operationOf(r.opcode), "", r.pid, now, s.overloadErrno,
                        null, "all " + lane.budget + " threads of the " + lane.name + " lane busy and "
                                + lane.capacity + " requests waiting");
                return;
            }
            drain(w, lane);
            return;
        }
        run(w, r, lane, 0);
        drain(w, lane);
    }

    /** Runs what waits in either lane while there is room (a worker between requests). */
    void drainLanes(Worker w) {
        drain(w, s.metadataLane);
        drain(w, s.dataLane);
    }

    private void drain(Worker w, Lane lane) {
        while (lane.waiting() > 0 && !w.stuck) {
            if (!lane.tryEnter()) {
                return;
            }
            QueuedRequest q = lane.poll();
            if (q == null) {
                lane.exit();
                return;
            }
            run(w, q.request, lane, q.deadlineNanos);
        }
    }

    /** Whether a refused non-UTF-8 name was logged (once per mount). */
    private volatile boolean malformedNameLogged;

    private void run(Worker w, Request r, Lane lane, long deadline) {
        w.call.lane = lane;
        try {
            handle(w, r, deadline);
        } catch (Request.MalformedNameException e) {
            // Names are decoded before a request begins; EILSEQ is what Linux filesystems with a strict encoding
            // answer for a name they cannot represent.
            int status = Call.status(w.call.state());
            if (status == Call.IDLE || status == Call.RUNNING && w.call.finish()) {
                s.send(w, r.unique, EILSEQ, 0);
            }
            if (!malformedNameLogged) {
                malformedNameLogged = true; // once per mount: a benign race may log it twice
                LOG.warn("A {} request named a file with bytes that are not valid UTF-8; it was answered EILSEQ "
                        + "(names reach the filesystem as UTF-8 strings, and a lossy decoding could make two names "
                        + "one). Logged once.", Fuse.name(r.opcode));
            }
        } catch (RuntimeException | Error e) {
            LOG.error("fuseguard bug while handling {} (request {})", Fuse.name(r.opcode), r.unique, e);
            if (Call.status(w.call.state()) == Call.RUNNING && w.call.finish()) {
                s.send(w, r.unique, EIO, 0);
            }
        } finally {
            Lane l = w.call.lane;
            if (l != null) {
                l.exit();
                w.call.lane = null;
            }
            w.context.end();
            w.call.idle();
        }
    }

    private static boolean isData(Request r) {
        return switch (r.opcode) {
            case Fuse.READ, Fuse.WRITE, Fuse.FALLOCATE, Fuse.FSYNC, Fuse.FSYNCDIR, Fuse.FLUSH -> true;
            case Fuse.SETATTR -> (r.i32(0) & Fuse.FATTR_SIZE) != 0;
            default -> false;
        };
    }

    private static OperationKind kindOf(Request r) {
        return switch (r.opcode) {
            case Fuse.READ, Fuse.WRITE, Fuse.FALLOCATE -> OperationKind.DATA;
            case Fuse.FSYNC, Fuse.FSYNCDIR -> OperationKind.SYNC;
            case Fuse.FLUSH -> OperationKind.FLUSH;
            case Fuse.SETATTR -> (r.i32(0) & Fuse.FATTR_SIZE) != 0 ? OperationKind.DATA : OperationKind.METADATA;
            default -> OperationKind.METADATA;
        };
    }

    private void handle(Worker w, Request r, long deadline) {
        switch (r.opcode) {
            case Fuse.LOOKUP -> lookup(w, r, deadline);
            case Fuse.GETATTR -> getattr(w, r, deadline);
            case Fuse.SETATTR -> setattr(w, r, deadline);
            case Fuse.READLINK -> readlink(w, r, deadline);
            case Fuse.SYMLINK -> symlink(w, r, deadline);
            case Fuse.MKNOD -> mknod(w, r, deadline);
            case Fuse.MKDIR -> mkdir(w, r, deadline);
            case Fuse.UNLINK -> unlink(w, r, deadline);
            case Fuse.RMDIR -> rmdir(w, r, deadline);
            case Fuse.RENAME -> rename(w, r, deadline, r.i64(0), 8, 0);
            case Fuse.RENAME2 -> rename(w, r, deadline, r.i64(0), 16, r.i32(8));
            case Fuse.FALLOCATE -> fallocate(w, r, deadline);
            case Fuse.LINK -> link(w, r, deadline);
            case Fuse.OPEN -> open(w, r, deadline);
            case Fuse.READ -> read(w, r, deadline);
            case Fuse.WRITE -> write(w, r, deadline);
            case Fuse.STATFS -> statfs(w, r, deadline);
            case Fuse.FSYNC -> fsync(w, r, deadline);
            case Fuse.SETXATTR -> setxattr(w, r, deadline);
            case Fuse.GETXATTR -> getxattr(w, r, deadline, false);
            case Fuse.LISTXATTR -> getxattr(w, r, deadline, true);
            case Fuse.REMOVEXATTR -> removexattr(w, r, deadline);
            case Fuse.FLUSH -> flush(w, r, deadline);
            case Fuse.OPENDIR -> opendir(w, r, deadline);
            case Fuse.READDIR -> readdir(w, r, deadline);
            case Fuse.FSYNCDIR -> fsyncdir(w, r, deadline);
            case Fuse.ACCESS -> access(w, r, deadline);
            case Fuse.CREATE -> create(w, r, deadline);
            case Fuse.RELEASE, Fuse.RELEASEDIR -> releaseInline(w, r, deadline);
            default -> reply(w, r, ENOSYS); // locks, ioctl, poll, fallocate, lseek, ...: the kernel's defaults
        }
    }

    // ---- the guarded part of a request ---------------------------------------------------------------------

    /**
     * Registers the request with the watchdog and binds the caller to the thread. Returns false when the
     * request was answered already (refused, or interrupted before it started).
     */
    private boolean begin(Worker w, Request r, Operation op, OperationKind kind, String path, Handle h,
                          long deadline, int umask) {
        if (s.selfAccess.refuse(r.opcode, path, r.pid)) {
            reply(w, r, EDEADLK);
            events.report(GuardEvent.Type.SELF_ACCESS, op, path, r.pid, System.nanoTime(), EDEADLK, null,
                    "refused");
            return false;
        }
        Call c = w.call;
        long now = System.nanoTime();
        long d = deadline != 0 ? deadline : now + s.deadlines[kind.ordinal()];
        c.unique = r.unique;
        c.opcode = r.opcode;
        c.operation = op;
        c.path = path;
        c.pid = r.pid;
        c.startNanos = now;
        c.deadlineNanos = d;
        c.handle = h;
        w.context.begin(op, path, r.uid, r.gid, r.pid, umask, d);
        c.start();
        if (s.takeEarlyInterrupt(r.unique)) {
            if (c.finish()) {
                reply(w, r, EINTR);
            }
            return false;
        }
        return true;
    }

    /** Ends the guarded part: true when this thread answers; false when it was answered already. */
    private boolean end(Worker w, Request r, int result) {
        Call c = w.call;
        metrics.record(c.operation, System.nanoTime() - c.startNanos, result < 0 ? -result : 0);
        boolean mine = c.finish();
        w.context.end();
        if (!mine) {
            late(w, r, result);
        }
        return mine;
    }

    private void late(Worker w, Request r, int result) {
        Call c = w.call;
        if (result == -EINTR && w.context.interrupted) {
            return; // the handler obeyed the interrupt it got when its request was answered
        }
        String outcome = result >= 0 ? "succeeded (" + result + ")" : "failed with errno " + (-result);
        if (lateLogged.size() < 256 && lateLogged.add(c.operation + " " + c.path)) {
            LOG.info("{} {} finished {} ms after it arrived, after it was answered; its result is discarded: {} "
                    + "(logged once per operation and path)", c.operation, c.path,
                    (System.nanoTime() - c.startNanos) / 1_000_000, outcome);
        }
        events.report(GuardEvent.Type.LATE_RESULT, c.operation, c.path, c.pid, c.startNanos, 0, null, outcome);
    }

    private void reply(Worker w, Request r, int errno) {
        s.send(w, r.unique, errno, 0);
    }

    private boolean replyOk(Worker w, Request r, int payload) {
        return s.send(w, r.unique, 0, payload);
    }

    private void replyResult(Worker w, Request r, int rc) {
        reply(w, r, rc < 0 ? -rc : 0);
    }

    // ---- INIT, FORGET ----------------------------------------------------------------------------------------

    private void init(Worker w, Request r) {
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
        int out = 0;
        if (opt.asyncRead() && (flags & Fuse.INIT_ASYNC_READ) != 0) {
            out |= Fuse.INIT_ASYNC_READ;
        }
        if ((flags & Fuse.INIT_BIG_WRITES) != 0) {
            out |= Fuse.INIT_BIG_WRITES;
        }
        if (opt.atomicOTrunc() && (flags & Fuse.INIT_ATOMIC_O_TRUNC) != 0) {
            out |= Fuse.INIT_ATOMIC_O_TRUNC;
        }
        if ((flags & Fuse.INIT_PARALLEL_DIROPS) != 0) {
            out |= Fuse.INIT_PARALLEL_DIROPS;
        }
        int maxWrite = opt.maxWrite();
        int maxPages = 0;
        if ((flags & Fuse.INIT_MAX_PAGES) != 0) {
            out |= Fuse.INIT_MAX_PAGES;
            maxPages = Math.min(256, Math.max(1, (maxWrite + 4095) / 4096));
        } else {
            maxWrite = Math.min(maxWrite, 128 * 1024);
        }
        int flags2 = (flags & Fuse.INIT_EXT) != 0 && r.end >= Fuse.IN_HEADER + 20 ? r.i32(16) : 0;
        int flags2Out = 0;
        long timeout = s.kernelRequestTimeoutSeconds();
        if (timeout > 0 && (flags2 & Fuse.INIT2_REQUEST_TIMEOUT) != 0) {
            // The kernel's backstop if this daemon dies (or freezes) with a request it had read: it ends the
            // connection after this long. A live fuseguard answers every request at its deadline, well before.
            out |= Fuse.INIT_EXT;
            flags2Out |= Fuse.INIT2_REQUEST_TIMEOUT;
            o.putShort(Fuse.OUT_HEADER + 40, (short) Math.min(timeout, 65535));
            s.kernelTimeoutAccepted(true);
        } else {
            s.kernelTimeoutAccepted(false);
        }
        o.putInt(Fuse.OUT_HEADER + 32, flags2Out);
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
        replyOk(w, r, Fuse.INIT_OUT);
        s.markInitialized();
    }

    private void batchForget(Request r) {
        int count = r.i32(0);
        int at = 8;
        for (int i = 0; i < count && Fuse.IN_HEADER + at + 16 <= r.end; i++, at += 16) {
            nodes.forget(r.i64(at), r.i64(at + 8));
        }
    }

    // ---- names ---------------------------------------------------------------------------------------------

    private Node node(Request r) {
        return nodes.get(r.nodeid);
    }

    private boolean isProbe(Request r) {
        return r.nodeid == NodeTable.PROBE_ID;
    }

    private void lookup(Worker w, Request r, long deadline) {
        Node parent = node(r);
        if (parent == null) {
            reply(w, r, ENOENT);
            return;
        }
        String name = r.string(0);
        if (parent == nodes.root() && name.equals(s.probe.name)) {
            probeLookup(w, r);
            return;
        }
        Node target = null;
        if (name.equals(".")) {
            target = parent;
        } else if (name.equals("..")) {
            target = parent == nodes.root() ? parent : nodes.parentOf(parent);
            if (target == null) {
                reply(w, r, ENOENT);
                return;
            }
        }
        String path = target != null ? nodes.path(target) : nodes.childPath(parent, name);
        if (path == null) {
            reply(w, r, ENOENT);
            return;
        }
        if (!begin(w, r, Operation.LOOKUP, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        Attr a = w.context.attr;
        a.clear();
        int rc = ops.getattr(w.context, path, 0, false, a);
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            if (rc == -ENOENT && negativeCaching) {
                a.clear();
                encodeEntry(w.out, 0, 0, a, negativeSec, negativeNsec);
                replyOk(w, r, Fuse.ENTRY_OUT);
            } else {
                reply(w, r, -rc);
            }
            return;
        }
        Node n;
        if (target != null) {
            nodes.ref(target);
            n = target;
        } else {
            n = nodes.lookup(parent, name);
        }
        sendEntry(w, r, n, a, 0);
    }

    /** Answers an entry for node {@code n} (already counted); undoes the count if the kernel did not take it. */
    private boolean sendEntry(Worker w, Request r, Node n, Attr a, int extra) {
        fixAttr(n, a);
        encodeEntry(w.out, n.id(), (int) (n.id() >>> 32), a, entrySec, entryNsec);
        if (replyOk(w, r, Fuse.ENTRY_OUT + extra)) {
            return true;
        }
        nodes.forget(n.id(), 1);
        return false;
    }

    private void encodeEntry(ByteBuffer o, long nodeid, long generation, Attr a, long validSec, int validNsec) {
        int at = Fuse.OUT_HEADER;
        o.putLong(at, nodeid);
        o.putLong(at + 8, generation);
        o.putLong(at + 16, validSec);
        o.putLong(at + 24, attrSec);
        o.putInt(at + 32, validNsec);
        o.putInt(at + 36, attrNsec);
        a.encode(o, at + 40);
    }

    /** libfuse's set_stat: the node id as inode number unless use_ino, and the uid/gid/umask options. */
    private void fixAttr(Node n, Attr a) {
        if (!opt.useIno() || a.ino == 0) {
            a.ino = n.id();
        }
        if (opt.uid() >= 0) {
            a.uid = opt.uid();
        }
        if (opt.gid() >= 0) {
            a.gid = opt.gid();
        }
        if (opt.umask() >= 0) {
            a.mode = (a.mode & S_IFMT) | (0777 & ~opt.umask());
        }
    }

    private void probeLookup(Worker w, Request r) {
        if (!s.probe.visibleTo(r.pid)) {
            reply(w, r, ENOENT); // the name is reserved and invisible to everybody but the probing thread
            return;
        }
        Attr a = probeAttr(w);
        encodeEntry(w.out, NodeTable.PROBE_ID, 0, a, 0, 0);
        replyOk(w, r, Fuse.ENTRY_OUT);
    }

    private Attr probeAttr(Worker w) {
        Attr a = w.context.attr;
        a.clear();
        a.ino = NodeTable.PROBE_ID;
        a.mode = S_IFREG | 0444;
        a.nlink = 1;
        a.uid = daemonUid;
        a.gid = daemonGid;
        return a;
    }

    // ---- attributes ----------------------------------------------------------------------------------------

    private void getattr(Worker w, Request r, long deadline) {
        if (isProbe(r)) {
            Attr a = probeAttr(w);
            encodeAttr(w.out, a, 0, 0);
            replyOk(w, r, Fuse.ATTR_OUT);
            return;
        }
        Node n = node(r);
        if (n == null) {
            reply(w, r, ENOENT);
            return;
        }
        boolean hasFh = (r.i32(0) & Fuse.GETATTR_FH) != 0;
        Handle h = hasFh ? s.handles.get(r.i64(8)) : null;
        hasFh = h != null;
        String path = nodes.path(n);
        if (path == null && !hasFh) {
            reply(w, r, ENOENT);
            return;
        }
        if (h != null) {
            h.enter();
        }
        try {
            if (!begin(w, r, Operation.GETATTR, OperationKind.METADATA, path, h, deadline, 0)) {
                return;
            }
            Attr a = w.context.attr;
            a.clear();
            int rc = ops.getattr(w.context, path, hasFh ? h.userFh() : 0, hasFh, a);
            if (!end(w, r, rc)) {
                return;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return;
            }
            if (nodes.isHidden(n) && a.nlink > 0) {
                a.nlink--;
            }
            fixAttr(n, a);
            encodeAttr(w.out, a, attrSec, attrNsec);
            replyOk(w, r, Fuse.ATTR_OUT);
        } finally {
            if (h != null) {
                h.exit();
            }
        }
    }

    private void encodeAttr(ByteBuffer o, Attr a, long validSec, int validNsec) {
        int at = Fuse.OUT_HEADER;
        o.putLong(at, validSec);
        o.putInt(at + 8, validNsec);
        o.putInt(at + 12, 0);
        a.encode(o, at + 16);
    }

    private void setattr(Worker w, Request r, long deadline) {
        Node n = node(r);
        if (n == null || isProbe(r)) {
            reply(w, r, isProbe(r) ? EPERM : ENOENT);
            return;
        }
        int valid = r.i32(0);
        Handle h = (valid & Fuse.FATTR_FH) != 0 ? s.handles.get(r.i64(8)) : null;
        String path = nodes.path(n);
        if (path == null && h == null) {
            reply(w, r, ENOENT);
            return;
        }
        long size = r.i64(16);
        long atime = r.i64(32);
        long mtime = r.i64(40);
        int atimensec = r.i32(56);
        int mtimensec = r.i32(60);
        int mode = r.i32(68);
        int uid = r.i32(76);
        int gid = r.i32(80);
        OperationKind kind = (valid & Fuse.FATTR_SIZE) != 0 ? OperationKind.DATA : OperationKind.METADATA;
        Operation op = (valid & Fuse.FATTR_SIZE) != 0 ? Operation.TRUNCATE
                : (valid & Fuse.FATTR_MODE) != 0 ? Operation.CHMOD
                : (valid & (Fuse.FATTR_UID | Fuse.FATTR_GID)) != 0 ? Operation.CHOWN : Operation.UTIMENS;
        if (h != null) {
            h.enter();
        }
        try {
            if (!begin(w, r, op, kind, path, h, deadline, 0)) {
                return;
            }
            OpContext c = w.context;
            int rc = 0;
            if ((valid & Fuse.FATTR_MODE) != 0) {
                c.operation = Operation.CHMOD;
                rc = ops.chmod(c, path, mode);
            }
            if (rc >= 0 && (valid & (Fuse.FATTR_UID | Fuse.FATTR_GID)) != 0) {
                c.operation = Operation.CHOWN;
                rc = ops.chown(c, path, (valid & Fuse.FATTR_UID) != 0 ? uid : -1,
                        (valid & Fuse.FATTR_GID) != 0 ? gid : -1);
            }
            if (rc >= 0 && (valid & Fuse.FATTR_SIZE) != 0) {
                c.operation = Operation.TRUNCATE;
                rc = ops.truncate(c, path, size, h != null ? h.userFh() : 0, h != null);
                if (h != null) {
                    h.markDirty();
                }
            }
            if (rc >= 0 && (valid & (Fuse.FATTR_ATIME | Fuse.FATTR_MTIME)) != 0) {
                c.operation = Operation.UTIMENS;
                long an = (valid & Fuse.FATTR_ATIME_NOW) != 0 ? Fuse.UTIME_NOW
                        : (valid & Fuse.FATTR_ATIME) != 0 ? atimensec : Fuse.UTIME_OMIT;
                long mn = (valid & Fuse.FATTR_MTIME_NOW) != 0 ? Fuse.UTIME_NOW
                        : (valid & Fuse.FATTR_MTIME) != 0 ? mtimensec : Fuse.UTIME_OMIT;
                rc = ops.utimens(c, path, (valid & Fuse.FATTR_ATIME) != 0 ? atime : 0, an,
                        (valid & Fuse.FATTR_MTIME) != 0 ? mtime : 0, mn);
            }
            int changes = Fuse.FATTR_MODE | Fuse.FATTR_UID | Fuse.FATTR_GID | Fuse.FATTR_SIZE | Fuse.FATTR_ATIME
                    | Fuse.FATTR_MTIME;
            if (rc >= 0 && (valid & changes) == 0) {
                rc = ops.touchCtime(c, path);
            }
            Attr a = c.attr;
            if (rc >= 0) {
                c.operation = Operation.GETATTR;
                a.clear();
                rc = ops.getattr(c, path, h != null ? h.userFh() : 0, h != null, a);
            }
            if (!end(w, r, rc)) {
                return;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return;
            }
            fixAttr(n, a);
            encodeAttr(w.out, a, attrSec, attrNsec);
            replyOk(w, r, Fuse.ATTR_OUT);
        } finally {
            if (h != null) {
                h.exit();
            }
        }
    }

    private void readlink(Worker w, Request r, long deadline) {
        Node n = node(r);
        String path = n == null ? null : nodes.path(n);
        if (path == null) {
            reply(w, r, ENOENT);
            return;
        }
        if (!begin(w, r, Operation.READLINK, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        ByteBuffer dst = w.replyData.clear().limit(4096);
        int rc = ops.readlink(w.context, path, dst);
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        replyOk(w, r, Math.min(rc, 4096));
    }

    /**
     * Lets the close-time work of {@code n} (a deferred flush, a release, a late flush) finish before a request
     * that would overtake it (unlink, rename, fsync, the next flush), as plain libfuse orders them: the close
     * that queued it already returned. Waits at most four fifths of the time left to the request's deadline,
     * then lets it go on (and says so once).
     */
    private void afterCloseWork(Worker w, Node n) {
        if (n == null || !n.hasPendingWork()) {
            return;
        }
        long left = (w.call.deadlineNanos - System.nanoTime()) * 4 / 5;
        try {
            if (!n.awaitWork(Math.max(0, left)) && overtakeLogged.compareAndSet(false, true)) {
                LOG.warn("{} {} goes ahead of close-time work of that file that is still running after {} ms (a "
                        + "slow flush); logged once", w.call.operation, w.call.path, left / 1_000_000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- creating and removing names -----------------------------------------------------------------------

    /** The parent node and new path of a request that creates a name; null (answered) when invalid. */
    private String newPath(Worker w, Request r, Node parent, String name) {
        if (parent == null) {
            reply(w, r, ENOENT);
            return null;
        }
        if (parent == nodes.root() && name.equals(s.probe.name)) {
            reply(w, r, EPERM);
            return null;
        }
        String path = nodes.childPath(parent, name);
        if (path == null) {
            reply(w, r, ENOENT);
        }
        return path;
    }

    /** After a successful creation: the new name's attributes (libfuse's lookup_path), answered as an entry. */
    private void created(Worker w, Request r, Node parent, String name, String path, int rc) {
        Attr a = w.context.attr;
        if (rc >= 0) {
            Operation op = w.context.operation;
            w.context.operation = Operation.GETATTR;
            a.clear();
            rc = ops.getattr(w.context, path, 0, false, a);
            w.context.operation = op;
        }
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        sendEntry(w, r, nodes.lookup(parent, name), a, 0);
    }

    private void mknod(Worker w, Request r, long deadline) {
        Node parent = node(r);
        int mode = r.i32(0);
        int rdev = r.i32(4);
        int umask = r.i32(8);
        String name = r.string(16);
        String path = newPath(w, r, parent, name);
        if (path == null || !begin(w, r, Operation.MKNOD, OperationKind.METADATA, path, null, deadline, umask)) {
            return;
        }
        OpContext c = w.context;
        int rc = -ENOSYS;
        if ((mode & S_IFMT) == S_IFREG) {
            // as libfuse: a regular file is made with create (and released at once) when the filesystem has it
            c.operation = Operation.CREATE;
            c.open.clear();
            rc = ops.create(c, path, mode, O_CREAT_EXCL_WRONLY, c.open);
            if (rc >= 0) {
                c.operation = Operation.RELEASE;
                ops.release(c, path, c.open.fh, O_CREAT_EXCL_WRONLY);
            }
        }
        if (rc == -ENOSYS) {
            c.operation = Operation.MKNOD;
            rc = ops.mknod(c, path, mode, rdev);
        }
        created(w, r, parent, name, path, rc);
    }

    private void mkdir(Worker w, Request r, long deadline) {
        Node parent = node(r);
        int mode = r.i32(0);
        int umask = r.i32(4);
        String name = r.string(8);
        String path = newPath(w, r, parent, name);
        if (path == null || !begin(w, r, Operation.MKDIR, OperationKind.METADATA, path, null, deadline, umask)) {
            return;
        }
        int rc = ops.mkdir(w.context, path, mode);
        created(w, r, parent, name, path, rc);
    }

    private void symlink(Worker w, Request r, long deadline) {
        Node parent = node(r);
        String name = r.string(0);
        String target = r.string(r.after(0));
        String path = newPath(w, r, parent, name);
        if (path == null || !begin(w, r, Operation.SYMLINK, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        int rc = ops.symlink(w.context, target, path);
        created(w, r, parent, name, path, rc);
    }

    private void link(Worker w, Request r, long deadline) {
        Node from = nodes.get(r.i64(0));
        Node parent = node(r);
        String name = r.string(8);
        String fromPath = from == null ? null : nodes.path(from);
        if (fromPath == null) {
            reply(w, r, ENOENT);
            return;
        }
        String path = newPath(w, r, parent, name);
        if (path == null || !begin(w, r, Operation.LINK, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        int rc = ops.link(w.context, fromPath, path);
        created(w, r, parent, name, path, rc);
    }

    private void unlink(Worker w, Request r, long deadline) {
        Node parent = node(r);
        String name = r.string(0);
        String path = newPath(w, r, parent, name);
        if (path == null || !begin(w, r, Operation.UNLINK, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        OpContext c = w.context;
        int rc;
        afterCloseWork(w, nodes.child(parent, name));
        if (Thread.currentThread().isInterrupted()) {
            if (end(w, r, -EINTR)) {
                reply(w, r, EINTR); // interrupted before it started: nothing was removed
            }
            return;
        }
        Node victim = opt.hardRemove() ? null : nodes.child(parent, name);
        boolean hide = victim != null && nodes.isOpen(parent, name);
        if (hide) {
            rc = hide(c, parent, victim, path);
        } else {
            rc = ops.unlink(c, path);
        }
        if (!end(w, r, rc)) {
            if (rc >= 0 && !hide) {
                nodes.unlinked(parent, name); // it happened: keep the table true to the filesystem
            }
            return;
        }
        if (rc >= 0 && !hide) {
            nodes.unlinked(parent, name);
        }
        replyResult(w, r, rc);
    }

    /** libfuse's hide_node: renames an open file that is being removed to a hidden name in its directory. */
    private int hide(OpContext c, Node parent, Node victim, String path) {
        String dir = nodes.path(parent);
        Attr scratch = new Attr();
        String hidden = nodes.hiddenName(victim, candidate -> {
            String p = dir.length() == 1 ? "/" + candidate : dir + "/" + candidate;
            return ops.getattr(c, p, 0, false, scratch) >= 0;
        });
        String hiddenPath = dir.length() == 1 ? "/" + hidden : dir + "/" + hidden;
        Operation op = c.operation;
        c.operation = Operation.RENAME;
        int rc = ops.rename(c, path, hiddenPath, 0);
        c.operation = op;
        if (rc >= 0) {
            nodes.hid(victim, hidden);
        }
        return rc;
    }

    private void rmdir(Worker w, Request r, long deadline) {
        Node parent = node(r);
        String name = r.string(0);
        String path = newPath(w, r, parent, name);
        if (path == null || !begin(w, r, Operation.RMDIR, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        int rc = ops.rmdir(w.context, path);
        boolean mine = end(w, r, rc);
        if (rc >= 0) {
            nodes.unlinked(parent, name);
        }
        if (mine) {
            replyResult(w, r, rc);
        }
    }

    /** RENAME, or RENAME2 with its flags (RENAME_NOREPLACE, RENAME_EXCHANGE; the filesystem decides). */
    private void rename(Worker w, Request r, long deadline, long newDir, int namesAt, int flags) {
        Node from = node(r);
        Node to = nodes.get(newDir);
        String oldName = r.string(namesAt);
        String newName = r.string(r.after(namesAt));
        if (from == null || to == null) {
            reply(w, r, ENOENT);
            return;
        }
        String oldPath = newPath(w, r, from, oldName);
        if (oldPath == null) {
            return;
        }
        String newPath = newPath(w, r, to, newName);
        if (newPath == null || !begin(w, r, Operation.RENAME, OperationKind.METADATA, oldPath, null, deadline, 0)) {
            return;
        }
        OpContext c = w.context;
        int rc = 0;
        afterCloseWork(w, nodes.child(from, oldName));
        afterCloseWork(w, nodes.child(to, newName));
        if (Thread.currentThread().isInterrupted()) {
            if (end(w, r, -EINTR)) {
                reply(w, r, EINTR); // interrupted before it started: nothing was renamed
            }
            return;
        }
        // Only a plain rename removes its target: NOREPLACE fails if there is one, EXCHANGE keeps it.
        if (flags == 0 && !opt.hardRemove() && nodes.isOpen(to, newName)) {
            Node victim = nodes.child(to, newName);
            if (victim != null) {
                rc = hide(c, to, victim, newPath);
            }
        }
        if (rc >= 0) {
            rc = ops.rename(c, oldPath, newPath, flags);
        }
        boolean mine = end(w, r, rc);
        if (rc >= 0) {
            if (flags == Fuse.RENAME_EXCHANGE) {
                nodes.exchanged(from, oldName, to, newName);
            } else {
                nodes.renamed(from, oldName, to, newName);
            }
        }
        if (mine) {
            replyResult(w, r, rc);
        }
    }

    // ---- files ---------------------------------------------------------------------------------------------

    private int openFlags(int requested) {
        int f = requested & (Fuse.FOPEN_DIRECT_IO | Fuse.FOPEN_KEEP_CACHE | Fuse.FOPEN_NONSEEKABLE);
        if (opt.directIo()) {
            f |= Fuse.FOPEN_DIRECT_IO;
        }
        if (opt.kernelCache()) {
            f |= Fuse.FOPEN_KEEP_CACHE;
        }
        if (policy != FlushPolicy.BOUNDED) {
            f |= Fuse.FOPEN_NOFLUSH; // no close() of this file ever waits on the daemon (kernel 5.16+)
        }
        return f;
    }

    private void encodeOpen(ByteBuffer o, int at, long fh, int flags) {
        o.putLong(at, fh);
        o.putInt(at + 8, flags);
        o.putInt(at + 12, 0);
    }

    private void open(Worker w, Request r, long deadline) {
        int flags = r.i32(0);
        if (isProbe(r)) {
            // The probe is opened without FOPEN_NOFLUSH: its close must send the FLUSH that sets no_flush.
            encodeOpen(w.out, Fuse.OUT_HEADER, Probe.FH, Fuse.FOPEN_DIRECT_IO);
            replyOk(w, r, Fuse.OPEN_OUT);
            return;
        }
        Node n = node(r);
        String path = n == null ? null : nodes.path(n);
        if (path == null) {
            reply(w, r, ENOENT);
            return;
        }
        if (!begin(w, r, Operation.OPEN, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        OpContext c = w.context;
        c.open.clear();
        int rc = ops.open(c, path, flags, c.open);
        long fh = c.open.fh;
        int fopen = c.open.openFlags;
        if (!end(w, r, rc)) {
            if (rc >= 0) {
                s.closeWork.releaseLateOpen(n, fh, flags, false); // the caller was told it failed
            }
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        nodes.opened(n);
        Handle h = s.handles.add(n, fh, flags, false);
        h.opener(r.uid, r.gid, r.pid);
        encodeOpen(w.out, Fuse.OUT_HEADER, h.id(), openFlags(fopen));
        if (!replyOk(w, r, Fuse.OPEN_OUT)) {
            // the caller went away: no RELEASE will come
            s.closeWork.release(h, r.uid, r.gid, r.pid, nodes.closed(n));
        }
    }

    private void create(Worker w, Request r, long deadline) {
        Node parent = node(r);
        int flags = r.i32(0);
        int mode = r.i32(4);
        int umask = r.i32(8);
        String name = r.string(16);
        String path = newPath(w, r, parent, name);
        if (path == null || !begin(w, r, Operation.CREATE, OperationKind.METADATA, path, null, deadline, umask)) {
            return;
        }
        OpContext c = w.context;
        c.open.clear();
        int rc = ops.create(c, path, mode, flags, c.open);
        long fh = c.open.fh;
        int fopen = c.open.openFlags;
        Attr a = c.attr;
        if (rc >= 0) {
            c.operation = Operation.GETATTR;
            a.clear();
            rc = ops.getattr(c, path, fh, true, a);
            if (rc < 0) {
                c.operation = Operation.RELEASE;
                ops.release(c, path, fh, flags);
            }
        }
        if (!end(w, r, rc)) {
            if (rc >= 0) {
                Node n = nodes.lookup(parent, name);
                s.closeWork.releaseLateOpen(n, fh, flags, false);
                nodes.forget(n.id(), 1);
            }
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        Node n = nodes.lookup(parent, name);
        nodes.opened(n);
        Handle h = s.handles.add(n, fh, flags, false);
        h.opener(r.uid, r.gid, r.pid);
        encodeOpen(w.out, Fuse.OUT_HEADER + Fuse.ENTRY_OUT, h.id(), openFlags(fopen));
        if (!sendEntry(w, r, n, a, Fuse.OPEN_OUT)) {
            s.closeWork.release(h, r.uid, r.gid, r.pid, nodes.closed(n));
        }
    }

    private Handle fileHandle(Worker w, Request r) {
        Handle h = s.handles.get(r.i64(0));
        if (h == null) {
            reply(w, r, EBADF);
        }
        return h;
    }

    private void read(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long offset = r.i64(8);
        int size = Math.min(r.i32(16), w.replyData.capacity());
        String path = nodes.path(h.node());
        h.enter();
        try {
            if (!begin(w, r, Operation.READ, OperationKind.DATA, path, h, deadline, 0)) {
                return;
            }
            ByteBuffer dst = w.replyData.clear().limit(size);
            int rc = ops.read(w.context, path, h.userFh(), dst, offset);
            if (!end(w, r, rc)) {
                return;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return;
            }
            replyOk(w, r, Math.min(rc, size));
        } finally {
            h.exit();
        }
    }

    private void write(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long offset = r.i64(8);
        int size = r.i32(16);
        if (size < 0 || Fuse.WRITE_DATA + size > r.length) {
            reply(w, r, EINVAL);
            return;
        }
        String path = nodes.path(h.node());
        ByteBuffer src = r.buf == w.in ? w.writeData.clear().limit(size)
                : r.buf.duplicate().position(Fuse.WRITE_DATA).limit(Fuse.WRITE_DATA + size).slice()
                .asReadOnlyBuffer();
        h.enter();
        try {
            if (!begin(w, r, Operation.WRITE, OperationKind.DATA, path, h, deadline, 0)) {
                return;
            }
            h.markDirty();
            int rc = ops.write(w.context, path, h.userFh(), src, offset);
            if (!end(w, r, rc)) {
                return;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return;
            }
            w.out.putInt(Fuse.OUT_HEADER, Math.min(rc, size));
            w.out.putInt(Fuse.OUT_HEADER + 4, 0);
            replyOk(w, r, 8);
        } finally {
            h.exit();
        }
    }

    private void fallocate(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long offset = r.i64(8);
        long length = r.i64(16);
        int mode = r.i32(24);
        String path = nodes.path(h.node());
        h.enter();
        try {
            if (!begin(w, r, Operation.FALLOCATE, OperationKind.DATA, path, h, deadline, 0)) {
                return;
            }
            int rc = ops.fallocate(w.context, path, h.userFh(), mode, offset, length);
            if (rc >= 0) {
                h.markDirty(); // a changed file: its close-time work (an upload) must run, as after a write
            }
            if (end(w, r, rc)) {
                replyResult(w, r, rc);
            }
        } finally {
            h.exit();
        }
    }

    private void flush(Worker w, Request r, long deadline) {
        flushRequests.incrementAndGet();
        long fh = r.i64(0);
        if (fh == Probe.FH) {
            // The probe's close: ENOSYS makes the kernel set no_flush for the whole connection.
            reply(w, r, policy == FlushPolicy.BOUNDED ? 0 : ENOSYS);
            return;
        }
        if (policy != FlushPolicy.BOUNDED) {
            // Sent only before no_flush was set (an open from before the probe, or a kernel without
            // FOPEN_NOFLUSH). ENOSYS stops it for good; the close-time work still runs at release.
            reply(w, r, ENOSYS);
            return;
        }
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        String path = nodes.path(h.node());
        h.enter();
        try {
            if (!begin(w, r, Operation.FLUSH, OperationKind.FLUSH, path, h, deadline, 0)) {
                return;
            }
            // One flush of a file at a time: a late one must not finish after a newer one (stale content).
            afterCloseWork(w, h.node());
            h.node().workStarted();
            int rc;
            try {
                rc = ops.flush(w.context, path, h.userFh());
            } finally {
                h.node().workDone();
            }
            h.flushed(rc >= 0);
            if (!end(w, r, rc)) {
                if (rc < 0 && rc != -ENOSYS) {
                    h.recordFailure(-rc); // reported at the next fsync of this handle
                }
                return;
            }
            replyResult(w, r, rc);
        } finally {
            h.exit();
        }
    }

    private void fsync(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        boolean dataOnly = (r.i32(8) & Fuse.FSYNC_FDATASYNC) != 0;
        String path = nodes.path(h.node());
        h.enter();
        try {
            if (!begin(w, r, Operation.FSYNC, OperationKind.SYNC, path, h, deadline, 0)) {
                return;
            }
            OpContext c = w.context;
            int rc = 0;
            // An earlier handle's deferred flush of this file must be done for fsync to mean durable.
            afterCloseWork(w, h.node());
            if (deferredFlush && h.isDirty()) {
                // The close-time work of what was written so far: fsync is the durability point.
                c.operation = Operation.FLUSH;
                rc = ops.flush(c, path, h.userFh());
                h.flushed(rc >= 0 || rc == -ENOSYS);
                if (rc == -ENOSYS) {
                    rc = 0;
                }
                if (rc >= 0) {
                    h.takeFailure(); // the file as it is now was flushed: an older failure is moot
                }
                c.operation = Operation.FSYNC;
            }
            int sync = ops.fsync(c, path, h.userFh(), dataOnly);
            if (rc >= 0) {
                rc = sync;
            }
            int earlier = h.takeFailure();
            if (rc >= 0 && earlier != 0) {
                rc = -earlier; // a background flush of this handle failed since the last fsync
            }
            if (!end(w, r, rc)) {
                if (rc < 0) {
                    h.recordFailure(-rc);
                }
                return;
            }
            replyResult(w, r, rc);
        } finally {
            h.exit();
        }
    }

    /**
     * Whether a RELEASE/RELEASEDIR can run on this thread, as libfuse does it: when there is no deferred flush to
     * run (which may be a slow upload), no request still runs on the handle, and the mount is not closing.
     * Otherwise it goes to a close-time thread.
     */
    private boolean releasesInline(Request r) {
        if (s.closing()) {
            return false;
        }
        Handle h = s.handles.get(r.i64(0));
        return h != null && (!deferredFlush || h.isDirectory()) && h.running() == 0;
    }

    private void releaseInline(Worker w, Request r, long deadline) {
        Handle h = s.handles.get(r.i64(0));
        if (h == null) {
            reply(w, r, 0);
            return;
        }
        h.markReleased();
        Node n = h.node();
        String path = nodes.path(n);
        boolean dir = h.isDirectory();
        if (!begin(w, r, dir ? Operation.RELEASEDIR : Operation.RELEASE, OperationKind.METADATA, path, h, deadline,
                0)) {
            s.handles.remove(h);
            return;
        }
        OpContext c = w.context;
        c.uid = h.openerUid(); // RELEASE carries no caller: the opener stands in for it
        c.gid = h.openerGid();
        c.pid = h.openerPid();
        int rc = dir ? ops.releasedir(c, path, h.userFh()) : ops.release(c, path, h.userFh(), h.flags());
        s.handles.remove(h);
        if (!dir && nodes.closed(n)) {
            String hidden = nodes.path(n);
            if (hidden != null) {
                c.operation = Operation.UNLINK;
                ops.unlink(c, hidden);
                nodes.unlinked(n);
            }
        }
        if (end(w, r, rc)) {
            reply(w, r, 0); // the kernel ignores release errors, as libfuse does
        }
    }

    private void releaseLater(Worker w, Request r) {
        long fh = r.i64(0);
        reply(w, r, 0); // the kernel does not wait for this; the work happens on a close-time thread
        if (fh == Probe.FH) {
            s.probe.released();
            return;
        }
        Handle h = s.handles.get(fh);
        if (h != null) {
            // The kernel closed it now: an unlink from here on is a plain unlink (it waits for this work).
            boolean unlinkHidden = !h.isDirectory() && nodes.closed(h.node());
            // RELEASE carries no caller (the kernel may send it from a worker): the opener stands in for the
            // process that closed the file, which is who plain libfuse's flush saw.
            s.closeWork.release(h, h.openerUid(), h.openerGid(), h.openerPid(), unlinkHidden);
        }
    }

    private void statfs(Worker w, Request r, long deadline) {
        Node n = node(r);
        String path = n == null ? "/" : nodes.path(n);
        if (path == null) {
            path = "/";
        }
        if (!begin(w, r, Operation.STATFS, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        w.context.statfs.defaults();
        int rc = ops.statfs(w.context, path, w.context.statfs);
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        w.context.statfs.encode(w.out, Fuse.OUT_HEADER);
        replyOk(w, r, Fuse.STATFS_OUT);
    }

    // ---- extended attributes -------------------------------------------------------------------------------

    private String namedPath(Worker w, Request r) {
        if (isProbe(r)) {
            reply(w, r, ENOSYS);
            return null;
        }
        Node n = node(r);
        String path = n == null ? null : nodes.path(n);
        if (path == null) {
            reply(w, r, ENOENT);
        }
        return path;
    }

    private void setxattr(Worker w, Request r, long deadline) {
        String path = namedPath(w, r);
        if (path == null) {
            return;
        }
        int size = r.i32(0);
        int flags = r.i32(4);
        String name = r.string(8);
        int valueAt = Fuse.IN_HEADER + r.after(8);
        if (size < 0 || valueAt + size > r.end) {
            reply(w, r, EINVAL);
            return;
        }
        ByteBuffer value = r.buf.duplicate().position(valueAt).limit(valueAt + size).slice().asReadOnlyBuffer();
        if (!begin(w, r, Operation.SETXATTR, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        int rc = ops.setxattr(w.context, path, name, value, flags);
        if (end(w, r, rc)) {
            replyResult(w, r, rc);
        }
    }

    private void getxattr(Worker w, Request r, long deadline, boolean list) {
        String path = namedPath(w, r);
        if (path == null) {
            return;
        }
        int size = r.i32(0);
        String name = list ? null : r.string(8);
        if (!begin(w, r, list ? Operation.LISTXATTR : Operation.GETXATTR, OperationKind.METADATA, path, null,
                deadline, 0)) {
            return;
        }
        int room = Math.min(size, w.replyData.capacity());
        ByteBuffer dst = size == 0 ? null : w.replyData.clear().limit(room);
        int rc = list ? ops.listxattr(w.context, path, dst) : ops.getxattr(w.context, path, name, dst);
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        if (size == 0) {
            w.out.putInt(Fuse.OUT_HEADER, rc);
            w.out.putInt(Fuse.OUT_HEADER + 4, 0);
            replyOk(w, r, 8);
        } else if (rc > room) {
            reply(w, r, ERANGE);
        } else {
            replyOk(w, r, rc);
        }
    }

    private void removexattr(Worker w, Request r, long deadline) {
        String path = namedPath(w, r);
        if (path == null) {
            return;
        }
        String name = r.string(0);
        if (!begin(w, r, Operation.REMOVEXATTR, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        int rc = ops.removexattr(w.context, path, name);
        if (end(w, r, rc)) {
            replyResult(w, r, rc);
        }
    }

    private void access(Worker w, Request r, long deadline) {
        String path = namedPath(w, r);
        if (path == null) {
            return;
        }
        int mask = r.i32(0);
        if (!begin(w, r, Operation.ACCESS, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        int rc = ops.access(w.context, path, mask);
        if (end(w, r, rc)) {
            replyResult(w, r, rc);
        }
    }

    // ---- directories ---------------------------------------------------------------------------------------

    private void opendir(Worker w, Request r, long deadline) {
        Node n = node(r);
        String path = n == null ? null : nodes.path(n);
        if (path == null) {
            reply(w, r, ENOENT);
            return;
        }
        int flags = r.i32(0);
        if (!begin(w, r, Operation.OPENDIR, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        OpContext c = w.context;
        c.open.clear();
        int rc = ops.opendir(c, path, flags, c.open);
        long fh = c.open.fh;
        if (!end(w, r, rc)) {
            if (rc >= 0) {
                s.closeWork.releaseLateOpen(n, fh, flags, true);
            }
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        Handle h = s.handles.add(n, fh, flags, true);
        h.opener(r.uid, r.gid, r.pid);
        encodeOpen(w.out, Fuse.OUT_HEADER, h.id(), 0);
        if (!replyOk(w, r, Fuse.OPEN_OUT)) {
            s.closeWork.release(h, r.uid, r.gid, r.pid, false);
        }
    }

    private void readdir(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long offset = r.i64(8);
        int size = Math.min(r.i32(16), w.replyData.capacity());
        DirListing l = (DirListing) h.listing();
        if (offset == 0 || l == null) {
            String path = nodes.path(h.node());
            if (path == null) {
                reply(w, r, ENOENT);
                return;
            }
            h.enter();
            try {
                if (!begin(w, r, Operation.READDIR, OperationKind.METADATA, path, h, deadline, 0)) {
                    return;
                }
                DirListing fresh = new DirListing();
                int rc = ops.readdir(w.context, path, h.userFh(), fresh);
                fresh.seal();
                if (!end(w, r, rc)) {
                    return;
                }
                if (rc < 0) {
                    reply(w, r, -rc);
                    return;
                }
                l = fresh;
                h.listing(l);
            } finally {
                h.exit();
            }
        }
        ByteBuffer o = w.out;
        int at = Fuse.OUT_HEADER;
        int limit = Fuse.OUT_HEADER + size;
        Node dir = h.node();
        for (int i = (int) Math.min(offset, Integer.MAX_VALUE); i < l.size(); i++) {
            byte[] name = l.name(i).getBytes(StandardCharsets.UTF_8);
            int len = (24 + name.length + 7) & ~7;
            if (at + len > limit) {
                break;
            }
            long ino = l.ino(i);
            if (!opt.useIno() || ino == 0) {
                ino = Fuse.UNKNOWN_INO;
                if (opt.readdirIno()) {
                    Node child = nodes.child(dir, l.name(i));
                    if (child != null) {
                        ino = child.id();
                    }
                }
            }
            o.putLong(at, ino);
            o.putLong(at + 8, i + 1);
            o.putInt(at + 16, name.length);
            o.putInt(at + 20, (l.type(i) & S_IFMT) >>> 12);
            o.put(at + 24, name);
            for (int p = at + 24 + name.length; p < at + len; p++) {
                o.put(p, (byte) 0);
            }
            at += len;
        }
        replyOk(w, r, at - Fuse.OUT_HEADER);
    }

    private void fsyncdir(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        String path = nodes.path(h.node());
        boolean dataOnly = (r.i32(8) & Fuse.FSYNC_FDATASYNC) != 0;
        h.enter();
        try {
            if (!begin(w, r, Operation.FSYNCDIR, OperationKind.SYNC, path, h, deadline, 0)) {
                return;
            }
            int rc = ops.fsyncdir(w.context, path, h.userFh(), dataOnly);
            if (end(w, r, rc)) {
                replyResult(w, r, rc);
            }
        } finally {
            h.exit();
        }
    }
}
