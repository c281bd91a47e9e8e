/**
 * The FUSE protocol as the kernel speaks it on {@code /dev/fuse}: opcodes, header and structure layouts, and
 * attribute encoding. Internal: not part of fuseguard's API and may change in any release.
 */
package io.fuseguard.internal.wire;
