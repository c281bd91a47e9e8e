package io.fuseguard.supervise;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.passthrough.PassthroughFs;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.Supervisor;

import java.nio.file.Path;

/** A supervised worker for the tests: PassthroughFs of args[0] at the supervisor's mount point args[1]. */
public final class PassthroughWorker {
    private PassthroughWorker() {
    }

    public static void main(String[] args) throws Exception {
        Supervisor.awaitTurn(); // a standby constructs nothing until it takes over
        FuseMount m = FuseMount.mount(new PassthroughFs(Path.of(args[0])), Path.of(args[1]),
                FuseguardConfig.builder().fsName("supervised").build());
        m.awaitUnmount();
    }
}
