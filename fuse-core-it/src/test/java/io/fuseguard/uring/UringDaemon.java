package io.fuseguard.uring;

import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.StallingFs;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A daemon process serving a {@link StallingFs} over io_uring (30 s deadlines), for tests that kill it: prints
 * {@code READY <connection> <io_uring active>}, then {@code STALLED} once a handler blocks.
 */
public final class UringDaemon {
    private UringDaemon() {
    }

    public static void main(String[] args) throws Exception {
        StallingFs fs = new StallingFs();
        FuseMount m = FuseMount.mount(fs, Path.of(args[0]), FuseguardConfig.builder().fsName("uring-daemon")
                .ioUring(true).allDeadlines(Duration.ofSeconds(30)).flushPolicy(FlushPolicy.BOUNDED)
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).build());
        System.out.println("READY " + m.connectionId().orElse(-1) + " " + m.ioUringActive());
        System.out.flush();
        if (fs.stalled().await(60, TimeUnit.SECONDS)) {
            System.out.println("STALLED " + m.ioUringRequests());
            System.out.flush();
        }
        m.awaitUnmount();
    }
}
