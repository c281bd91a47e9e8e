/**
 * Mounting and unmounting a FUSE filesystem without libfuse: the kernel's own interfaces where the process may
 * mount (the new mount API, {@code fsopen}/{@code fsconfig}/{@code fsmount}/{@code move_mount}, falling back to
 * mount(2)), and the setuid {@code fusermount3}/{@code fusermount} helper with its descriptor-passing protocol
 * otherwise and for {@code auto_unmount}. Internal: not part of fuseguard's API.
 */
package io.fuseguard.internal.mount;
