/**
 * The few Linux system calls fuseguard makes itself (read and write on {@code /dev/fuse}, {@code tgkill},
 * anonymous mappings; for mounting: the new mount API, mount(2), {@code umount2}, a Unix socket pair with
 * {@code SCM_RIGHTS}, {@code posix_spawn} of the fusermount helper), bound once with jffi. Internal: not part
 * of fuseguard's API.
 */
package io.fuseguard.internal.sys;
