package io.fuseguard.jnr;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.bridge.AdapterMounts;
import io.fuseguard.mount.FuseMount;
import ru.serce.jnrfuse.FuseFS;

import java.nio.file.Path;

/**
 * Mounts an existing jnr-fuse filesystem unchanged, under fuseguard's guards: the one line a migration changes.
 *
 * <pre>{@code
 * // before: fs.mount(Path.of("/mnt/my"), true, false);
 * try (FuseMount m = JnrFuseMount.mount(fs, Path.of("/mnt/my"), FuseguardConfig.defaults())) {
 *     m.awaitUnmount();
 * }
 * }</pre>
 *
 * <p>The result is an ordinary {@link FuseMount}: the same guards, metrics, in-process access and
 * {@code close()}. This class lives in its own artifact ({@code io.fuseguard:fuse-jnr}) so that fuse-core needs
 * neither jnr-fuse nor its jar, whose {@code jnr.ffi} package is split with jnr-ffi's: jnr-fuse filesystems (and
 * therefore this adapter) run on the class path; fuse-core alone also runs as the named module
 * {@code io.fuseguard.core}.
 */
public final class JnrFuseMount {
    private JnrFuseMount() {
    }

    /**
     * Mounts the jnr-fuse filesystem {@code fs} at {@code mountPoint}. Its {@code init} and {@code destroy} are
     * called, {@code getContext()} in a handler tells the real caller, and its {@code flush} runs when each file
     * is released (see {@link io.fuseguard.config.FlushPolicy#DEFERRED}). Behaviours that fuseguard serves
     * differently from libfuse are logged at WARN when it mounts.
     *
     * @throws io.fuseguard.mount.MountException with a reason and an actionable message, as
     *         {@link FuseMount#mount(io.fuseguard.api.FuseFileSystem, Path, FuseguardConfig)} does
     */
    public static FuseMount mount(FuseFS fs, Path mountPoint, FuseguardConfig config) {
        return AdapterMounts.mount(mountPoint, config, events -> new LegacyFsOps(fs, events));
    }
}
