package io.fuseguard.edges;

import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.SmallFs;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A fuseguard daemon in its own JVM, as operators run one: mounts a SmallFs with {@code /hello} and serves it
 * until SIGTERM (its shutdown hook unmounts).
 *
 * <pre>
 * EdgeDaemon &lt;mount point&gt; [--init-sleep MS] [--bounded]
 * </pre>
 * Prints {@code MOUNTING <pid>} before mounting and {@code READY <connection id> <mount point>} once mounted.
 * Commands on standard input: {@code self} (the daemon's own thread reads {@code /hello} through the kernel;
 * prints {@code SELF ok <content>} or {@code SELF failed <exception>}), {@code child} (a child process of the
 * daemon, in its pid namespace, reads it; prints {@code CHILD <exit> <output>}), {@code status}, {@code quit}.
 * Prints {@code UNMOUNTED} when the mount ended.
 */
public final class EdgeDaemon {
    private EdgeDaemon() {
    }

    public static void main(String[] args) throws Exception {
        Path mp = Path.of(args[0]);
        long initSleep = 0;
        boolean bounded = false;
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--init-sleep" -> initSleep = Long.parseLong(args[++i]);
                case "--bounded" -> bounded = true;
                default -> throw new IllegalArgumentException(args[i]);
            }
        }
        long sleep = initSleep;
        SmallFs fs = new SmallFs() {
            @Override
            public void init() {
                if (sleep > 0) {
                    System.out.println("INIT sleeping " + sleep + " ms");
                    System.out.flush();
                    try {
                        Thread.sleep(sleep);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        }.withFile("/hello", "hello\n".getBytes(StandardCharsets.UTF_8));
        FuseguardConfig.Builder config = FuseguardConfig.builder().fsName("edge-daemon")
                .mountTimeout(java.time.Duration.ofSeconds(60));
        if (bounded) {
            config.flushPolicy(FlushPolicy.BOUNDED);
        }
        System.out.println("MOUNTING " + ProcessHandle.current().pid());
        System.out.flush();
        FuseMount m = FuseMount.mount(fs, mp, config.build());
        System.out.println("READY " + m.connectionId().orElse(-1) + " " + m.mountPoint() + " "
                + m.config().guard().selfAccessPolicy() + " " + m.config().guard().flushPolicy());
        System.out.flush();
        Thread commands = new Thread(() -> commands(m), "edge-daemon-commands");
        commands.setDaemon(true);
        commands.start();
        m.awaitUnmount();
        System.out.println("UNMOUNTED");
        System.out.flush();
    }

    private static void commands(FuseMount m) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                switch (line.trim()) {
                    case "self" -> {
                        try {
                            String s = Files.readString(m.mountPoint().resolve("hello"));
                            System.out.println("SELF ok " + s.trim());
                        } catch (Exception e) {
                            System.out.println("SELF failed " + e);
                        }
                    }
                    case "child" -> {
                        Process p = new ProcessBuilder("cat", m.mountPoint().resolve("hello").toString())
                                .redirectErrorStream(true).start();
                        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                        boolean done = p.waitFor(10, TimeUnit.SECONDS);
                        System.out.println("CHILD " + (done ? p.exitValue() : -1) + " " + out);
                    }
                    case "status" -> System.out.println("STATUS " + m.status());
                    case "quit" -> m.close();
                    default -> System.out.println("UNKNOWN " + line);
                }
                System.out.flush();
            }
        } catch (Exception e) {
            System.out.println("COMMANDS failed " + e);
            System.out.flush();
        }
    }
}
