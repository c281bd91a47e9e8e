package io.fuseguard.api;

/**
 * Filesystem statistics answered to STATFS ({@code df}).
 *
 * @param blockSize   size of a block in bytes (also the fragment size)
 * @param totalBlocks capacity in blocks
 * @param freeBlocks  free blocks
 * @param availBlocks free blocks available to unprivileged users
 * @param totalFiles  total inodes
 * @param freeFiles   free inodes
 * @param maxNameLength longest file name accepted
 */
public record FsStats(long blockSize, long totalBlocks, long freeBlocks, long availBlocks,
                      long totalFiles, long freeFiles, long maxNameLength) {

    /** Validates the record. */
    public FsStats {
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be positive");
        }
    }

    /** Statistics of a filesystem with the given capacity and usage in bytes (4 KiB blocks). */
    public static FsStats ofBytes(long capacity, long used, long totalFiles, long usedFiles) {
        long bs = 4096;
        long total = capacity / bs;
        long free = Math.max(0, total - (used + bs - 1) / bs);
        return new FsStats(bs, total, free, free, totalFiles, Math.max(0, totalFiles - usedFiles), 255);
    }
}
