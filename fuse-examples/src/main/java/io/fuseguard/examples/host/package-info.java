/**
 * Host system calls relative to a root directory descriptor, for example filesystems that keep their data in
 * a host directory: a jnr-ffi libc binding with the {@code *at} family ({@link io.fuseguard.examples.host.HostLibC},
 * {@link io.fuseguard.examples.host.Host}), resolution of a filesystem path beneath the root descriptor
 * ({@link io.fuseguard.examples.host.BeneathResolver}, giving an {@link io.fuseguard.examples.host.Entry}: the
 * parent's descriptor and the last name), {@code statx} decoding ({@link io.fuseguard.examples.host.HostStat}),
 * the owner of a new entry ({@link io.fuseguard.examples.host.NewEntryOwner}) and I/O on descriptors
 * ({@link io.fuseguard.examples.host.HostFiles}).
 *
 * <p>No host path is ever built from a filesystem path, so a tree deeper than the host's PATH_MAX works, and no
 * symlink on the host can lead a call outside the root. Used by the passthrough and the upload examples; it
 * knows neither.
 */
package io.fuseguard.examples.host;
