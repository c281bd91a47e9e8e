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
     * until the scope is closed; a later call replaces the identity.
     *
     * @throws IllegalStateException on a thread that is serving a request of a mounted filesystem
     */
    public static Scope actAs(long uid, long gid) {
        if (Thread.currentThread() instanceof OpContext.Owner) {
            throw new IllegalStateException("this thread serves requests of a mount; TestCaller is for tests");
        }
        OpContext c = OpContext.forCurrentThread();
        c.begin(Operation.GETATTR, "/", (int) uid, (int) gid, 1, 0, System.nanoTime() + DEADLINE_NANOS);
        return c::end;
    }
}
