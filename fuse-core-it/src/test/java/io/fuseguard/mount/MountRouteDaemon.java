package io.fuseguard.mount;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.testkit.SmallFs;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A fuseguard daemon in its own JVM for the mount-route tests: mounts a SmallFs with {@code /hello} and serves it
 * until SIGTERM (its shutdown hook unmounts). How it mounts is up to the system property
 * {@code fuseguard.mount.method} and the {@code -o} options given; it can run as an ordinary user.
 *
 * <pre>
 * MountRouteDaemon &lt;mount point&gt; [-o OPTION]...
 * </pre>
 * Prints {@code READY <connection id> <auto_unmount helper pid or -1> <route>} once mounted,
 * {@code FAILED <reason> <message>} when the mount was refused, and {@code UNMOUNTED} when the mount ended.
 */
public final class MountRouteDaemon {
    private MountRouteDaemon() {
    }

    public static void main(String[] args) throws Exception {
        FuseguardConfig.Builder config = FuseguardConfig.builder().fsName("route-daemon")
                .mountTimeout(Duration.ofSeconds(30));
        for (int i = 1; i < args.length; i++) {
            if (!args[i].equals("-o")) {
                throw new IllegalArgumentException(args[i]);
            }
            config.mountOption(args[++i]);
        }
        SmallFs fs = new SmallFs().withFile("/hello", "hello\n".getBytes(StandardCharsets.UTF_8));
        FuseMount m;
        try {
            m = FuseMount.mount(fs, Path.of(args[0]), config.build());
        } catch (MountException e) {
            System.out.println("FAILED " + e.reason() + " " + e.getMessage());
            System.out.flush();
            System.exit(2);
            return;
        }
        System.out.println("READY " + m.connectionId().orElse(-1) + " " + m.device().helperPid() + " "
                + m.device().route());
        System.out.flush();
        m.awaitUnmount();
        System.out.println("UNMOUNTED");
        System.out.flush();
    }
}
