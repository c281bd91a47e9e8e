/**
 * The few Linux system calls fuseguard makes itself (read and write on {@code /dev/fuse}, {@code tgkill},
 * {@code umount2}, anonymous mappings), bound once with jnr-ffi. Internal: not part of fuseguard's API.
 */
package io.fuseguard.internal.sys;
