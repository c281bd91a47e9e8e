/**
 * Node ids and file handles the kernel holds: the inode table (paths of node ids, lookup counts, hidden
 * unlinked-but-open files) and the handle table (ids never reused). Internal: not part of fuseguard's API.
 */
package io.fuseguard.internal.tree;
