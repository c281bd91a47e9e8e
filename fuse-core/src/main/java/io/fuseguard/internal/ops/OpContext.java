package io.fuseguard.internal.ops;

import io.fuseguard.api.Operation;
import io.fuseguard.api.RequestContext;
import io.fuseguard.internal.tree.PathLocks;
import io.fuseguard.internal.wire.Attr;

/**
 * What a thread that runs filesystem handlers carries: who the current request is from, its deadline, and
 * scratch objects the bridges reuse instead of allocating per request. Request threads, close-time threads and
 * in-process threads each own one; it is only touched by its own thread (except {@link #interrupted}).
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class OpContext {
    /** Implemented by framework threads that own a context. */
    public interface Owner {
        /** The thread's context. */
        OpContext opContext();
    }

    private static final ThreadLocal<OpContext> OTHER = new ThreadLocal<>();

    /** Caller of the current request (0 when the request does not come from the kernel). */
    public int uid;
    public int gid;
    public int pid;
    /** The kernel's unique of the request being handled (0 for work that is not a request). */
    public long unique;
    /** The caller's umask, known for CREATE, MKNOD and MKDIR (0 otherwise, as in libfuse). */
    public int umask;
    /** The operation and path being handled, for {@link RequestContext} and logs. */
    public Operation operation;
    public String path;
    /** {@link System#nanoTime()} at which the request gets an error answer if still running. */
    public long deadlineNanos;
    /** Set when the kernel interrupted the current request (its caller got a signal). */
    public volatile boolean interrupted;
    /** Whether a request is being handled on this thread right now. */
    public boolean active;
    /**
     * The kernel's unique of the request this thread dispatches, from the moment it is read until it was answered
     * (longer than {@link #active}, which ends before the answer's bookkeeping): the state journal's records carry
     * it, so that a supervised mount's next worker knows which request made a change. 0 outside a request.
     */
    public long journalUnique;

    public final Attr attr = new Attr();
    /** A second attribute scratch (checking that two names are one file). */
    public final Attr attr2 = new Attr();
    /** What this thread holds of the mount's paths while it runs a handler ({@link PathLocks}). */
    public final PathLocks.Pin pin = new PathLocks.Pin();
    public final OpenResult open = new OpenResult();
    public final StatfsResult statfs = new StatfsResult();
    /** A record lock going to the filesystem and (getlk) coming back. */
    public final LockRecord lock = new LockRecord();
    /**
     * What the kernel said about the open file in a READ, WRITE or FLUSH (its current {@code f_flags}, the lock
     * owner, the WRITE flags), written just before such a request's handler runs and meaningful only there: libfuse
     * hands them to a jnr-fuse filesystem in its {@code fuse_file_info}.
     */
    public int fileFlags;
    public long lockOwner;
    public int writeFlags;
    /**
     * A SETATTR's times as the kernel sent them: for "now" ({@code UTIME_NOW} in a utimens call) the kernel's own
     * clock reading, which libfuse 2 passes on in place of UTIME_NOW. Meaningful only in a utimens call.
     */
    public long kernelAtimeNsec;
    public long kernelMtimeNsec;
    /** Scratch the legacy (jnr-fuse) bridge keeps per thread: native structs. */
    public Object legacyScratch;

    /** The context of the calling thread, or null if it runs no handler. */
    public static OpContext current() {
        Thread t = Thread.currentThread();
        if (t instanceof Owner o) {
            return o.opContext();
        }
        return OTHER.get();
    }

    /** The calling thread's context, created for threads that are not framework threads. */
    public static OpContext forCurrentThread() {
        OpContext c = current();
        if (c == null) {
            c = new OpContext();
            OTHER.set(c);
        }
        return c;
    }

    /** Starts a request on this context. */
    public void begin(Operation op, String path, int uid, int gid, int pid, int umask, long deadlineNanos) {
        this.operation = op;
        this.path = path;
        this.uid = uid;
        this.gid = gid;
        this.pid = pid;
        this.umask = umask;
        this.deadlineNanos = deadlineNanos;
        this.interrupted = false;
        this.active = true;
        this.unique = 0;
        this.fileFlags = 0; // set again by the READ, WRITE or FLUSH that has them: never another request's
        this.lockOwner = 0;
        this.writeFlags = 0;
    }

    /** Ends the request. */
    public void end() {
        active = false;
        path = null;
    }

    /** The public view of the current request (allocated only when a handler asks for it). */
    public RequestContext toRequestContext() {
        return new RequestContext(operation, path == null ? "" : path, pid, Integer.toUnsignedLong(uid),
                Integer.toUnsignedLong(gid), deadlineNanos);
    }
}
