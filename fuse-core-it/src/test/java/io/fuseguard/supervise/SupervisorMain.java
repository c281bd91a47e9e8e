package io.fuseguard.supervise;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.Supervisor;
import io.fuseguard.testkit.Edges;

import java.nio.file.Path;
import java.util.List;

/**
 * A supervisor in its own process, as a service manager runs one: supervises {@link PassthroughWorker} of
 * {@code args[0]} at {@code args[1]}; prints {@code SUPERVISING <connection> <resumed|mounted> <kept|alone>} once
 * the first worker answers; SIGTERM ends the mount.
 */
public final class SupervisorMain {
    private SupervisorMain() {
    }

    public static void main(String[] args) throws Exception {
        List<String> worker = Edges.java(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-XX:+ExitOnOutOfMemoryError"), PassthroughWorker.class, args[0], args[1]);
        Supervisor s = Supervisor.start(Path.of(args[1]), FuseguardConfig.builder().fsName("supervised")
                .shutdownHook(false).build(), new Supervisor.Options(worker, false, null, null));
        Runtime.getRuntime().addShutdownHook(new Thread(s::close));
        System.out.println("SUPERVISING " + s.connectionId() + " " + (s.resumed() ? "resumed" : "mounted") + " "
                + (s.keptBySystemd() ? "kept" : "alone"));
        System.out.flush();
        s.awaitEnd();
    }
}
