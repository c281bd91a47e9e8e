/**
 * Mounting and unmounting: {@link io.fuseguard.mount.FuseMount} serves a {@link io.fuseguard.api.FuseFileSystem},
 * or an unchanged jnr-fuse {@code FuseStubFS}, at a mount point, and gives the daemon its own guarded way into
 * its filesystem ({@link io.fuseguard.mount.FuseMount#inProcess()}).
 */
package io.fuseguard.mount;
