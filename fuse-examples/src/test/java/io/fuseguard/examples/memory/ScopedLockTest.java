package io.fuseguard.examples.memory;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** ScopedLock: its handles release exactly what they took, also on an exception, and are reused. */
@SuppressWarnings("try") // the handles are only there to be closed
class ScopedLockTest {
    private final ScopedLock lock = new ScopedLock();

    @Test
    void readHandleHoldsSharedLockUntilClosed() {
        try (ScopedLock.Held h = lock.read()) {
            assertThat(lock.getReadHoldCount()).isEqualTo(1);
            assertThat(lock.isWriteLocked()).isFalse();
        }
        assertThat(lock.getReadLockCount()).isZero();
    }

    @Test
    void writeHandleHoldsExclusiveLockUntilClosed() throws Exception {
        try (ScopedLock.Held h = lock.write()) {
            assertThat(lock.isWriteLockedByCurrentThread()).isTrue();
            // Another thread cannot read meanwhile.
            boolean otherGotIt = CompletableFuture.supplyAsync(() -> lock.readLock().tryLock())
                    .get(5, TimeUnit.SECONDS);
            assertThat(otherGotIt).isFalse();
        }
        assertThat(lock.isWriteLocked()).isFalse();
    }

    @Test
    void exceptionInBodyReleasesTheLock() {
        assertThatThrownBy(() -> {
            try (ScopedLock.Held h = lock.write()) {
                throw new IllegalStateException("boom");
            }
        }).isInstanceOf(IllegalStateException.class).hasMessage("boom");
        assertThat(lock.isWriteLocked()).isFalse();
    }

    @Test
    void nestedAcquisitionsReleaseOneAtATime() {
        try (ScopedLock.Held outer = lock.write()) {
            try (ScopedLock.Held inner = lock.read()) {
                assertThat(lock.getWriteHoldCount()).isEqualTo(1);
                assertThat(lock.getReadHoldCount()).isEqualTo(1);
            }
            assertThat(lock.getReadHoldCount()).isZero();
            assertThat(lock.isWriteLockedByCurrentThread()).isTrue();
        }
        assertThat(lock.isWriteLocked()).isFalse();
    }

    @Test
    void everyAcquisitionReturnsTheSameHandle() {
        ScopedLock.Held first;
        try (ScopedLock.Held h = lock.read()) {
            first = h;
        }
        try (ScopedLock.Held h = lock.read()) {
            assertThat(h).isSameAs(first);
        }
        ScopedLock.Held firstWrite;
        try (ScopedLock.Held h = lock.write()) {
            firstWrite = h;
        }
        try (ScopedLock.Held h = lock.write()) {
            assertThat(h).isSameAs(firstWrite).isNotSameAs(first);
        }
    }

    @Test
    void lockingAllocatesNothing() {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        long id = Thread.currentThread().getId();
        long held = 0;
        for (int i = 0; i < 1000; i++) { // the read lock's per-thread hold count is made on first use
            try (ScopedLock.Held h = lock.read()) {
                held += h == null ? 0 : 1;
            }
        }
        long before = threads.getThreadAllocatedBytes(id);
        for (int i = 0; i < 100_000; i++) {
            try (ScopedLock.Held r = lock.read()) {
                held += r == null ? 0 : 1; // no assertion object in the measured loop: AssertJ allocates
            }
            try (ScopedLock.Held w = lock.write()) {
                held += w == null ? 0 : 1;
            }
        }
        long allocated = threads.getThreadAllocatedBytes(id) - before;
        // 200,000 acquisitions: a handle per acquisition would be megabytes; allow the measuring itself.
        assertThat(held).isEqualTo(201_000);
        assertThat(allocated).as("bytes allocated by 200,000 acquisitions").isLessThan(64 * 1024);
    }
}
