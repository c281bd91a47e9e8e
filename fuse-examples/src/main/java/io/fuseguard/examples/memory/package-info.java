/**
 * MemoryFs: a complete in-memory POSIX filesystem on fuseguard, and the reference for writing one.
 *
 * <p>{@link io.fuseguard.examples.memory.MemoryFs} is the filesystem's operations; the directory tree they work
 * on ({@code NodeTree}: inode table, path resolution, link counts, namespace lock) is apart from them. Its inodes
 * ({@code Node}) hold content in a sparse chunk store ({@code ChunkStore}) whose allocations are accounted
 * against the capacity ({@code SpaceQuota}); locks are taken through {@code ScopedLock} handles.
 */
package io.fuseguard.examples.memory;
