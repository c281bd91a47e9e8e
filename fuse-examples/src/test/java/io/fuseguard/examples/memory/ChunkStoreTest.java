package io.fuseguard.examples.memory;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The chunk store alone, without a mount: holes, allocation sizes, truncation and ENOSPC. */
class ChunkStoreTest {
    private static final int CHUNK = 64 * 1024;

    private final SpaceQuota quota = new SpaceQuota(64L << 20);
    private final ChunkStore store = new ChunkStore(CHUNK, quota);

    private static ByteBuffer bytes(int n, int seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return ByteBuffer.wrap(b);
    }

    private byte[] read(long offset, int len) {
        ByteBuffer dst = ByteBuffer.allocate(len);
        int n = store.read(offset, dst);
        return Arrays.copyOf(dst.array(), n);
    }

    @Test
    void writeThenReadBackAcrossChunkBoundaries() {
        ByteBuffer data = bytes(3 * CHUNK + 123, 1);
        long offset = CHUNK - 10;
        assertThat(store.write(offset, data.duplicate())).isEqualTo(data.capacity());
        assertThat(store.size()).isEqualTo(offset + data.capacity());
        assertThat(read(offset, data.capacity())).isEqualTo(data.array());
        // Chunk 0 was touched only in its last 10 bytes: the hole before them reads as zeros.
        assertThat(read(0, (int) offset)).containsOnly((byte) 0);
        assertThat(store.chunkIndexes()).containsExactly(0L, 1L, 2L, 3L, 4L);
    }

    @Test
    void holesReadAsZerosAndCostNothing() {
        long far = 10L * 1024 * 1024 * 1024; // 10 GiB
        store.write(far, ByteBuffer.wrap(new byte[] {7}));
        assertThat(store.size()).isEqualTo(far + 1);
        assertThat(store.chunkCount()).isEqualTo(1);
        assertThat(store.allocatedBytes()).isEqualTo(ChunkStore.MIN_ALLOCATION);
        assertThat(quota.used()).isEqualTo(ChunkStore.MIN_ALLOCATION);
        assertThat(read(far - 5000, 5001)).hasSize(5001).endsWith((byte) 7);
        assertThat(Arrays.copyOf(read(far - 5000, 5001), 5000)).containsOnly((byte) 0);
        assertThat(read(12345, 4096)).containsOnly((byte) 0);
    }

    @Test
    void readStopsAtEndOfFile() {
        store.write(0, bytes(100, 2));
        assertThat(read(90, 50)).hasSize(10);
        assertThat(read(100, 50)).isEmpty();
        assertThat(read(5000, 50)).isEmpty();
    }

    @Test
    void smallFilesHoldSmallArraysThatGrowByDoubling() {
        store.write(0, bytes(100, 3));
        assertThat(store.arrayLength(0)).isEqualTo(4096);
        store.write(100, bytes(5000, 4)); // now 5100 bytes: next power of two
        assertThat(store.arrayLength(0)).isEqualTo(8192);
        store.write(CHUNK - 1, bytes(1, 5));
        assertThat(store.arrayLength(0)).isEqualTo(CHUNK);
        assertThat(store.allocatedBytes()).isEqualTo(CHUNK).isEqualTo(quota.used());
    }

    @Test
    void truncateDownFreesChunksAndZeroesTheKeptTail() {
        ByteBuffer data = bytes(4 * CHUNK, 6);
        store.write(0, data.duplicate());
        assertThat(store.allocatedBytes()).isEqualTo(4L * CHUNK);

        store.truncate(CHUNK + 1000);
        assertThat(store.size()).isEqualTo(CHUNK + 1000);
        assertThat(store.chunkIndexes()).containsExactly(0L, 1L);
        // The last kept chunk shrinks to the power of two that still holds its 1000 bytes.
        assertThat(store.arrayLength(1)).isEqualTo(4096);
        assertThat(store.allocatedBytes()).isEqualTo(CHUNK + 4096L).isEqualTo(quota.used());
        assertThat(read(0, CHUNK + 1000)).isEqualTo(Arrays.copyOf(data.array(), CHUNK + 1000));

        // Growing again must expose zeros, not the old bytes that were past the cut.
        store.truncate(3L * CHUNK);
        byte[] all = read(0, 3 * CHUNK);
        assertThat(Arrays.copyOf(all, CHUNK + 1000)).isEqualTo(Arrays.copyOf(data.array(), CHUNK + 1000));
        assertThat(Arrays.copyOfRange(all, CHUNK + 1000, 3 * CHUNK)).containsOnly((byte) 0);
        assertThat(store.allocatedBytes()).isEqualTo(CHUNK + 4096L); // truncate up allocates nothing
    }

    @Test
    void truncateInsideAnArrayZeroesWhatAWriteLaterExtendsOver() {
        store.write(0, bytes(3000, 7)); // 4 KiB array, 3000 bytes used
        store.truncate(1000);
        // A write at 2000 extends the file: the bytes 1000..2000 must read as zeros, not as the old data.
        store.write(2000, ByteBuffer.wrap(new byte[] {1}));
        assertThat(Arrays.copyOfRange(read(0, 2001), 1000, 2000)).containsOnly((byte) 0);
    }

    @Test
    void truncateToChunkBoundaryAndToZero() {
        store.write(0, bytes(2 * CHUNK, 8));
        store.truncate(CHUNK);
        assertThat(store.chunkIndexes()).containsExactly(0L);
        assertThat(store.allocatedBytes()).isEqualTo(CHUNK);
        store.truncate(0);
        assertThat(store.chunkCount()).isZero();
        assertThat(store.allocatedBytes()).isZero();
        assertThat(quota.used()).isZero();
    }

    @Test
    void allocateReservesTheRangeKeepsDataAndThenWritesCannotRunOutOfSpace() {
        SpaceQuota small = new SpaceQuota(3 * CHUNK);
        ChunkStore s = new ChunkStore(CHUNK, small);
        ByteBuffer data = bytes(100, 20);
        s.write(10, data.duplicate());
        s.allocate(0, 2L * CHUNK, false);
        assertThat(s.size()).isEqualTo(2L * CHUNK);
        assertThat(small.used()).isEqualTo(2L * CHUNK);
        ByteBuffer dst = ByteBuffer.allocate(100);
        s.read(10, dst);
        assertThat(dst.array()).as("existing data untouched").isEqualTo(data.array());
        // The rest of the quota goes elsewhere; writes into the allocated range still fit.
        ChunkStore other = new ChunkStore(CHUNK, small);
        other.write(0, bytes(CHUNK, 21));
        s.write(CHUNK, bytes(CHUNK, 22));
        assertThat(small.used()).isEqualTo(3L * CHUNK);
        // KEEP_SIZE past the end: allocated, size unchanged, freed by a truncate.
        assertThatThrownBy(() -> s.allocate(2L * CHUNK, CHUNK, true))
                .satisfies(e -> assertThat(((ErrnoException) e).errno()).isEqualTo(Errno.ENOSPC));
        other.truncate(0);
        s.allocate(2L * CHUNK, CHUNK, true);
        assertThat(s.size()).isEqualTo(2L * CHUNK);
        assertThat(small.used()).isEqualTo(3L * CHUNK);
        s.truncate(2L * CHUNK);
        assertThat(small.used()).isEqualTo(2L * CHUNK);
    }

    @Test
    void hugeRangesAreAnsweredAtOnceNotWalked() {
        store.write(1L << 40, bytes(10, 40));
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> store.allocate(0, 1L << 50, true))
                .satisfies(e -> assertThat(((ErrnoException) e).errno()).isEqualTo(Errno.ENOSPC));
        store.punchHole(0, 1L << 50);
        store.punchHole(0, Long.MAX_VALUE - 1);
        assertThat((System.nanoTime() - t0) / 1_000_000).as("ms for three huge ranges").isLessThan(1000);
        assertThat(read(1L << 40, 10)).containsOnly((byte) 0);
        assertThat(quota.used()).isEqualTo(0);
    }

    @Test
    void aPunchedHoleReadsAsZerosAndGivesWholeChunksBack() {
        ByteBuffer data = bytes(3 * CHUNK, 30);
        store.write(0, data.duplicate());
        long used = quota.used();
        store.punchHole(CHUNK - 5, CHUNK + 10); // 5 bytes of chunk 0, all of chunk 1, 5 bytes of chunk 2
        assertThat(store.size()).isEqualTo(3L * CHUNK);
        assertThat(read(CHUNK - 5, CHUNK + 10)).containsOnly((byte) 0);
        assertThat(read(0, CHUNK - 5)).as("before the hole").isEqualTo(Arrays.copyOf(data.array(), CHUNK - 5));
        assertThat(read(2L * CHUNK + 5, CHUNK - 5)).as("after it")
                .isEqualTo(Arrays.copyOfRange(data.array(), 2 * CHUNK + 5, 3 * CHUNK));
        assertThat(store.chunkIndexes()).containsExactly(0L, 2L);
        assertThat(quota.used()).isEqualTo(used - CHUNK);
    }

    @Test
    void enospcIsAllOrNothing() {
        SpaceQuota small = new SpaceQuota(2 * CHUNK);
        ChunkStore s = new ChunkStore(CHUNK, small);
        s.write(0, bytes(CHUNK, 9));
        assertThatThrownBy(() -> s.write(CHUNK, bytes(CHUNK + 1, 10)))
                .isInstanceOf(ErrnoException.class)
                .satisfies(e -> assertThat(((ErrnoException) e).errno()).isEqualTo(Errno.ENOSPC));
        assertThat(s.size()).isEqualTo(CHUNK);
        assertThat(s.chunkCount()).isEqualTo(1);
        assertThat(small.used()).isEqualTo(CHUNK);
        // What fits still works, and freeing space makes room again.
        s.write(CHUNK, bytes(CHUNK, 11));
        assertThat(small.used()).isEqualTo(2L * CHUNK);
        s.truncate(0);
        assertThat(small.used()).isZero();
        s.write(0, bytes(2 * CHUNK, 12));
        assertThat(s.size()).isEqualTo(2L * CHUNK);
    }

    @Test
    void clearReleasesEverything() {
        store.write(0, bytes(3 * CHUNK, 13));
        store.write(1L << 40, bytes(10, 14));
        store.clear();
        assertThat(quota.used()).isZero();
        assertThat(store.size()).isZero();
        assertThat(store.chunkCount()).isZero();
    }

    /** Random writes, reads and truncates compared against a plain byte array. */
    @Test
    void matchesAReferenceModelUnderRandomOperations() {
        Random rnd = new Random(42);
        int max = 6 * CHUNK;
        byte[] model = new byte[max];
        int modelSize = 0;
        for (int step = 0; step < 3000; step++) {
            int op = rnd.nextInt(10);
            if (op < 6) {
                int off = rnd.nextInt(max - 1);
                int len = 1 + rnd.nextInt(Math.min(max - off, 3 * CHUNK / 2));
                byte[] b = new byte[len];
                rnd.nextBytes(b);
                store.write(off, ByteBuffer.wrap(b));
                System.arraycopy(b, 0, model, off, len);
                modelSize = Math.max(modelSize, off + len);
            } else if (op < 8) {
                int size = rnd.nextInt(max);
                store.truncate(size);
                if (size < modelSize) {
                    Arrays.fill(model, size, modelSize, (byte) 0);
                }
                modelSize = size;
            } else {
                int off = rnd.nextInt(max);
                int len = rnd.nextInt(2 * CHUNK);
                byte[] got = read(off, len);
                int expect = Math.max(0, Math.min(len, modelSize - off));
                assertThat(got).hasSize(expect);
                assertThat(got).isEqualTo(Arrays.copyOfRange(model, off, off + expect));
            }
            assertThat(store.size()).isEqualTo(modelSize);
            assertThat(store.allocatedBytes()).isEqualTo(quota.used());
            assertThat(store.allocatedBytes()).isLessThanOrEqualTo((long) store.chunkCount() * CHUNK);
        }
        assertThat(read(0, max)).isEqualTo(Arrays.copyOf(model, modelSize));
    }
}
