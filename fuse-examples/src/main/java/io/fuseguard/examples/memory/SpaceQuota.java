package io.fuseguard.examples.memory;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A fixed budget of some resource (bytes of memory, inodes) shared by every file of one {@link MemoryFs}.
 *
 * <p>Lock-free on purpose: writers to different files reserve space concurrently without a global lock, and a
 * reservation either succeeds completely or fails with {@code ENOSPC} without side effects, so a failed write
 * never leaves the accounting half-updated.
 */
final class SpaceQuota {
    private final long capacity;
    private final AtomicLong used = new AtomicLong();

    /** A quota of {@code capacity} units, none used. */
    SpaceQuota(long capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive: " + capacity);
        }
        this.capacity = capacity;
    }

    /**
     * Takes {@code amount} units, or none at all.
     *
     * @throws ErrnoException ENOSPC when fewer than {@code amount} units are left
     */
    void reserve(long amount) {
        if (amount <= 0) {
            return;
        }
        while (true) {
            long u = used.get();
            // Written as a subtraction so that a huge amount cannot overflow into "fits".
            if (amount > capacity - u) {
                throw new ErrnoException(Errno.ENOSPC, "needs " + amount + ", " + (capacity - u) + " left");
            }
            if (used.compareAndSet(u, u + amount)) {
                return;
            }
        }
    }

    /** Gives back {@code amount} units taken earlier. */
    void release(long amount) {
        if (amount > 0) {
            long after = used.addAndGet(-amount);
            assert after >= 0 : "released more than reserved";
        }
    }

    /** Units in use. */
    long used() {
        return used.get();
    }

    /** Total units. */
    long capacity() {
        return capacity;
    }
}
