package io.fuseguard.internal.session;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.tree.NodeTable;
import io.fuseguard.internal.tree.PathLocks;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;

import static io.fuseguard.internal.sys.Syscalls.EBADF;
import static io.fuseguard.internal.sys.Syscalls.EDEADLK;
import static io.fuseguard.internal.sys.Syscalls.EINTR;
import static io.fuseguard.internal.sys.Syscalls.ENOENT;
import static io.fuseguard.internal.sys.Syscalls.ENOSYS;
import static io.fuseguard.internal.sys.Syscalls.EPERM;

/**
 * The part every request shares, whatever its family: the guarded section ({@link #begin} registers the request
 * with the watchdog and binds the caller to the thread, {@link #end} decides who answers), the answers, and the
 * encodings and node-table steps several families use. Families extend it, so a request's path is a direct call
 * into its family with no object or indirection added per request.
 */
abstract class Requests {
    static final Log LOG = Log.of(Requests.class);
    static final int S_IFMT = 0170000;
    static final int S_IFREG = 0100000;
    static final int S_IFDIR = 0040000;
    static final int O_CREAT_EXCL_WRONLY = 0100 | 0200 | 01;
    /**
     * The answer for an OPEN, a LOOKUP or a change of names that meets a node that lost its name here (a rename
     * replaced it, or it was removed, and it is not open): ESTALE, as libfuse's path resolution answers. These come
     * from a path walk, which the kernel then makes again, asking LOOKUP anew: an {@code open} of a name that a
     * rename just replaced finds the new file, where ENOENT failed the call for a name that always existed. Other
     * requests on such a node come through a descriptor (nothing would retry them) and get ENOENT.
     */
    static final int NO_PATH = io.fuseguard.internal.sys.Syscalls.ESTALE;

    /** State of one mount that every family shares. */
    static final class Shared {
        final Session s;
        final io.fuseguard.internal.ops.FsOps ops;
        final MountOptions opt;
        final io.fuseguard.internal.events.EventReporter events;
        final io.fuseguard.metrics.MountMetrics metrics;
        final FlushPolicy policy;
        final boolean debug;
        final java.util.Set<String> lateLogged = java.util.concurrent.ConcurrentHashMap.newKeySet();
        final java.util.concurrent.atomic.AtomicBoolean overtakeLogged = new java.util.concurrent.atomic.AtomicBoolean();
        final java.util.concurrent.atomic.AtomicLong flushRequests = new java.util.concurrent.atomic.AtomicLong();
        /**
         * Uniques (without the resend bit) of resent requests whose change the previous worker of a supervised
         * mount had begun (an intent record) but not recorded as done: it may have happened. Such a request runs
         * again, and the failure its own earlier success would cause (EEXIST for a creation, ENOENT for a
         * removal) counts as success.
         */
        final java.util.Set<Long> resentBegun = java.util.concurrent.ConcurrentHashMap.newKeySet();
        /** For a resent CREATE whose new name the previous worker counted already: that node (no second count). */
        final java.util.Map<Long, Long> resentCounted = new java.util.concurrent.ConcurrentHashMap<>();

        Shared(Session s, io.fuseguard.internal.ops.FsOps ops, io.fuseguard.config.FuseguardConfig config,
               MountOptions opt, io.fuseguard.internal.events.EventReporter events,
               io.fuseguard.metrics.MountMetrics metrics) {
            this.s = s;
            this.ops = ops;
            this.opt = opt;
            this.events = events;
            this.metrics = metrics;
            this.policy = config.guard().flushPolicy();
            this.debug = config.mount().debug();
        }
    }

    final Shared shared;
    final Session s;
    final io.fuseguard.internal.ops.FsOps ops;
    final NodeTable nodes;
    final MountOptions opt;
    final io.fuseguard.internal.events.EventReporter events;
    final io.fuseguard.metrics.MountMetrics metrics;
    final FlushPolicy policy;
    final boolean deferredFlush;
    final long entrySec;
    final int entryNsec;
    final long attrSec;
    final int attrNsec;
    final long negativeSec;
    final int negativeNsec;
    final boolean negativeCaching;
    /** Whether the filesystem's inode numbers are reported (and unite the names of one file). */
    final boolean reportsIno;
    final int daemonUid = Syscalls.getuid();
    final int daemonGid = Syscalls.getgid();

    Requests(Shared shared) {
        this.shared = shared;
        this.s = shared.s;
        this.ops = shared.ops;
        this.nodes = shared.s.nodes;
        this.opt = shared.opt;
        this.events = shared.events;
        this.metrics = shared.metrics;
        this.policy = shared.policy;
        this.deferredFlush = policy == FlushPolicy.DEFERRED && ops.implementsFlush();
        this.entrySec = (long) opt.entryTimeout();
        this.entryNsec = nanos(opt.entryTimeout());
        this.attrSec = (long) opt.attrTimeout();
        this.attrNsec = nanos(opt.attrTimeout());
        this.negativeSec = (long) opt.negativeTimeout();
        this.negativeNsec = nanos(opt.negativeTimeout());
        this.negativeCaching = opt.negativeTimeout() > 0;
        this.reportsIno = opt.useIno() || ops.reportsInodes();
    }

    static int nanos(double seconds) {
        return (int) Math.round((seconds - Math.floor(seconds)) * 1e9) % 1_000_000_000;
    }

    // ---- supervised mounts: intents and resent requests ------------------------------------------------------

    /**
     * Records, in a supervised mount's state journal, that the request is about to make a change that is not
     * idempotent (a creation, a removal, a rename), before the filesystem is called: if this worker dies before
     * the change is recorded as done, the next one knows it may have happened ({@link #resentBegun}).
     */
    final void intent(Request r) {
        io.fuseguard.internal.state.StateJournal j = s.journal();
        if (j != null) {
            j.intent(r.unique);
        }
    }

    /**
     * Whether {@code r} was resent after the previous worker began its change (see {@link #intent}): then the
     * failure that change's success would cause now is success. Consulted once per request.
     */
    final boolean begunBefore(Request r) {
        return (r.unique & ResentRequests.RESEND) != 0 && !shared.resentBegun.isEmpty()
                && shared.resentBegun.remove(r.unique & ~ResentRequests.RESEND);
    }

    // ---- the guarded part of a request ---------------------------------------------------------------------

    /**
     * Registers the request with the watchdog and binds the caller to the thread. Returns false when the
     * request was answered already (refused, or interrupted before it started).
     */
    boolean begin(Worker w, Request r, Operation op, OperationKind kind, String path, Handle h,
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
        c.fd = r.fd;
        c.operation = op;
        c.path = path;
        c.pid = r.pid;
        c.startNanos = now;
        c.deadlineNanos = d;
        c.handle = h;
        w.context.begin(op, path, r.uid, r.gid, r.pid, umask, d);
        w.context.unique = r.unique;
        c.start();
        if (s.takeEarlyInterrupt(c)) {
            if (c.finish()) {
                reply(w, r, EINTR);
            }
            return false;
        }
        return true;
    }

    /** Ends the guarded part: true when this thread answers; false when it was answered already. */
    boolean end(Worker w, Request r, int result) {
        Call c = w.call;
        metrics.record(c.operation, System.nanoTime() - c.startNanos, result < 0 ? -result : 0);
        boolean mine = c.finish();
        w.context.end();
        if (!mine) {
            late(w, r, result);
        }
        return mine;
    }

    /**
     * Pins node {@code n} (with {@code name} in it, for a request about a name) for the rest of the request, so no
     * rename or removal changes its path while the filesystem works on it ({@link PathLocks}); waits while such a
     * change runs. False (answered, or to be answered by the watchdog) when the deadline passed first. The pin
     * is released when the request ends ({@link Dispatcher}).
     */
    boolean pin(Worker w, Request r, Node n, String name) {
        if (s.paths.pin(w.context.pin, n, name, w.call.deadlineNanos)) {
            return true;
        }
        if (end(w, r, -s.timeoutErrno)) {
            reply(w, r, s.timeoutErrno);
        }
        return false;
    }

    /** As {@link #pin(Worker, Request, Node, String)}, for a request that also uses a second node's path. */
    boolean pin(Worker w, Request r, Node n, String name, Node n2) {
        if (s.paths.pin(w.context.pin, n, name, n2, null, w.call.deadlineNanos)) {
            return true;
        }
        if (end(w, r, -s.timeoutErrno)) {
            reply(w, r, s.timeoutErrno);
        }
        return false;
    }

    /**
     * Locks the names a removal or rename changes ({@code name1} in {@code dir1}, and {@code name2} in
     * {@code dir2} for a rename) once nothing running depends on them. False (answered, or to be answered by the
     * watchdog) when the deadline passed first.
     */
    boolean lockNames(Worker w, Request r, Node dir1, String name1, Node dir2, String name2) {
        if (s.paths.lock(w.context.pin, dir1, name1, dir2, name2, w.call.deadlineNanos)) {
            return true;
        }
        if (end(w, r, -s.timeoutErrno)) {
            reply(w, r, s.timeoutErrno);
        }
        return false;
    }

    /** The path of the pinned node, also recorded as the request's path (logs, RequestContext). */
    String pinnedPath(Worker w, Node n) {
        String path = nodes.path(n);
        w.call.path = path;
        w.context.path = path;
        return path;
    }

    /** As {@link #pinnedPath(Worker, Node)}, for {@code name} in the pinned directory {@code parent}. */
    String pinnedPath(Worker w, Node parent, String name) {
        String path = nodes.childPath(parent, name);
        w.call.path = path;
        w.context.path = path;
        return path;
    }

    void late(Worker w, Request r, int result) {
        Call c = w.call;
        if (result == -EINTR && w.context.interrupted) {
            return; // the handler obeyed the interrupt it got when its request was answered
        }
        String outcome = result >= 0 ? "succeeded (" + result + ")" : "failed with errno " + (-result);
        if (shared.lateLogged.size() < 256 && shared.lateLogged.add(c.operation + " " + c.path)) {
            LOG.info("{} {} finished {} ms after it arrived, after it was answered; its result is discarded: {} "
                    + "(logged once per operation and path)", c.operation, c.path,
                    (System.nanoTime() - c.startNanos) / 1_000_000, outcome);
        }
        events.report(GuardEvent.Type.LATE_RESULT, c.operation, c.path, c.pid, c.startNanos, 0, null, outcome);
    }

    void reply(Worker w, Request r, int errno) {
        s.send(w, r.unique, errno, 0);
    }

    boolean replyOk(Worker w, Request r, int payload) {
        return s.send(w, r.unique, 0, payload);
    }

    void replyResult(Worker w, Request r, int rc) {
        reply(w, r, rc < 0 ? -rc : 0);
    }

    Node node(Request r) {
        return nodes.get(r.nodeid);
    }

    boolean isProbe(Request r) {
        return r.nodeid == NodeTable.PROBE_ID;
    }

    /** Answers an entry for node {@code n} (already counted); undoes the count if the kernel did not take it. */
    boolean sendEntry(Worker w, Request r, Node n, Attr a, int extra) {
        fixAttr(n, a);
        encodeEntry(w.out, n.id(), n.generation(), a, entrySec, entryNsec);
        if (replyOk(w, r, Fuse.ENTRY_OUT + extra)) {
            return true;
        }
        nodes.forget(n.id(), 1);
        return false;
    }

    void encodeEntry(ByteBuffer o, long nodeid, long generation, Attr a, long validSec, int validNsec) {
        encodeEntryAt(o, Fuse.OUT_HEADER, nodeid, generation, a, validSec, validNsec);
    }

    /** A {@code fuse_entry_out} at {@code at}. */
    void encodeEntryAt(ByteBuffer o, int at, long nodeid, long generation, Attr a, long validSec, int validNsec) {
        o.putLong(at, nodeid);
        o.putLong(at + 8, generation);
        o.putLong(at + 16, validSec);
        o.putLong(at + 24, attrSec);
        o.putInt(at + 32, validNsec);
        o.putInt(at + 36, attrNsec);
        a.encode(o, at + 40);
    }

    /**
     * libfuse's set_stat: the node id as inode number unless the filesystem reports its own (fuseguard's API,
     * or {@code use_ino} for a jnr-fuse filesystem), and the uid/gid/umask options.
     */
    void fixAttr(Node n, Attr a) {
        if (!reportsIno || a.ino == 0) {
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

    Attr probeAttr(Worker w) {
        Attr a = w.context.attr;
        a.clear();
        a.ino = NodeTable.PROBE_ID;
        a.mode = S_IFREG | 0444;
        a.nlink = 1;
        a.uid = daemonUid;
        a.gid = daemonGid;
        return a;
    }

    void encodeAttr(ByteBuffer o, Attr a, long validSec, int validNsec) {
        int at = Fuse.OUT_HEADER;
        o.putLong(at, validSec);
        o.putInt(at + 8, validNsec);
        o.putInt(at + 12, 0);
        a.encode(o, at + 16);
    }

    /**
     * Lets the close-time work of {@code n} (a deferred flush, a release, a late flush) finish before a request
     * that would overtake it (unlink, rename, fsync, the next flush), as plain libfuse orders them: the close
     * that queued it already returned. Waits at most four fifths of the time left to the request's deadline,
     * then lets it go on (and says so once).
     */
    void afterCloseWork(Worker w, Node n) {
        if (n == null || !n.hasPendingWork()) {
            return;
        }
        long left = (w.call.deadlineNanos - System.nanoTime()) * 4 / 5;
        try {
            if (!n.awaitWork(Math.max(0, left)) && shared.overtakeLogged.compareAndSet(false, true)) {
                LOG.warn("{} {} goes ahead of close-time work of that file that is still running after {} ms (a "
                        + "slow flush); logged once", w.call.operation, w.call.path, left / 1_000_000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- creating and removing names -----------------------------------------------------------------------

    /** The parent node and new path of a request that creates a name; null (answered) when invalid. */
    String newPath(Worker w, Request r, Node parent, String name) {
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
            reply(w, r, NO_PATH);
        }
        return path;
    }

    Handle fileHandle(Worker w, Request r) {
        Handle h = s.handles.get(r.i64(0));
        if (h == null) {
            reply(w, r, EBADF);
        } else if (h.isLost()) {
            reply(w, r, io.fuseguard.internal.sys.Syscalls.EIO); // not opened again after a worker change
            return null;
        }
        return h;
    }

    /** The node of a request on a named file (not the probe); null (answered) when there is none. */
    Node namedNode(Worker w, Request r) {
        if (isProbe(r)) {
            reply(w, r, ENOSYS);
            return null;
        }
        Node n = node(r);
        if (n == null) {
            reply(w, r, ENOENT);
        }
        return n;
    }

    /**
     * The guarded start of a request on node {@code n}: registered with the watchdog, the node pinned, its path
     * resolved under the pin (then in {@code w.call.path}). A null path (a node that lost its name, or a file
     * removed while open under {@code hard_remove}) is answered {@link #NO_PATH} unless {@code nullOk}. False (answered) when the request ends here.
     */
    boolean beginOn(Worker w, Request r, Operation op, OperationKind kind, Node n, Handle h, long deadline,
                    boolean nullOk) {
        String path = nodes.path(n);
        // ESTALE only where the kernel walked a path and walks it again (an open); a request made through a
        // descriptor (fstat, fchmod, getdents of a removed directory) cannot be retried and keeps ENOENT.
        int gone = op == Operation.OPEN ? NO_PATH : ENOENT;
        if (path == null && !nullOk) {
            reply(w, r, gone);
            return false;
        }
        if (!begin(w, r, op, kind, path, h, deadline, 0) || !pin(w, r, n, null)) {
            return false;
        }
        if (pinnedPath(w, n) == null && !nullOk) {
            if (end(w, r, -gone)) {
                reply(w, r, gone);
            }
            return false;
        }
        return true;
    }

    static void encodeOpen(ByteBuffer o, int at, long fh, int flags) {
        encodeOpen(o, at, fh, flags, 0);
    }

    /** {@code fuse_open_out}: the handle, the FOPEN flags and the backing id (0: none). */
    static void encodeOpen(ByteBuffer o, int at, long fh, int flags, int backingId) {
        o.putLong(at, fh);
        o.putInt(at + 8, flags);
        o.putInt(at + 12, backingId);
    }
}
