package io.fuseguard.testkit;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.GuardListener;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

/**
 * SmallFs whose handlers block on chosen paths until {@link #release()}: read of {@code /stall-read},
 * getattr of {@code /stall-getattr}, flush of {@code /stall-flush}. They wait interruptibly, as a handler
 * blocked on a slow backend does.
 */
public class StallingFs extends SmallFs {
    private final CountDownLatch release = new CountDownLatch(1);
    private final CountDownLatch stalled = new CountDownLatch(1);

    public StallingFs() {
        withFile("/ok", "fine\n".getBytes());
        withFile("/stall-read", "never\n".getBytes());
        withFile("/stall-flush", new byte[0]);
    }

    /**
     * A per-test mount of a fresh StallingFs: every deadline set to {@code deadline}, the bounded flush policy
     * (so flush reaches the handler), the test JVM allowed to use the mount, events sent to {@code listener}.
     */
    public static FuseMountExtension mount(Duration deadline, GuardListener listener) {
        return FuseMountExtension.of(StallingFs::new, FuseguardConfig.builder().allDeadlines(deadline)
                .flushPolicy(FlushPolicy.BOUNDED).selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING)
                .shutdownHook(false).listener(listener).build());
    }

    /** Lets every stalled handler go on. */
    public void release() {
        release.countDown();
    }

    /** Counted down when a handler starts stalling. */
    public CountDownLatch stalled() {
        return stalled;
    }

    private void stall() {
        stalled.countDown();
        try {
            release.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while stalled", e);
        }
    }

    @Override
    public FileAttributes getattr(String path) {
        if (path.equals("/stall-getattr")) {
            stall();
            return super.getattr("/ok");
        }
        return super.getattr(path);
    }

    @Override
    public int read(String path, long fh, ByteBuffer dst, long offset) {
        if (path.equals("/stall-read")) {
            stall();
        }
        return super.read(path, fh, dst, offset);
    }

    @Override
    public void flush(String path, long fh) {
        if (path.equals("/stall-flush")) {
            stall();
        }
    }
}
