package io.fuseguard.testfs;

import io.fuseguard.api.FileAttributes;

import java.nio.ByteBuffer;
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
