package io.fuseguard.internal.session;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A class of requests with its own thread budget: metadata and data each get one, so a flood of slow reads
 * cannot starve a {@code stat}, and the other way round. Within budget a request runs at once on the thread
 * that read it; beyond, it waits in the lane's queue (a private copy of the request), keeps its deadline, and is
 * run by the next thread of the lane that finishes.
 */
final class Lane {
    final String name;
    final int budget;
    final int capacity;
    private final AtomicInteger running = new AtomicInteger();
    private final AtomicInteger queued = new AtomicInteger();
    final ConcurrentLinkedQueue<QueuedRequest> queue = new ConcurrentLinkedQueue<>();

    Lane(String name, int budget, int capacity) {
        this.name = name;
        this.budget = budget;
        this.capacity = capacity;
    }

    /** Takes a slot; false when the lane is full. */
    boolean tryEnter() {
        if (running.incrementAndGet() <= budget) {
            return true;
        }
        running.decrementAndGet();
        return false;
    }

    /** Gives a slot back. */
    void exit() {
        running.decrementAndGet();
    }

    /** Slots in use. */
    int running() {
        return running.get();
    }

    /** Queues a request; false when the queue is full. */
    boolean offer(QueuedRequest q) {
        if (queued.incrementAndGet() > capacity) {
            queued.decrementAndGet();
            return false;
        }
        queue.add(q);
        return true;
    }

    /** The oldest waiting request this caller now owns, or null. */
    QueuedRequest poll() {
        QueuedRequest q;
        while ((q = queue.poll()) != null) {
            if (q.take()) {
                queued.decrementAndGet();
                return q;
            }
        }
        return null;
    }

    /** Takes a specific waiting request away (deadline, interrupt); true if this caller now owns it. */
    boolean remove(QueuedRequest q) {
        if (q.take()) {
            queue.remove(q);
            queued.decrementAndGet();
            return true;
        }
        return false;
    }

    /** Requests waiting now. */
    int waiting() {
        return queued.get();
    }
}
