package io.fuseguard.internal.session;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;

import static io.fuseguard.internal.sys.Syscalls.EBADF;
import static io.fuseguard.internal.sys.Syscalls.EEXIST;
import static io.fuseguard.internal.sys.Syscalls.EDEADLK;
import static io.fuseguard.internal.sys.Syscalls.EINVAL;
import static io.fuseguard.internal.sys.Syscalls.ENOENT;
import static io.fuseguard.internal.sys.Syscalls.ENOSYS;

/**
 * Requests on open files: OPEN, CREATE, READ, WRITE, FALLOCATE, FLUSH, FSYNC and RELEASE (inline, or queued
 * as close-time work).
 */
final class FileRequests extends Requests {
    private static final int O_ACCMODE = 03;

    FileRequests(Requests.Shared shared) {
        super(shared);
    }

    int openFlags(int requested) {
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

    /**
     * The FOPEN flags of an open the kernel serves from a backing file: only those the kernel allows beside
     * {@link Fuse#FOPEN_PASSTHROUGH} (no direct I/O, which would send reads and writes to the daemon again, no kept
     * cache: the backing file has its own).
     */
    int passthroughFlags() {
        return Fuse.FOPEN_PASSTHROUGH | (policy != FlushPolicy.BOUNDED ? Fuse.FOPEN_NOFLUSH : 0);
    }

    /**
     * The backing id to answer the open of {@code h} with (0: none), on a mount that passes I/O through:
     * {@code backingFd} is what the filesystem named for it, asked inside the open's guarded section.
     */
    private int backing(Worker w, Handle h, int backingFd, int flags, String path) {
        return s.passthrough.attach(h, backingFd, (flags & O_ACCMODE) != 0, path,
                w.outAddress + w.buffers.outCapacity - Fuse.BACKING_MAP_SIZE);
    }

    /** Whether an open for writing by the daemon's own thread was refused (answered EDEADLK) under writeback. */
    private boolean refusedWrite(Worker w, Request r, int flags, Operation op, String path) {
        if (!opt.writebackCache() || (flags & O_ACCMODE) == 0 || !s.selfAccess.refuseWrite(path, r.pid)) {
            return false;
        }
        reply(w, r, EDEADLK);
        events.report(GuardEvent.Type.SELF_ACCESS, op, path, r.pid, System.nanoTime(), EDEADLK, null,
                "refused: an open for writing by the daemon itself, with the writeback cache on");
        return true;
    }

    void open(Worker w, Request r, long deadline) {
        int flags = r.i32(0);
        if (isProbe(r)) {
            // The probe is opened without FOPEN_NOFLUSH: its close must send the FLUSH that sets no_flush.
            encodeOpen(w.out, Fuse.OUT_HEADER, Probe.FH, Fuse.FOPEN_DIRECT_IO);
            replyOk(w, r, Fuse.OPEN_OUT);
            return;
        }
        Node n = node(r);
        if (n == null) {
            reply(w, r, ENOENT);
            return;
        }
        if (opt.writebackCache() && refusedWrite(w, r, flags, Operation.OPEN, nodes.path(n))) {
            return;
        }
        if (!beginOn(w, r, Operation.OPEN, OperationKind.METADATA, n, null, deadline, false)) {
            return;
        }
        String path = w.call.path;
        OpContext c = w.context;
        c.open.clear();
        int rc = ops.open(c, path, flags, c.open);
        long fh = c.open.fh;
        int fopen = c.open.openFlags;
        boolean passthrough = s.passthrough.usable();
        int backingFd = rc >= 0 && passthrough ? ops.backingFile(c, path, fh, flags) : FsOps.NO_BACKING;
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
        Handle h = s.handles.add(n, fh, flags, false, r.uid, r.gid, r.pid);
        int backing = passthrough ? backing(w, h, backingFd, flags, path) : 0;
        encodeOpen(w.out, Fuse.OUT_HEADER, h.id(), backing > 0 ? passthroughFlags() : openFlags(fopen), backing);
        if (!replyOk(w, r, Fuse.OPEN_OUT)) {
            // the caller went away: no RELEASE will come
            s.closeWork.release(h, r.uid, r.gid, r.pid);
        }
    }

    void create(Worker w, Request r, long deadline) {
        Node parent = node(r);
        int flags = r.i32(0);
        int mode = r.i32(4);
        int umask = r.i32(8);
        String name = r.string(16);
        String path = newPath(w, r, parent, name);
        if (path != null && refusedWrite(w, r, flags, Operation.CREATE, path)) {
            return;
        }
        if (path == null || !begin(w, r, Operation.CREATE, OperationKind.METADATA, path, null, deadline, umask)
                || !pin(w, r, parent, name)) {
            return;
        }
        path = pinnedPath(w, parent, name);
        if (path == null) {
            if (end(w, r, -NO_PATH)) {
                reply(w, r, NO_PATH);
            }
            return;
        }
        OpContext c = w.context;
        c.open.clear();
        intent(r);
        int rc = ops.create(c, path, mode, flags, c.open);
        if (rc == -EEXIST && begunBefore(r)) {
            // a supervised mount's previous worker made it and died before it said so: opened as it exists
            c.open.clear();
            rc = ops.open(c, path, flags & ~(0100 | 0200 | 01000), c.open); // O_CREAT, O_EXCL, O_TRUNC
        }
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
        boolean passthrough = s.passthrough.usable();
        int backingFd = FsOps.NO_BACKING;
        if (rc >= 0 && passthrough) {
            c.operation = Operation.CREATE;
            backingFd = ops.backingFile(c, path, fh, flags);
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
        Long counted = shared.resentCounted.isEmpty() ? null
                : shared.resentCounted.remove(r.unique & ~ResentRequests.RESEND);
        Node n = counted != null && nodes.get(counted) != null ? nodes.get(counted) // counted by the dead worker
                : nodes.lookup(parent, name, reportsIno ? a.ino : 0, Integer.toUnsignedLong(a.nlink));
        nodes.opened(n);
        Handle h = s.handles.add(n, fh, flags, false, r.uid, r.gid, r.pid);
        int backing = passthrough ? backing(w, h, backingFd, flags, path) : 0;
        encodeOpen(w.out, Fuse.OUT_HEADER + Fuse.ENTRY_OUT, h.id(), backing > 0 ? passthroughFlags()
                : openFlags(fopen), backing);
        if (!sendEntry(w, r, n, a, Fuse.OPEN_OUT)) {
            s.closeWork.release(h, r.uid, r.gid, r.pid);
        }
    }

    void read(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long offset = r.i64(8);
        int size = Math.min(r.i32(16), w.replyData.capacity());
        h.enter();
        try {
            if (!beginOn(w, r, Operation.READ, OperationKind.DATA, h.node(), h, deadline, true)) {
                return;
            }
            String path = w.call.path;
            ByteBuffer dst = w.replyData.clear().limit(size);
            w.context.fileFlags = r.i32(32); // fuse_read_in: the file's f_flags and lock owner, for jnr-fuse's fi
            w.context.lockOwner = r.i64(24);
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

    void write(Worker w, Request r, long deadline) {
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
        ByteBuffer src = r.buf == w.in ? w.writeData.clear().limit(size)
                : r.buf.duplicate().position(Fuse.WRITE_DATA).limit(Fuse.WRITE_DATA + size).slice()
                .asReadOnlyBuffer();
        h.enter();
        try {
            if (!beginOn(w, r, Operation.WRITE, OperationKind.DATA, h.node(), h, deadline, true)) {
                return;
            }
            String path = w.call.path;
            h.markDirty();
            w.context.fileFlags = r.i32(32); // fuse_write_in, as for read
            w.context.lockOwner = r.i64(24);
            w.context.writeFlags = r.i32(20);
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

    void fallocate(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long offset = r.i64(8);
        long length = r.i64(16);
        int mode = r.i32(24);
        h.enter();
        try {
            if (!beginOn(w, r, Operation.FALLOCATE, OperationKind.DATA, h.node(), h, deadline, true)) {
                return;
            }
            String path = w.call.path;
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

    void flush(Worker w, Request r, long deadline) {
        shared.flushRequests.incrementAndGet();
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
        h.enter();
        try {
            // One flush of a file at a time: a late one must not finish after a newer one (stale content).
            // Waited for before the file is pinned: close-time work may itself wait for a rename of it.
            if (!beginAfterCloseWork(w, r, Operation.FLUSH, OperationKind.FLUSH, h, deadline)) {
                return;
            }
            String path = w.call.path;
            h.node().workStarted();
            int rc;
            try {
                w.context.lockOwner = r.i64(16); // fuse_flush_in's lock owner
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

    void fsync(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        boolean dataOnly = (r.i32(8) & Fuse.FSYNC_FDATASYNC) != 0;
        h.enter();
        try {
            // An earlier handle's deferred flush of this file must be done for fsync to mean durable.
            if (!beginAfterCloseWork(w, r, Operation.FSYNC, OperationKind.SYNC, h, deadline)) {
                return;
            }
            String path = w.call.path;
            OpContext c = w.context;
            int rc = 0;
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
    boolean releasesInline(Request r) {
        if (s.closing()) {
            return false;
        }
        Handle h = s.handles.get(r.i64(0));
        return h != null && (!deferredFlush || h.isDirectory()) && h.running() == 0;
    }

    /** Counts the release of the handle a RELEASE names (see {@link CloseWork#noteReleased}). */
    void noteReleased(Request r) {
        Handle h = s.handles.get(r.i64(0));
        if (h != null) {
            s.closeWork.noteReleased(h);
        }
    }

    void releaseInline(Worker w, Request r, long deadline) {
        Handle h = s.handles.get(r.i64(0));
        if (h == null) {
            reply(w, r, 0);
            return;
        }
        s.closeWork.noteReleased(h);
        Node n = h.node();
        boolean dir = h.isDirectory();
        if (!beginOn(w, r, dir ? Operation.RELEASEDIR : Operation.RELEASE, OperationKind.METADATA, n, h, deadline,
                true)) {
            // answered already (the kernel ignores how): the release itself must still reach the filesystem
            s.closeWork.release(h, h.openerUid(), h.openerGid(), h.openerPid());
            return;
        }
        String path = w.call.path;
        OpContext c = w.context;
        c.uid = h.openerUid(); // RELEASE carries no caller: the opener stands in for it
        c.gid = h.openerGid();
        c.pid = h.openerPid();
        if (!dir) {
            LockRequests.releaseLocks(ops, c, path, h); // the FLUSH that would drop them is never sent
        }
        int rc = dir ? ops.releasedir(c, path, h.userFh()) : ops.release(c, path, h.userFh(), h.flags());
        s.handles.remove(h);
        if (!dir && nodes.lastCloseOfHidden(n, 0)) {
            CloseWork.removeHidden(s.paths, nodes, c, n, w.call.deadlineNanos, hidden -> {
                c.operation = Operation.UNLINK;
                return ops.unlink(c, hidden);
            });
        }
        if (!dir) {
            nodes.releaseIfForgotten(n); // a FORGET that came before this RELEASE left the node to it
        }
        if (end(w, r, rc)) {
            reply(w, r, 0); // the kernel ignores release errors, as libfuse does
        }
    }

    void releaseLater(Worker w, Request r) {
        long fh = r.i64(0);
        reply(w, r, 0); // the kernel does not wait for this; the work happens on a close-time thread
        if (fh == Probe.FH) {
            s.probe.released();
            return;
        }
        Handle h = s.handles.get(fh);
        if (h != null) {
            // RELEASE carries no caller (the kernel may send it from a worker): the opener stands in for the
            // process that closed the file, which is who plain libfuse's flush saw. An unlink of the file waits
            // for this work, so it sees the file closed.
            s.closeWork.release(h, h.openerUid(), h.openerGid(), h.openerPid());
        }
    }


    /**
     * As {@link #beginOn}, with the close-time work of the handle's file waited for between the start and the
     * pin (that work pins the file too, and may wait for a rename that would wait for this request's pin).
     */
    private boolean beginAfterCloseWork(Worker w, Request r, Operation op, OperationKind kind, Handle h,
                                        long deadline) {
        Node n = h.node();
        if (!begin(w, r, op, kind, nodes.path(n), h, deadline, 0)) {
            return false;
        }
        afterCloseWork(w, n);
        if (!pin(w, r, n, null)) {
            return false;
        }
        pinnedPath(w, n);
        return true;
    }

    // ---- seeking for holes, copies, O_TMPFILE -----------------------------------------------------------------

    /** LSEEK: only SEEK_DATA and SEEK_HOLE reach the daemon (the kernel does the other seeks itself). */
    void lseek(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long offset = r.i64(8);
        int whence = r.i32(16);
        h.enter();
        try {
            if (!beginOn(w, r, Operation.LSEEK, OperationKind.DATA, h.node(), h, deadline, true)) {
                return;
            }
            long at = ops.lseek(w.context, w.call.path, h.userFh(), offset, whence);
            if (!end(w, r, at < 0 ? (int) at : 0)) {
                return;
            }
            if (at < 0) {
                reply(w, r, (int) -at);
                return;
            }
            w.out.putLong(Fuse.OUT_HEADER, at);
            replyOk(w, r, 8);
        } finally {
            h.exit();
        }
    }

    /**
     * COPY_FILE_RANGE (a 32-bit count answered) and COPY_FILE_RANGE_64 (7.45: a 64-bit count): between two open
     * files, both pinned for the copy.
     */
    void copyFileRange(Worker w, Request r, long deadline, boolean wide) {
        Handle in = fileHandle(w, r);
        if (in == null) {
            return;
        }
        long offsetIn = r.i64(8);
        Handle out = s.handles.get(r.i64(24));
        if (out == null) {
            reply(w, r, EBADF);
            return;
        }
        long offsetOut = r.i64(32);
        long length = r.i64(40);
        int flags = (int) r.i64(48);
        if (!wide) {
            length = Math.min(length, 0xfffff000L); // what a 32-bit answer can count
        }
        in.enter();
        out.enter();
        try {
            Node from = in.node();
            Node to = out.node();
            if (!begin(w, r, Operation.COPY_FILE_RANGE, OperationKind.DATA, nodes.path(from), in, deadline, 0)
                    || !pin(w, r, from, null, to)) {
                return;
            }
            String pathIn = pinnedPath(w, from);
            String pathOut = nodes.path(to);
            out.markDirty(); // a changed file: its close-time work must run, as after a write
            long n = ops.copyFileRange(w.context, pathIn, in.userFh(), offsetIn, pathOut, out.userFh(), offsetOut,
                    length, flags);
            if (!end(w, r, n < 0 ? (int) n : 0)) {
                return;
            }
            if (n < 0) {
                reply(w, r, (int) -n);
                return;
            }
            if (wide) {
                w.out.putLong(Fuse.OUT_HEADER, n);
            } else {
                w.out.putInt(Fuse.OUT_HEADER, (int) n);
                w.out.putInt(Fuse.OUT_HEADER + 4, 0);
            }
            replyOk(w, r, 8);
        } finally {
            out.exit();
            in.exit();
        }
    }

    /** Whether the refusal of O_TMPFILE in a supervised mount was logged (once per mount). */
    private volatile boolean tmpfileRefusalLogged;

    /**
     * TMPFILE ({@code open(2)} with {@code O_TMPFILE}): a file with no name, which fuseguard knows by a name it
     * reserves in the directory (see {@code FuseFileSystem.tmpfile}). Its node is hidden from birth, so the
     * release of its last handle removes that name, as for a file unlinked while open; a {@code linkat} gives it
     * a real name meanwhile.
     *
     * <p>Not in a supervised mount: such a file's content lives only behind the worker's own descriptors, so a
     * worker's death or hand-over would lose it (a reviewer's O_TMPFILE file answered ENOENT and EIO after a
     * worker change, and could no longer be linked). ENOSYS makes the kernel answer EOPNOTSUPP and stop sending
     * TMPFILE for the connection, and programs fall back to named temporary files, as on filesystems without
     * O_TMPFILE.
     */
    void tmpfile(Worker w, Request r, long deadline) {
        if (s.journal() != null) {
            if (!tmpfileRefusalLogged) {
                tmpfileRefusalLogged = true;
                LOG.info("O_TMPFILE is refused (callers get EOPNOTSUPP) in a supervised mount: an unnamed file's "
                        + "content would not survive a worker change; programs fall back to named temporary files. "
                        + "Logged once.");
            }
            reply(w, r, io.fuseguard.internal.sys.Syscalls.ENOSYS);
            return;
        }
        Node parent = node(r);
        int flags = r.i32(0);
        int mode = r.i32(4);
        int umask = r.i32(8);
        if (parent == null) {
            reply(w, r, ENOENT);
            return;
        }
        String name = nodes.tmpfileName(parent);
        String path = newPath(w, r, parent, name);
        if (path == null || !begin(w, r, Operation.TMPFILE, OperationKind.METADATA, path, null, deadline, umask)
                || !pin(w, r, parent, name)) {
            return;
        }
        path = pinnedPath(w, parent, name);
        if (path == null) {
            if (end(w, r, -NO_PATH)) {
                reply(w, r, NO_PATH);
            }
            return;
        }
        OpContext c = w.context;
        c.open.clear();
        int rc = ops.tmpfile(c, path, mode, flags, c.open);
        long fh = c.open.fh;
        int fopen = c.open.openFlags;
        Attr a = c.attr;
        boolean made = rc >= 0;
        if (made) {
            c.operation = Operation.GETATTR;
            a.clear();
            rc = ops.getattr(c, path, fh, true, a);
        }
        if (made && rc < 0) {
            c.operation = Operation.RELEASE;
            ops.release(c, path, fh, flags);
            c.operation = Operation.UNLINK;
            ops.unlink(c, path);
        }
        if (!end(w, r, rc)) {
            if (rc >= 0) {
                ops.release(c, path, fh, flags); // the caller was told it failed: nobody will use it
                ops.unlink(c, path);
            }
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        Node n = nodes.lookup(parent, name, reportsIno ? a.ino : 0, 0);
        nodes.bornHidden(n);
        nodes.opened(n);
        Handle h = s.handles.add(n, fh, flags, false, r.uid, r.gid, r.pid);
        if (a.nlink == 0) {
            a.nlink = 1; // the kernel takes one link off a new O_TMPFILE inode itself (d_tmpfile)
        }
        encodeOpen(w.out, Fuse.OUT_HEADER + Fuse.ENTRY_OUT, h.id(), openFlags(fopen));
        if (!sendEntry(w, r, n, a, Fuse.OPEN_OUT)) {
            s.closeWork.release(h, r.uid, r.gid, r.pid);
        }
    }

    // ---- ioctl and poll (forwarded to jnr-fuse filesystems that have them) -------------------------------------

    /** fuse_ioctl_in.flags: the ioctl is on a directory. */
    private static final int IOCTL_DIR = 1 << 4;
    /** fuse_ioctl_in.flags: not restricted to the argument sizes the command encodes (CUSE only). */
    private static final int IOCTL_UNRESTRICTED = 1 << 1;

    /**
     * IOCTL, restricted: the kernel copies {@code in_size} bytes of the argument in and {@code out_size} bytes
     * back, both from the command's encoding. ENOSYS makes the kernel answer ENOTTY.
     */
    void ioctl(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        int flags = r.i32(8);
        int cmd = r.i32(12);
        long arg = r.i64(16);
        int inSize = r.i32(24);
        int outSize = r.i32(28);
        int in = Fuse.IN_HEADER + 32;
        if ((flags & IOCTL_UNRESTRICTED) != 0 || inSize < 0 || outSize < 0 || in + inSize > r.end
                || Fuse.OUT_HEADER + 16 + outSize > w.out.capacity()) {
            reply(w, r, EINVAL);
            return;
        }
        h.enter();
        try {
            if (!beginOn(w, r, Operation.IOCTL, OperationKind.DATA, h.node(), h, deadline, true)) {
                return;
            }
            ByteBuffer data;
            if (outSize > 0) {
                data = w.replyData.duplicate().position(16).limit(16 + outSize).slice().order(w.out.order());
                for (int i = 0; i < outSize; i++) {
                    data.put(i, i < inSize ? r.buf.get(in + i) : 0);
                }
            } else {
                data = r.buf.duplicate().position(in).limit(in + inSize).slice().order(w.out.order());
            }
            int rc = ops.ioctl(w.context, w.call.path, h.userFh(), (flags & IOCTL_DIR) != 0, cmd, arg, flags,
                    data, outSize);
            if (!end(w, r, Math.min(rc, 0))) {
                return;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return;
            }
            w.out.putInt(Fuse.OUT_HEADER, rc);
            w.out.putInt(Fuse.OUT_HEADER + 4, 0);
            w.out.putLong(Fuse.OUT_HEADER + 8, 0);
            replyOk(w, r, 16 + outSize);
        } finally {
            h.exit();
        }
    }

    /** POLL: the ready events; with the schedule flag the filesystem tells the kernel later (NOTIFY_POLL). */
    void poll(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long kh = r.i64(8);
        int flags = r.i32(16);
        int events = r.i32(20);
        h.enter();
        try {
            if (!beginOn(w, r, Operation.POLL, OperationKind.METADATA, h.node(), h, deadline, true)) {
                return;
            }
            int rc = ops.poll(w.context, w.call.path, h.userFh(), (flags & Fuse.POLL_SCHEDULE_NOTIFY) != 0 ? kh : 0,
                    events);
            if (!end(w, r, Math.min(rc, 0))) {
                return;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return;
            }
            w.out.putInt(Fuse.OUT_HEADER, rc);
            w.out.putInt(Fuse.OUT_HEADER + 4, 0);
            replyOk(w, r, 8);
        } finally {
            h.exit();
        }
    }
}
