package io.fuseguard.bridge;

import io.fuseguard.guard.RequestGuard;

import java.io.FileInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * A hidden file that only the daemon's probing thread can see. Opening and closing it through the kernel
 * proves the mount answers requests (mount readiness) and, under the default flush policy, makes the kernel
 * receive one FLUSH answered ENOSYS, which sets the connection's {@code no_flush}: from then on no
 * {@code close()} and no exiting task waits on the daemon. Removing it afterwards drops the kernel's cached
 * entry so no other process ever finds it.
 */
public final class Probe {
    private final String name;
    private final String path;
    private final RequestGuard guard;
    private volatile int tid;
    private final java.util.concurrent.CountDownLatch released = new java.util.concurrent.CountDownLatch(1);

    /** A probe with a random, unguessable name. */
    public Probe(RequestGuard guard) {
        byte[] r = new byte[8];
        new SecureRandom().nextBytes(r);
        this.name = ".fuseguard-probe-" + HexFormat.of().formatHex(r);
        this.path = "/" + name;
        this.guard = guard;
    }

    /** Whether a request for {@code p} from {@code callerPid} is the probe's (only the probing thread sees it). */
    boolean isProbe(String p, int callerPid) {
        return callerPid != 0 && callerPid == tid && path.equals(p);
    }

    /** Called by the bridge when the kernel releases the probe file. */
    void released() {
        released.countDown();
    }

    /** Whether {@code p} names the probe, whoever asks. */
    boolean names(String p) {
        return path.equals(p);
    }

    /**
     * Opens, closes and removes the probe through the kernel from the calling thread. Blocks until the
     * filesystem answers; the caller bounds it with a timeout (and aborts the connection if it never does).
     */
    public void run(Path mountPoint) throws IOException {
        int self = currentTid();
        tid = self;
        guard.exemptFromSelfAccess(self);
        try {
            Path p = mountPoint.resolve(name);
            try (FileInputStream in = new FileInputStream(p.toFile())) {
                in.getChannel(); // open only; close() sends the FLUSH that primes no_flush
            }
            // RELEASE is asynchronous: unlinking a file libfuse still counts as open would make it rename the
            // probe to .fuse_hidden* through the user's filesystem instead of dropping it.
            try {
                if (!released.await(2, java.util.concurrent.TimeUnit.SECONDS)) {
                    throw new IOException("the probe file was not released within 2 s");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for the probe's release", e);
            }
            Files.delete(p);
        } finally {
            tid = 0;
            guard.endSelfAccessExemption();
        }
    }

    /** This thread's kernel id, from {@code /proc/thread-self} ("pid/task/tid"). */
    static int currentTid() throws IOException {
        String link = Files.readSymbolicLink(Path.of("/proc/thread-self")).toString();
        return Integer.parseInt(link.substring(link.lastIndexOf('/') + 1));
    }
}
