package io.fuseguard.examples.memory;

import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Full-size chunk arrays freed by deletes and truncates, kept for the next write instead of left to the
 * garbage collector. Why: a JVM heap grows with garbage it has not collected yet, so writing N MiB, deleting
 * them and writing N MiB again would otherwise hold about 2 N MiB; with recycling the filesystem's memory
 * stays at what it ever held at once. Bounded by the filesystem's capacity (there can never be more full
 * chunks than fit in it). Thread-safe.
 */
final class ChunkPool {
    /** A pool that keeps nothing (every chunk is a fresh allocation). */
    static final ChunkPool NONE = new ChunkPool(0, 0);

    private final int chunkSize;
    private final int max;
    private final ConcurrentLinkedQueue<byte[]> free = new ConcurrentLinkedQueue<>();
    private final AtomicInteger count = new AtomicInteger();

    /** A pool of arrays of {@code chunkSize} bytes holding at most {@code capacityBytes} of them. */
    ChunkPool(int chunkSize, long capacityBytes) {
        this.chunkSize = chunkSize;
        this.max = chunkSize == 0 ? 0 : (int) Math.min(Integer.MAX_VALUE, capacityBytes / chunkSize);
    }

    /** A zeroed array of {@code size} bytes: a recycled one for full chunks when one is free. */
    byte[] take(int size) {
        if (size == chunkSize) {
            byte[] c = free.poll();
            if (c != null) {
                count.decrementAndGet();
                return c;
            }
        }
        return new byte[size];
    }

    /** Hands back an array no file uses any more; it is zeroed here, so taking one is cheap. */
    void give(byte[] c) {
        if (c.length != chunkSize || chunkSize == 0 || count.get() >= max) {
            return;
        }
        Arrays.fill(c, (byte) 0);
        count.incrementAndGet();
        free.add(c);
    }

    /** Arrays waiting to be reused. */
    int size() {
        return count.get();
    }
}
