package io.fuseguard.internal.session;

import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.ops.LockRecord;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;

/**
 * File locks kept by the filesystem: GETLK, SETLK and SETLKW, for POSIX record locks and (with
 * {@link Fuse#LK_FLOCK}) for {@code flock}. The kernel sends them only when INIT granted {@code posix_locks} or
 * {@code flock_locks}, which it does only for a filesystem that implements them; otherwise the kernel keeps locks
 * itself, as before.
 *
 * <p>The story of a lock through fuseguard:
 * <ul>
 *   <li>A lock that waits (SETLKW: a blocking {@code fcntl} or {@code flock}) runs in the data lane with the DATA
 *       deadline, so waiters never hold the metadata lane, and a wait that outlives the deadline is answered the
 *       timeout errno like any stalled request.</li>
 *   <li>It is interruptible: every INTERRUPT of a SETLKW is honoured at once, whether or not its caller is
 *       being killed. Nothing changed while it waited, and the kernel turns the EINTR answer of a lock into a
 *       restart of the call for a program whose signal handler asked for restarts ({@code SA_RESTART}), and
 *       into EINTR otherwise: the same as a local filesystem (an {@code alarm()} around {@code F_SETLKW}
 *       works).</li>
 *   <li>A lock granted after its request was answered (the handler noticed the interrupt or the deadline too
 *       late) is released again at once: its caller was told it does not hold it.</li>
 *   <li>Released with its open file: the kernel would send each owner's unlock in FLUSH at every {@code close()},
 *       which fuseguard never lets it send; so the release of a handle drops the POSIX locks of every owner that
 *       locked through it, and its {@code flock} ({@link #releaseLocks}). Closing one descriptor while another
 *       descriptor of the same open file stays open keeps the locks until the last one is closed (or the
 *       process ends).</li>
 * </ul>
 */
final class LockRequests extends Requests {

    LockRequests(Requests.Shared shared) {
        super(shared);
    }

    // fuse_lk_in: fh, owner, lk {start, end, type, pid}, lk_flags
    private static final int FH = 0;
    private static final int OWNER = 8;
    private static final int START = 16;
    private static final int END = 24;
    private static final int TYPE = 32;
    private static final int PID = 36;
    private static final int FLAGS = 40;

    void getlk(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long owner = r.i64(OWNER);
        h.enter();
        try {
            if (!beginOn(w, r, Operation.GETLK, OperationKind.METADATA, h.node(), h, deadline, true)) {
                return;
            }
            OpContext c = w.context;
            LockRecord l = c.lock.set(r.i32(TYPE), r.i64(START), r.i64(END), r.i32(PID));
            int rc = ops.getlk(c, w.call.path, h.userFh(), owner, l);
            if (!end(w, r, rc)) {
                return;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return;
            }
            ByteBuffer o = w.out;
            o.putLong(Fuse.OUT_HEADER, l.start);
            o.putLong(Fuse.OUT_HEADER + 8, l.end);
            o.putInt(Fuse.OUT_HEADER + 16, l.type);
            o.putInt(Fuse.OUT_HEADER + 20, l.type == Fuse.F_UNLCK ? 0 : l.pid);
            replyOk(w, r, Fuse.LK_OUT);
        } finally {
            h.exit();
        }
    }

    /** SETLK ({@code wait} false) and SETLKW, of a record lock or (with {@link Fuse#LK_FLOCK}) a flock. */
    void setlk(Worker w, Request r, long deadline, boolean wait) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long owner = r.i64(OWNER);
        boolean flock = (r.i32(FLAGS) & Fuse.LK_FLOCK) != 0;
        int type = r.i32(TYPE);
        long start = r.i64(START);
        long end = r.i64(END);
        Operation op = flock ? Operation.FLOCK : wait ? Operation.SETLKW : Operation.SETLK;
        h.enter();
        try {
            if (!beginOn(w, r, op, wait ? OperationKind.DATA : OperationKind.METADATA, h.node(), h, deadline,
                    true)) {
                return;
            }
            OpContext c = w.context;
            String path = w.call.path;
            int rc = flock ? ops.flock(c, path, h.userFh(), owner, type, wait)
                    : ops.setlk(c, path, h.userFh(), owner, c.lock.set(type, start, end, r.i32(PID)), wait);
            if (rc == -Syscalls.EINTR && !c.interrupted) {
                // a handler that gave up at its deadline: EINTR without the kernel's INTERRUPT (no signal
                // pending) would reach the program as errno 512 (see Session.lockSafe)
                rc = -Session.lockSafe(r.opcode, s.timeoutErrno);
            }
            boolean taken = rc >= 0 && type != Fuse.F_UNLCK;
            if (taken) {
                // whatever the answer, the lock is dropped with the handle (below, or at its release)
                if (flock) {
                    h.flocked(owner);
                } else {
                    h.lockedBy(owner);
                }
            }
            if (!end(w, r, rc)) {
                if (taken) {
                    // The caller was told it failed (EINTR, or the deadline's errno): it must not hold the lock.
                    int undo = flock ? ops.flock(c, path, h.userFh(), owner, Fuse.F_UNLCK, false)
                            : ops.setlk(c, path, h.userFh(), owner, c.lock.set(Fuse.F_UNLCK, start, end, 0), false);
                    if (undo < 0) {
                        LOG.warn("{} {}: could not release a lock granted after its request was answered: errno {}",
                                op, path, -undo);
                    }
                }
                return;
            }
            replyResult(w, r, rc);
        } finally {
            h.exit();
        }
    }

    /**
     * Drops what the owners that locked through {@code h} hold, before the handle's release reaches the
     * filesystem: the POSIX locks of each (whole file) and the handle's flock. The kernel would have sent the
     * former at each {@code close()} in a FLUSH, which fuseguard never lets it send. Runs in the release's
     * context ({@code c} begun), with the release's path.
     */
    static void releaseLocks(FsOps ops, OpContext c, String path, Handle h) {
        long[] owners = h.lockOwners();
        if (owners.length == 0 && !h.isFlocked()) {
            return;
        }
        Operation was = c.operation;
        try {
            for (long owner : owners) {
                c.operation = Operation.SETLK;
                int rc = ops.setlk(c, path, h.userFh(), owner, c.lock.set(Fuse.F_UNLCK, 0, Fuse.OFFSET_MAX, 0),
                        false);
                if (rc < 0) {
                    LOG.warn("Could not release the locks of {} at its release: errno {}", path, -rc);
                }
            }
            if (h.isFlocked()) {
                c.operation = Operation.FLOCK;
                int rc = ops.flock(c, path, h.userFh(), h.flockOwner(), Fuse.F_UNLCK, false);
                if (rc < 0) {
                    LOG.warn("Could not release the flock of {} at its release: errno {}", path, -rc);
                }
            }
        } finally {
            c.operation = was;
        }
    }
}
