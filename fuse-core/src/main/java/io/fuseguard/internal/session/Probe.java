package io.fuseguard.internal.session;

import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The framework's hidden readiness probe: a file that exists only for the daemon's probing thread, served by
 * the framework itself (never by the filesystem). Opening and closing it through the kernel proves the mount
 * answers, and its close is a FLUSH that the framework answers ENOSYS under the no-flush policies, which makes
 * the kernel set the connection's {@code no_flush} for kernels that ignore {@code FOPEN_NOFLUSH}. It works on
 * read-only mounts, for any daemon uid and with {@code default_permissions} (it is owned by the daemon, mode
 * 0444), and never appears in a listing.
 */
final class Probe {
    /** The file handle the kernel gets for the probe (no real handle has it). */
    static final long FH = -1L;

    final String name;
    private volatile int tid;
    private final CountDownLatch released = new CountDownLatch(1);

    Probe() {
        byte[] r = new byte[8];
        new SecureRandom().nextBytes(r);
        this.name = ".fuseguard-probe-" + HexFormat.of().formatHex(r);
    }

    /** The probing thread's kernel id: only its requests see the probe. */
    void owner(int tid) {
        this.tid = tid;
    }

    /** Whether a lookup of {@code n} in the root is the probe's and from the probing thread. */
    boolean visibleTo(int pid) {
        return pid != 0 && pid == tid;
    }

    void released() {
        released.countDown();
    }

    boolean awaitReleased(long millis) throws InterruptedException {
        return released.await(millis, TimeUnit.MILLISECONDS);
    }
}
