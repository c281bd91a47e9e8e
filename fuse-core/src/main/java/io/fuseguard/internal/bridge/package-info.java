/**
 * The ways a filesystem is served: {@code JavaFsOps} for a {@link io.fuseguard.api.FuseFileSystem} (no pointer
 * reaches it), and {@code AdapterMounts} with {@code Failures} for adapters in other modules (fuse-jnr's bridge for
 * unchanged jnr-fuse filesystems); exceptions become errnos here. Internal: not part of fuseguard's API.
 */
package io.fuseguard.internal.bridge;
