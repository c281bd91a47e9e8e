/**
 * What the kernel knows about FUSE connections, read from {@code /proc} and {@code /sys/fs/fuse/connections}:
 * the mount table, which processes hold {@code /dev/fuse}, which tasks wait on a connection, and aborting a
 * connection. Used by the {@code fuseguard} command and the node guard; never on a request path.
 */
package io.fuseguard.kernel;
