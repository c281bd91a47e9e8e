package io.fuseguard.junit;

import io.fuseguard.api.Operation;
import io.fuseguard.api.RequestContext;
import io.fuseguard.internal.ops.OpContext;

import java.time.Duration;

/**
 * Calls a filesystem directly, without a mount, as a chosen caller: inside the scope,
 * {@link RequestContext#current()} on this thread reports that uid and gid, as it would for a request from
 * the kernel. For unit tests of a filesystem's permission and ownership logic. Not for production code: a
 * thread serving a real request refuses it.
 *
 * <pre>{@code
 * try (TestCaller.Scope s = TestCaller.actAs(1000, 1000)) {
 *     assertThrows(ErrnoException.class, () -> fs.unlink("/root-only"));
 * }
 * }</pre>
 */
public final class TestCaller {
    private static final long DEADLINE_NANOS = Duration.ofHours(1).toNanos();

    private TestCaller() {
    }

    /** An acting caller, ended by {@link #close()}. */
    public interface Scope extends AutoCloseable {
        /** Ends the scope: {@link RequestContext#current()} is empty again. */
        @Override
        void close();
    }

    /**
     * Acts as {@code uid}:{@code gid} (pid 1, operation GETATTR on "/", a deadline an hour away) on this thread
     * until the scope is closed; closing restores the identity that was in force before (scopes nest).
     *
     * @throws IllegalStateException on a thread that is serving a request of a mounted filesystem
     */
    public static Scope actAs(long uid, long gid) {
        if (Thread.currentThread() instanceof OpContext.Owner) {
            throw new IllegalStateException("this thread serves requests of a mount; TestCaller is for tests");
        }
        return actAs(Operation.GETATTR, "/", 1, uid, gid);
    }

    /**
     * Acts as {@code uid}:{@code gid} in process {@code pid}, handling {@code operation} on {@code path}, until
     * the scope is closed; closing restores the identity that was in force before (scopes nest).
     *
     * @throws IllegalStateException on a thread that is serving a request of a mounted filesystem
     */
    public static Scope actAs(Operation operation, String path, int pid, long uid, long gid) {
        if (Thread.currentThread() instanceof OpContext.Owner) {
            throw new IllegalStateException("this thread serves requests of a mount; TestCaller is for tests");
        }
        OpContext c = OpContext.forCurrentThread();
        boolean wasActive = c.active;
        Operation op = c.operation;
        String p = c.path;
        int u = c.uid;
        int g = c.gid;
        int pi = c.pid;
        long deadline = c.deadlineNanos;
        c.begin(operation, path, (int) uid, (int) gid, pid, 0, System.nanoTime() + DEADLINE_NANOS);
        return () -> {
            if (wasActive) {
                c.begin(op, p, u, g, pi, 0, deadline);
            } else {
                c.end();
            }
        };
    }
}
