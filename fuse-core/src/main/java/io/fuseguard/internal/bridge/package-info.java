/**
 * The two ways a filesystem is served: {@code JavaFsOps} for a {@link io.fuseguard.api.FuseFileSystem} (no pointer
 * reaches it) and {@code LegacyFsOps} for an unchanged jnr-fuse filesystem; exceptions become errnos here.
 * Internal: not part of fuseguard's API.
 */
package io.fuseguard.internal.bridge;
