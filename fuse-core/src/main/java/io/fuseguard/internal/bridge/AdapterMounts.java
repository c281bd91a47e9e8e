package io.fuseguard.internal.bridge;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.mount.FuseMount;

import java.lang.invoke.MethodHandles;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * How an adapter module (fuse-jnr, which serves unchanged jnr-fuse filesystems) mounts a filesystem through its
 * own {@link FsOps} bridge, without {@link FuseMount} naming the adapter's types: the one-line migration lives in
 * the adapter, so fuse-core needs no jnr-fuse on its compile path. {@code FuseMount} registers its private mount
 * routine here when it is initialized (the JDK's "shared secrets" pattern): the public API gains no method that
 * takes an engine type, and on the module path this package is exported to the adapter alone.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class AdapterMounts {
    /** FuseMount's mount routine for a bridge: the FsOps is built once the mount's event reporter exists. */
    @FunctionalInterface
    public interface Mounter {
        /** Mounts what {@code bridge} makes at {@code mountPoint}; see {@code FuseMount.mount}. */
        FuseMount mount(Path mountPoint, FuseguardConfig config, Function<EventReporter, FsOps> bridge);
    }

    private static volatile Mounter mounter;

    private AdapterMounts() {
    }

    /** Called once, by {@code FuseMount}'s static initializer. */
    public static void register(Mounter m) {
        mounter = m;
    }

    /**
     * Mounts the filesystem {@code bridge} serves, under the same guards, options and lifecycle as
     * {@code FuseMount.mount(FuseFileSystem, ...)}.
     *
     * @throws io.fuseguard.mount.MountException as {@code FuseMount.mount} does
     */
    public static FuseMount mount(Path mountPoint, FuseguardConfig config, Function<EventReporter, FsOps> bridge) {
        Mounter m = mounter;
        if (m == null) {
            try {
                MethodHandles.lookup().ensureInitialized(FuseMount.class); // runs the registration
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
            m = mounter;
        }
        return m.mount(mountPoint, config, bridge);
    }
}
