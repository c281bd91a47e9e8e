package io.fuseguard.api;

/** Groups of operations that share a deadline (see {@code FuseguardConfig.Builder#deadline}). */
public enum OperationKind {
    /** Lookups, directory changes, attribute changes, open/create/release: should be quick. */
    METADATA,
    /** read, write, truncate: may wait for a backend. */
    DATA,
    /** fsync: the durability point, may upload. */
    SYNC,
    /** FLUSH (only sent under the bounded flush policy). */
    FLUSH
}
