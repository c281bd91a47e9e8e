/**
 * The operation table the session calls ({@link io.fuseguard.internal.ops.FsOps}) with per-thread contexts and
 * result holders, so that no request allocates. Internal: not part of fuseguard's API.
 */
package io.fuseguard.internal.ops;
