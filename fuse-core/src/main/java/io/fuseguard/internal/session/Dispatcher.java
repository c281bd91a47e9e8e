package io.fuseguard.internal.session;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.wire.Fuse;

import static io.fuseguard.internal.sys.Syscalls.EILSEQ;
import static io.fuseguard.internal.sys.Syscalls.EIO;
import static io.fuseguard.internal.sys.Syscalls.ENOTCONN;

/**
 * Routes each FUSE request to its family ({@link EntryRequests}, {@link AttrRequests}, {@link FileRequests},
 * {@link DirRequests}, {@link LockRequests}, {@link ConnectionRequests}), through the lanes that bound how many handlers of a kind run
 * at once. The families turn requests into calls of the path-based operation table and results into answers, the
 * way libfuse's high-level layer does, around the shared guarded section of {@link Requests}: the request's
 * deadline, kernel interrupts, answer-once, the self-access policy and the flush policy.
 */
final class Dispatcher {
    private static final Log LOG = Log.of(Dispatcher.class);

    private final Session s;
    private final Requests.Shared shared;
    private final ConnectionRequests connection;
    private final EntryRequests entries;
    private final AttrRequests attrs;
    private final FileRequests files;
    private final DirRequests dirs;
    private final ResentRequests resent;
    private final LockRequests locks;
    private final boolean debug;

    Dispatcher(Session s, FsOps ops, FuseguardConfig config, MountOptions opt, EventReporter events,
               io.fuseguard.metrics.MountMetrics metrics) {
        this.s = s;
        this.shared = new Requests.Shared(s, ops, config, opt, events, metrics);
        this.connection = new ConnectionRequests(shared);
        this.entries = new EntryRequests(shared);
        this.attrs = new AttrRequests(shared);
        this.files = new FileRequests(shared);
        this.dirs = new DirRequests(shared);
        this.resent = new ResentRequests(shared, files);
        this.locks = new LockRequests(shared);
        this.debug = config.mount().debug();
    }

    /** The family that answers requests the kernel resent after a supervised worker died. */
    ResentRequests resent() {
        return resent;
    }

    /** INIT's family (a resumed worker takes INIT's outcome from the state journal). */
    ConnectionRequests connection() {
        return connection;
    }

    long flushRequests() {
        return shared.flushRequests.get();
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
            case Fuse.READDIR, Fuse.READDIRPLUS -> Operation.READDIR;
            case Fuse.RELEASEDIR -> Operation.RELEASEDIR;
            case Fuse.FSYNCDIR -> Operation.FSYNCDIR;
            case Fuse.ACCESS -> Operation.ACCESS;
            case Fuse.CREATE -> Operation.CREATE;
            case Fuse.GETLK -> Operation.GETLK;
            case Fuse.SETLK -> Operation.SETLK;
            case Fuse.SETLKW -> Operation.SETLKW;
            case Fuse.LSEEK -> Operation.LSEEK;
            case Fuse.COPY_FILE_RANGE, Fuse.COPY_FILE_RANGE_64 -> Operation.COPY_FILE_RANGE;
            case Fuse.STATX -> Operation.STATX;
            case Fuse.TMPFILE -> Operation.TMPFILE;
            case Fuse.IOCTL -> Operation.IOCTL;
            case Fuse.POLL -> Operation.POLL;
            default -> Operation.GETATTR;
        };
    }

    // ---- entry points --------------------------------------------------------------------------------------

    void dispatch(Worker w, Request r) {
        w.replyFd = r.fd;
        w.context.journalUnique = r.unique;
        try {
            dispatchRead(w, r);
        } finally {
            w.context.journalUnique = 0;
        }
    }

    private void dispatchRead(Worker w, Request r) {
        if (debug) {
            System.err.printf("fuseguard: unique %d %s node %d pid %d len %d%n", r.unique, Fuse.name(r.opcode),
                    r.nodeid, r.pid, r.length);
        }
        if (r.opcode != Fuse.RELEASE) {
            w.justRead = 0;
        }
        switch (r.opcode) {
            case Fuse.INIT -> connection.init(w, r);
            case Fuse.FORGET -> s.nodes.forget(r.nodeid, r.i64(0));
            case Fuse.BATCH_FORGET -> connection.batchForget(r);
            case Fuse.INTERRUPT -> s.interrupt(r.i64(0));
            case Fuse.NOTIFY_REPLY -> s.notifier.retrieveReply(r); // never answered
            case Fuse.DESTROY -> s.send(w, r.unique, 0, 0);
            case Fuse.RELEASE, Fuse.RELEASEDIR -> {
                if (r.unique < 0 && resent.answer(w, r)) {
                    w.justRead = 0;
                    return;
                }
                // Counted at once: an unlink that follows the close must see the file closed (the kernel sent
                // this RELEASE just before it). Never refused nor queued with a deadline: a release that does not
                // run inline at once runs as close-time work, so every one reaches the filesystem.
                files.noteReleased(r);
                w.justRead = 0;
                if (files.releasesInline(r) && s.metadataLane.tryEnter()) {
                    run(w, r, s.metadataLane, 0);
                    drain(w, s.metadataLane);
                } else {
                    files.releaseLater(w, r);
                }
            }
            default -> laned(w, r);
        }
    }

    /**
     * What the reader of last resort does with a request: the kernel's bookkeeping as usual, a release as
     * close-time work, anything else into its lane's queue (or the overload errno when the queue is full). No
     * handler runs on this thread.
     */
    void dispatchWithoutHandlers(Worker w, Request r) {
        w.replyFd = r.fd;
        if ((r.opcode == Fuse.RELEASE || r.opcode == Fuse.RELEASEDIR) && r.unique < 0 && resent.answer(w, r)) {
            w.justRead = 0;
            return; // resent, and released by the previous worker already (its close work is finished anyway)
        }
        if (r.opcode == Fuse.RELEASE || r.opcode == Fuse.RELEASEDIR) {
            w.context.journalUnique = r.unique;
            try {
                files.noteReleased(r);
            } finally {
                w.context.journalUnique = 0;
            }
        }
        w.justRead = 0;
        switch (r.opcode) {
            case Fuse.FORGET -> s.nodes.forget(r.nodeid, r.i64(0));
            case Fuse.BATCH_FORGET -> connection.batchForget(r);
            case Fuse.INTERRUPT -> s.interrupt(r.i64(0));
            case Fuse.NOTIFY_REPLY -> s.notifier.retrieveReply(r);
            case Fuse.DESTROY -> s.send(w, r.unique, 0, 0);
            case Fuse.RELEASE, Fuse.RELEASEDIR -> files.releaseLater(w, r);
            default -> {
                if (s.closing()) {
                    s.send(w, r.unique, ENOTCONN, 0);
                } else {
                    queue(w, r, isData(r) ? s.dataLane : s.metadataLane);
                }
            }
        }
    }

    private void laned(Worker w, Request r) {
        if (s.closing()) {
            s.send(w, r.unique, ENOTCONN, 0);
            return;
        }
        Lane lane = isData(r) ? s.dataLane : s.metadataLane;
        if (!lane.tryEnter()) {
            if (queue(w, r, lane)) {
                drain(w, lane);
            }
            return;
        }
        run(w, r, lane, 0);
        drain(w, lane);
    }

    /** Puts a request in its lane's queue with its deadline; answers the overload errno when the queue is full. */
    private boolean queue(Worker w, Request r, Lane lane) {
        long now = System.nanoTime();
        QueuedRequest q = new QueuedRequest(r.buf, r.length, r.fd, now, now + s.deadlines[kindOf(r).ordinal()]);
        if (lane.offer(q)) {
            return true;
        }
        s.send(w, r.unique, Session.lockSafe(r.opcode, s.overloadErrno), 0);
        shared.events.report(GuardEvent.Type.OVERLOADED, operationOf(r.opcode), "", r.pid, now, s.overloadErrno,
                null, "all " + lane.budget + " threads of the " + lane.name + " lane busy and " + lane.capacity
                        + " requests waiting");
        return false;
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
        w.replyFd = r.fd;
        w.call.lane = lane;
        w.context.journalUnique = r.unique;
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
            if (e instanceof Error) {
                s.fatal(e, "the handling of " + Fuse.name(r.opcode)); // not a handler's: bridges catch those
            }
        } finally {
            s.paths.unpin(w.context.pin); // what the request still holds: it was not answered here (see Session.send)
            Lane l = w.call.lane;
            if (l != null) {
                l.exit();
                w.call.lane = null;
            }
            w.context.end();
            w.context.journalUnique = 0;
            w.call.idle();
        }
    }

    private static boolean isData(Request r) {
        return switch (r.opcode) {
            case Fuse.READ, Fuse.WRITE, Fuse.FALLOCATE, Fuse.FSYNC, Fuse.FSYNCDIR, Fuse.FLUSH, Fuse.LSEEK,
                    Fuse.COPY_FILE_RANGE, Fuse.COPY_FILE_RANGE_64, Fuse.SETLKW, Fuse.IOCTL -> true;
            case Fuse.SETATTR -> (r.i32(0) & Fuse.FATTR_SIZE) != 0;
            default -> false;
        };
    }

    private static OperationKind kindOf(Request r) {
        return switch (r.opcode) {
            case Fuse.READ, Fuse.WRITE, Fuse.FALLOCATE, Fuse.LSEEK, Fuse.COPY_FILE_RANGE, Fuse.COPY_FILE_RANGE_64,
                    Fuse.SETLKW, Fuse.IOCTL -> OperationKind.DATA;
            case Fuse.FSYNC, Fuse.FSYNCDIR -> OperationKind.SYNC;
            case Fuse.FLUSH -> OperationKind.FLUSH;
            case Fuse.SETATTR -> (r.i32(0) & Fuse.FATTR_SIZE) != 0 ? OperationKind.DATA : OperationKind.METADATA;
            default -> OperationKind.METADATA;
        };
    }

    private void handle(Worker w, Request r, long deadline) {
        if (r.unique < 0 && resent.answer(w, r)) {
            return; // resent after a supervised worker's death, and done already: answered from the record
        }
        switch (r.opcode) {
            case Fuse.LOOKUP -> entries.lookup(w, r, deadline);
            case Fuse.GETATTR -> attrs.getattr(w, r, deadline);
            case Fuse.SETATTR -> attrs.setattr(w, r, deadline);
            case Fuse.READLINK -> attrs.readlink(w, r, deadline);
            case Fuse.SYMLINK -> entries.symlink(w, r, deadline);
            case Fuse.MKNOD -> entries.mknod(w, r, deadline);
            case Fuse.MKDIR -> entries.mkdir(w, r, deadline);
            case Fuse.UNLINK -> entries.unlink(w, r, deadline);
            case Fuse.RMDIR -> entries.rmdir(w, r, deadline);
            case Fuse.RENAME -> entries.rename(w, r, deadline, r.i64(0), 8, 0);
            case Fuse.RENAME2 -> entries.rename(w, r, deadline, r.i64(0), 16, r.i32(8));
            case Fuse.FALLOCATE -> files.fallocate(w, r, deadline);
            case Fuse.LINK -> entries.link(w, r, deadline);
            case Fuse.OPEN -> files.open(w, r, deadline);
            case Fuse.READ -> files.read(w, r, deadline);
            case Fuse.WRITE -> files.write(w, r, deadline);
            case Fuse.STATFS -> attrs.statfs(w, r, deadline);
            case Fuse.FSYNC -> files.fsync(w, r, deadline);
            case Fuse.SETXATTR -> attrs.setxattr(w, r, deadline);
            case Fuse.GETXATTR -> attrs.getxattr(w, r, deadline, false);
            case Fuse.LISTXATTR -> attrs.getxattr(w, r, deadline, true);
            case Fuse.REMOVEXATTR -> attrs.removexattr(w, r, deadline);
            case Fuse.FLUSH -> files.flush(w, r, deadline);
            case Fuse.OPENDIR -> dirs.opendir(w, r, deadline);
            case Fuse.READDIR -> dirs.readdir(w, r, deadline);
            case Fuse.READDIRPLUS -> dirs.readdirplus(w, r, deadline);
            case Fuse.FSYNCDIR -> dirs.fsyncdir(w, r, deadline);
            case Fuse.ACCESS -> attrs.access(w, r, deadline);
            case Fuse.CREATE -> files.create(w, r, deadline);
            case Fuse.RELEASE, Fuse.RELEASEDIR -> files.releaseInline(w, r, deadline);
            case Fuse.GETLK -> locks.getlk(w, r, deadline);
            case Fuse.SETLK -> locks.setlk(w, r, deadline, false);
            case Fuse.SETLKW -> locks.setlk(w, r, deadline, true);
            case Fuse.LSEEK -> files.lseek(w, r, deadline);
            case Fuse.COPY_FILE_RANGE -> files.copyFileRange(w, r, deadline, false);
            case Fuse.COPY_FILE_RANGE_64 -> files.copyFileRange(w, r, deadline, true);
            case Fuse.TMPFILE -> files.tmpfile(w, r, deadline);
            case Fuse.STATX -> attrs.statx(w, r, deadline);
            case Fuse.IOCTL -> files.ioctl(w, r, deadline);
            case Fuse.POLL -> files.poll(w, r, deadline);
            // bmap, syncfs, ...: ENOSYS, and the kernel uses its defaults
            default -> s.send(w, r.unique, Syscalls.ENOSYS, 0);
        }
    }

}
