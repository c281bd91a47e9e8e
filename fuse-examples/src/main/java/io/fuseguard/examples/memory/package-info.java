/**
 * MemoryFs: a complete in-memory POSIX filesystem on fuseguard, and the reference for writing one.
 *
 * <p>{@link io.fuseguard.examples.memory.MemoryFs} is the filesystem; its inodes ({@code Node}) hold content in
 * a sparse chunk store ({@code ChunkStore}) whose allocations are accounted against the capacity
 * ({@code SpaceQuota}).
 */
package io.fuseguard.examples.memory;
