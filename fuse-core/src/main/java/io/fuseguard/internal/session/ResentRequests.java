package io.fuseguard.internal.session;

import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.internal.state.StateJournal;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;

import java.util.concurrent.ConcurrentHashMap;

import static io.fuseguard.internal.sys.Syscalls.EIO;

/**
 * Requests the kernel sends again after a supervised mount's worker died (FUSE_NOTIFY_RESEND marks them with the
 * top bit of their unique) whose change the dead worker had already made and recorded, but not answered: the
 * new worker answers them from the record instead of making the change twice (a second lookup count, a second
 * open, a rename of a name that is gone). A resent request whose change was not recorded runs as usual.
 */
final class ResentRequests extends Requests {
    /** The bit the kernel sets in the unique of a request it sends again (FUSE_UNIQUE_RESEND). */
    static final long RESEND = 1L << 63;

    /** What the previous worker recorded for one request. */
    private static final class Applied {
        long node;
        long handle;
        /** A change recorded as done (the answer can be given from the record). */
        boolean done;
        /** Only begun: the change may or may not have happened. */
        boolean begun;
    }

    private final ConcurrentHashMap<Long, Applied> applied = new ConcurrentHashMap<>();
    private final FileRequests files;

    ResentRequests(Requests.Shared shared, FileRequests files) {
        super(shared);
        this.files = files;
    }

    private Applied of(long unique) {
        return applied.computeIfAbsent(unique & ~RESEND, u -> new Applied());
    }

    /** Notes the request behind a replayed record of the previous worker. */
    void collect(StateJournal.Entry e) {
        switch (e.type()) {
            case StateJournal.NODE_REF, StateJournal.NODE_LINK, StateJournal.REF -> {
                long u = e.l();
                long node = e.l();
                if (u != 0) {
                    Applied a = of(u);
                    a.node = node;
                    a.done = true;
                }
            }
            case StateJournal.HANDLE_ADD -> {
                long u = e.l();
                long handle = e.l();
                long node = e.l();
                if (u != 0) {
                    Applied a = of(u);
                    a.handle = handle;
                    a.node = node;
                    a.done = true;
                }
            }
            case StateJournal.UNLINK, StateJournal.RENAME, StateJournal.EXCHANGE, StateJournal.HANDLE_RELEASED,
                    StateJournal.RESULT -> {
                long u = e.l();
                if (u != 0) {
                    of(u).done = true;
                }
            }
            case StateJournal.INTENT -> {
                long u = e.l();
                if (u != 0) {
                    of(u).begun = true;
                }
            }
            default -> {
            }
        }
    }

    /** Forgets what no resent request can refer to any more (the kernel resends once, right after RESEND). */
    void clear() {
        applied.clear();
        shared.resentBegun.clear();
        shared.resentCounted.clear();
    }

    /**
     * Answers a resent request whose change was made already; false when the request must run as usual (it was
     * not resent, or its change was never recorded).
     */
    boolean answer(Worker w, Request r) {
        if ((r.unique & RESEND) == 0 || applied.isEmpty()) {
            return false;
        }
        Applied a = applied.remove(r.unique & ~RESEND);
        if (a == null) {
            return false;
        }
        if (!a.done) {
            if (a.begun) {
                shared.resentBegun.add(r.unique & ~RESEND); // it runs again, and tolerates its own earlier success
            }
            return false;
        }
        switch (r.opcode) {
            case Fuse.LOOKUP, Fuse.MKNOD, Fuse.MKDIR, Fuse.SYMLINK, Fuse.LINK -> entry(w, r, a, false);
            case Fuse.CREATE -> {
                if (a.handle == 0) {
                    // the previous worker counted the new name but died before its open was recorded: the file
                    // exists, it is opened again (no second lookup count)
                    shared.resentBegun.add(r.unique & ~RESEND);
                    shared.resentCounted.put(r.unique & ~RESEND, a.node);
                    return false;
                }
                entry(w, r, a, true);
            }
            case Fuse.OPEN, Fuse.OPENDIR -> {
                Handle h = s.handles.get(a.handle);
                if (h == null) {
                    return false;
                }
                encodeOpen(w.out, Fuse.OUT_HEADER, h.id(), r.opcode == Fuse.OPEN ? files.openFlags(0) : 0);
                replyOk(w, r, Fuse.OPEN_OUT);
            }
            case Fuse.UNLINK, Fuse.RMDIR, Fuse.RENAME, Fuse.RENAME2, Fuse.RELEASE, Fuse.RELEASEDIR -> reply(w, r, 0);
            default -> {
                return false;
            }
        }
        return true;
    }

    /** An entry answer for a node the previous worker counted already (no second count). */
    private void entry(Worker w, Request r, Applied a, boolean open) {
        Node n = nodes.get(a.node);
        if (n == null || !beginOn(w, r, Operation.LOOKUP, OperationKind.METADATA, n, null, 0, false)) {
            if (n == null) {
                reply(w, r, EIO);
            }
            return;
        }
        Attr attr = w.context.attr;
        attr.clear();
        int rc = ops.getattr(w.context, w.call.path, 0, false, attr);
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        fixAttr(n, attr);
        encodeEntry(w.out, n.id(), n.generation(), attr, entrySec, entryNsec);
        int extra = 0;
        if (open) {
            Handle h = s.handles.get(a.handle);
            encodeOpen(w.out, Fuse.OUT_HEADER + Fuse.ENTRY_OUT, h == null ? 0 : h.id(), files.openFlags(0));
            extra = Fuse.OPEN_OUT;
        }
        replyOk(w, r, Fuse.ENTRY_OUT + extra);
    }
}
