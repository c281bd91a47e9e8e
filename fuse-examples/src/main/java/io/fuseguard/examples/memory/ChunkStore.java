package io.fuseguard.examples.memory;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * The content of one regular file: a sparse map from chunk index to a {@code byte[]} of at most
 * {@code chunkSize} bytes.
 *
 * <p>Why chunks: a write touches only the one or two chunks it covers, so its cost is proportional to the
 * write, not to the file (a single growing {@code byte[]} copies the whole file whenever it grows, which is
 * what makes naive in-memory filesystems crawl). Chunks that were never written are absent: they read as
 * zeros (holes) and cost no memory, so {@code truncate -s 1T} or a seek past the end is free.
 *
 * <p>The last bytes of a chunk are allocated lazily too: a chunk's array starts at {@value #MIN_ALLOCATION}
 * bytes (or the power of two that covers the write) and grows by doubling up to {@code chunkSize}, so a
 * 100-byte file holds 4 KiB, not a whole chunk. Growing copies at most {@code chunkSize} bytes in total per
 * chunk, which keeps appends in small pieces cheap.
 *
 * <p>Invariant: every byte at a position at or beyond {@link #size()} that lies inside an allocated array is
 * zero. Shrinking zeroes the tail it keeps; so growing the file again (by truncate or by writing further on)
 * exposes zeros, never stale data.
 *
 * <p>Not thread-safe: the owning inode's lock guards it. Space is accounted in a {@link SpaceQuota} shared by
 * the whole filesystem; a write that does not fit fails with ENOSPC before anything changed.
 */
final class ChunkStore {
    /** Smallest array allocated for a chunk, and the unit of space accounting (the reported block size). */
    static final int MIN_ALLOCATION = 4096;
    private static final byte[] ZEROS = new byte[64 * 1024];

    private final int chunkSize;
    private final int shift;
    private final SpaceQuota quota;
    private final ChunkPool pool;
    private final TreeMap<Long, byte[]> chunks = new TreeMap<>();
    private long size;
    private long allocated;

    /**
     * An empty file.
     *
     * @param chunkSize a power of two, at least {@value #MIN_ALLOCATION}
     * @param quota     where allocations are accounted
     */
    ChunkStore(int chunkSize, SpaceQuota quota) {
        this(chunkSize, quota, ChunkPool.NONE);
    }

    /** An empty file whose full chunks come from, and go back to, {@code pool}. */
    ChunkStore(int chunkSize, SpaceQuota quota, ChunkPool pool) {
        this.pool = pool;
        if (chunkSize < MIN_ALLOCATION || Integer.bitCount(chunkSize) != 1) {
            throw new IllegalArgumentException("chunkSize must be a power of two >= " + MIN_ALLOCATION);
        }
        this.chunkSize = chunkSize;
        this.shift = Integer.numberOfTrailingZeros(chunkSize);
        this.quota = quota;
    }

    /** The file size in bytes. */
    long size() {
        return size;
    }

    /** Bytes of memory held for the content (what {@code st_blocks} reports). */
    long allocatedBytes() {
        return allocated;
    }

    /** Number of chunks present (the rest are holes). */
    int chunkCount() {
        return chunks.size();
    }

    /**
     * Reads up to {@code dst.remaining()} bytes at {@code offset} into {@code dst}; holes read as zeros.
     *
     * @return bytes read, 0 at or past the end of the file
     */
    int read(long offset, ByteBuffer dst) {
        if (offset < 0) {
            throw new IllegalArgumentException("negative offset");
        }
        if (offset >= size) {
            return 0;
        }
        int len = (int) Math.min(dst.remaining(), size - offset);
        int done = 0;
        while (done < len) {
            long pos = offset + done;
            int within = (int) (pos & (chunkSize - 1));
            int n = Math.min(len - done, chunkSize - within);
            byte[] c = chunks.get(pos >>> shift);
            // The array may end before the chunk does: what lies beyond it was never written.
            int fromArray = c == null ? 0 : Math.max(0, Math.min(n, c.length - within));
            if (fromArray > 0) {
                dst.put(c, within, fromArray);
            }
            putZeros(dst, n - fromArray);
            done += n;
        }
        return len;
    }

    /**
     * Writes all of {@code src} at {@code offset}, extending the file if needed.
     *
     * @return the number of bytes written ({@code src.remaining()} on entry)
     * @throws io.fuseguard.api.ErrnoException ENOSPC if the new allocations do not fit; nothing is changed then
     */
    int write(long offset, ByteBuffer src) {
        int len = src.remaining();
        if (offset < 0 || Long.MAX_VALUE - offset < len) {
            throw new IllegalArgumentException("bad offset " + offset);
        }
        if (len == 0) {
            return 0;
        }
        long end = offset + len;
        long first = offset >>> shift;
        long last = (end - 1) >>> shift;
        // Pass 1: what the write costs. Reserving it all up front makes ENOSPC all-or-nothing.
        long extra = 0;
        for (long idx = first; idx <= last; idx++) {
            byte[] c = chunks.get(idx);
            int want = allocationFor(endWithin(idx, end));
            int have = c == null ? 0 : c.length;
            if (want > have) {
                extra += want - have;
            }
        }
        quota.reserve(extra);
        allocated += extra;
        // Pass 2: copy, growing or allocating arrays as planned.
        long pos = offset;
        for (long idx = first; idx <= last; idx++) {
            int within = (int) (pos & (chunkSize - 1));
            int n = (int) Math.min(end - pos, chunkSize - within);
            byte[] c = chunks.get(idx);
            int want = allocationFor(endWithin(idx, end));
            if (c == null) {
                c = pool.take(want);
                chunks.put(idx, c);
            } else if (c.length < want) {
                byte[] bigger = pool.take(want);
                System.arraycopy(c, 0, bigger, 0, c.length);
                c = bigger;
                chunks.put(idx, c);
            }
            src.get(c, within, n);
            pos += n;
        }
        size = Math.max(size, end);
        return len;
    }

    /**
     * {@code SEEK_DATA}: the first offset at or after {@code from} that lies in an allocated array (data), or -1
     * when none does before the end of the file. Only written (or allocated) bytes count: a chunk's array grows in
     * {@value #MIN_ALLOCATION}-byte steps, so data is found with that granularity, as on a local filesystem.
     */
    long nextData(long from) {
        if (from < 0 || from >= size) {
            return -1;
        }
        for (Map.Entry<Long, byte[]> e : chunks.tailMap(from >>> shift, true).entrySet()) {
            long base = e.getKey() << shift;
            long dataEnd = Math.min(base + e.getValue().length, size);
            long start = Math.max(base, from);
            if (start < dataEnd) {
                return start;
            }
            if (base >= size) {
                break;
            }
        }
        return -1;
    }

    /**
     * {@code SEEK_HOLE}: the first offset at or after {@code from} that lies in a hole (never written, or past
     * the end of a chunk's array); the end of the file counts as one. -1 when {@code from} is at or past the end.
     */
    long nextHole(long from) {
        if (from < 0 || from >= size) {
            return -1;
        }
        long pos = from;
        while (pos < size) {
            byte[] c = chunks.get(pos >>> shift);
            if (c == null) {
                return pos;
            }
            long dataEnd = ((pos >>> shift) << shift) + c.length;
            if (pos >= dataEnd) {
                return pos;
            }
            pos = dataEnd;
        }
        return size;
    }

    /**
     * {@code fallocate}: allocates (zero-filled) whatever of {@code [offset, offset + length)} is not allocated yet,
     * so writes there can no longer fail with ENOSPC, and grows the size to the end of the range unless
     * {@code keepSize}. Existing data is untouched. Arrays past the size are allowed: they hold zeros, as the
     * invariant requires, and a truncate frees them.
     *
     * @throws io.fuseguard.api.ErrnoException ENOSPC if it does not fit; nothing is changed then
     */
    void allocate(long offset, long length, boolean keepSize) {
        if (offset < 0 || length <= 0 || Long.MAX_VALUE - offset < length) {
            throw new IllegalArgumentException("bad range " + offset + "+" + length);
        }
        long end = offset + length;
        long first = offset >>> shift;
        long last = (end - 1) >>> shift;
        // Refuse a range that cannot fit before walking it: every missing chunk but the two at the ends needs a
        // whole chunk, so a huge range (fallocate -l 4E) fails at once instead of looping over 2^50 indexes with
        // the inode locked. What passes is at most the free space in chunks, plus the chunks the file has.
        long missing = (last - first + 1) - chunks.subMap(first, last + 1).size();
        long free = quota.capacity() - quota.used();
        if (missing > 2 && (missing - 2) > free / chunkSize) {
            throw new ErrnoException(Errno.ENOSPC);
        }
        long extra = 0;
        for (long idx = first; idx <= last; idx++) {
            byte[] c = chunks.get(idx);
            int want = allocationFor(endWithin(idx, end));
            extra += Math.max(0, want - (c == null ? 0 : c.length));
        }
        quota.reserve(extra);
        allocated += extra;
        for (long idx = first; idx <= last; idx++) {
            byte[] c = chunks.get(idx);
            int want = allocationFor(endWithin(idx, end));
            if (c == null) {
                chunks.put(idx, pool.take(want));
            } else if (c.length < want) {
                byte[] bigger = pool.take(want);
                System.arraycopy(c, 0, bigger, 0, c.length);
                chunks.put(idx, bigger);
            }
        }
        if (!keepSize) {
            size = Math.max(size, end);
        }
    }

    /**
     * {@code fallocate(PUNCH_HOLE)}: {@code [offset, offset + length)} reads as zeros afterwards; chunks wholly
     * inside it are freed, the others zeroed where they overlap it. The size does not change.
     */
    void punchHole(long offset, long length) {
        if (offset < 0 || length <= 0 || Long.MAX_VALUE - offset < length) {
            throw new IllegalArgumentException("bad range " + offset + "+" + length);
        }
        long end = offset + length;
        long freed = 0;
        // Only the chunks that exist: a hole in a huge range costs nothing to punch.
        Iterator<Map.Entry<Long, byte[]>> it = chunks.subMap(offset >>> shift, ((end - 1) >>> shift) + 1)
                .entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<Long, byte[]> e = it.next();
            byte[] c = e.getValue();
            long chunkStart = e.getKey() << shift;
            int from = (int) Math.max(0, offset - chunkStart);
            int to = (int) Math.min(chunkSize, end - chunkStart);
            if (from == 0 && to == chunkSize) {
                it.remove();
                freed += c.length;
                pool.give(c);
            } else if (from < c.length) {
                Arrays.fill(c, from, Math.min(to, c.length), (byte) 0);
            }
        }
        allocated -= freed;
        quota.release(freed);
    }

    /**
     * Sets the size. Growing only moves the end (the new range is a hole; space preallocated past the new end is
     * freed); shrinking frees the chunks past the new end, shrinks the last kept array to what it still needs
     * and zeroes the rest of it.
     */
    void truncate(long newSize) {
        if (newSize < 0) {
            throw new IllegalArgumentException("negative size");
        }
        if (newSize >= size) {
            // Only space allocated past the new end by fallocate(KEEP_SIZE) can be there; it goes, as on ext4.
            SortedMap<Long, byte[]> beyond = chunks.tailMap((newSize + chunkSize - 1) >>> shift);
            long freed = 0;
            for (byte[] c : beyond.values()) {
                freed += c.length;
                pool.give(c);
            }
            beyond.clear();
            allocated -= freed;
            quota.release(freed);
            size = newSize;
            return;
        }
        long freed = 0;
        long keep = (newSize + chunkSize - 1) >>> shift; // chunks with a lower index keep some data
        SortedMap<Long, byte[]> tail = chunks.tailMap(keep);
        for (byte[] c : tail.values()) {
            freed += c.length;
            pool.give(c);
        }
        tail.clear();
        int within = (int) (newSize & (chunkSize - 1));
        if (within != 0) {
            long idx = newSize >>> shift;
            byte[] c = chunks.get(idx);
            if (c != null) {
                int want = allocationFor(within);
                if (want < c.length) {
                    freed += c.length - want;
                    c = Arrays.copyOf(c, want);
                    chunks.put(idx, c);
                }
                if (within < c.length) {
                    Arrays.fill(c, within, c.length, (byte) 0);
                }
            }
        }
        allocated -= freed;
        quota.release(freed);
        size = newSize;
    }

    /** Frees everything (the inode is gone); the store is an empty file afterwards. */
    void clear() {
        quota.release(allocated);
        allocated = 0;
        for (byte[] c : chunks.values()) {
            pool.give(c);
        }
        chunks.clear();
        size = 0;
    }

    /** For tests: the array length held for chunk {@code idx}, 0 for a hole. */
    int arrayLength(long idx) {
        byte[] c = chunks.get(idx);
        return c == null ? 0 : c.length;
    }

    /** For tests: the chunk indexes present. */
    List<Long> chunkIndexes() {
        return List.copyOf(chunks.keySet());
    }

    /** How far into chunk {@code idx} a write ending at {@code end} reaches. */
    private int endWithin(long idx, long end) {
        return (int) Math.min(chunkSize, end - (idx << shift));
    }

    /** The array length that holds {@code bytes} bytes of a chunk: a power of two in [4 KiB, chunkSize]. */
    private int allocationFor(int bytes) {
        if (bytes <= MIN_ALLOCATION) {
            return MIN_ALLOCATION;
        }
        int p = Integer.highestOneBit(bytes - 1) << 1;
        return Math.min(p, chunkSize);
    }

    private static void putZeros(ByteBuffer dst, int n) {
        while (n > 0) {
            int k = Math.min(n, ZEROS.length);
            dst.put(ZEROS, 0, k);
            n -= k;
        }
    }
}
