package io.fuseguard.internal.session;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicBoolean;

/** A request waiting in a lane: a private copy of its bytes, its deadline, and who took it. */
final class QueuedRequest {
    final Request request = new Request();
    final long arrivedNanos;
    final long deadlineNanos;
    private final AtomicBoolean taken = new AtomicBoolean();

    QueuedRequest(ByteBuffer from, int length, int fd, long arrivedNanos, long deadlineNanos) {
        ByteBuffer copy = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < length; i++) {
            copy.put(i, from.get(i));
        }
        request.load(copy, length, fd);
        this.arrivedNanos = arrivedNanos;
        this.deadlineNanos = deadlineNanos;
    }

    boolean take() {
        return taken.compareAndSet(false, true);
    }
}
