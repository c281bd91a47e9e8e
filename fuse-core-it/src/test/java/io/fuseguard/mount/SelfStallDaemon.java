package io.fuseguard.mount;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.testkit.SmallFs;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A daemon whose own thread is inside a request on its own mount when it gets killed: the one window the
 * no-flush policies leave. Its getattr of {@code /self-stall} spins (ignoring interrupts) for a minute.
 *
 * <p>Arguments: {@code MOUNTPOINT KERNEL_TIMEOUT_SECONDS}. Prints {@code READY pid} once its own stat is
 * stalled in the handler.
 */
public final class SelfStallDaemon {
    private SelfStallDaemon() {
    }

    public static void main(String[] args) throws Exception {
        Path mp = Path.of(args[0]);
        long timeout = Long.parseLong(args[1]);
        java.util.concurrent.CountDownLatch stalled = new java.util.concurrent.CountDownLatch(1);
        SmallFs fs = new SmallFs() {
            @Override
            public FileAttributes getattr(String path) {
                if (path.equals("/self-stall")) {
                    stalled.countDown();
                    long end = System.nanoTime() + Duration.ofMinutes(1).toNanos();
                    while (System.nanoTime() < end) {
                        Thread.onSpinWait();
                    }
                }
                return super.getattr(path);
            }
        };
        FuseMount.mount(fs, mp, FuseguardConfig.builder().allDeadlines(Duration.ofSeconds(40))
                .kernelRequestTimeout(Duration.ofSeconds(timeout)).build());
        Thread self = new Thread(() -> {
            try {
                Files.exists(mp.resolve("self-stall"));
            } catch (RuntimeException e) {
                // the answer never matters: the daemon is killed meanwhile
            }
        }, "own-request");
        self.setDaemon(true);
        self.start();
        stalled.await();
        System.out.println("READY " + ProcessHandle.current().pid());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
