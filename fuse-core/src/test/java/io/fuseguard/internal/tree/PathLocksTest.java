package io.fuseguard.internal.tree;

import org.junit.jupiter.api.Test;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The rules of {@link PathLocks} between threads: a change waits for what depends on it (a file below a renamed
 * directory, a name it changes) and what depends on a change waits for it; unrelated paths never wait; every wait
 * ends at its deadline.
 */
class PathLocksTest {
    private final NodeTable table = new NodeTable();
    private final PathLocks locks = new PathLocks(table);
    private final Node root = table.root();
    private final Node d = table.lookup(root, "d");
    private final Node a = table.lookup(d, "a");
    private final Node other = table.lookup(root, "other");

    private static long in(long millis) {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    }

    private PathLocks.Pin pin() {
        PathLocks.Pin p = new PathLocks.Pin();
        locks.register(p);
        return p;
    }

    @Test
    void aRenameOfADirectoryWaitsForAHandlerOnAFileBelowIt() throws Exception {
        PathLocks.Pin writer = pin();
        assertThat(locks.pin(writer, a, null, in(1000))).isTrue();
        PathLocks.Pin renamer = pin();
        CompletableFuture<Boolean> rename = CompletableFuture.supplyAsync(
                () -> locks.lock(renamer, root, "d", root, "e", in(5000)));
        Thread.sleep(100);
        assertThat(rename).as("waits while the write runs").isNotDone();
        locks.unpin(writer);
        assertThat(rename.get(5, TimeUnit.SECONDS)).isTrue();
        locks.unpin(renamer);
    }

    @Test
    void aHandlerBelowARenamedDirectoryWaitsForTheRename() throws Exception {
        PathLocks.Pin renamer = pin();
        assertThat(locks.lock(renamer, root, "d", root, "e", in(1000))).isTrue();
        PathLocks.Pin writer = pin();
        CompletableFuture<Boolean> write = CompletableFuture.supplyAsync(() -> locks.pin(writer, a, null, in(5000)));
        Thread.sleep(100);
        assertThat(write).isNotDone();
        locks.unpin(renamer);
        assertThat(write.get(5, TimeUnit.SECONDS)).isTrue();
        locks.unpin(writer);
    }

    @Test
    void aLookupOfANameBeingRenamedOverWaits() throws Exception {
        PathLocks.Pin renamer = pin();
        assertThat(locks.lock(renamer, root, "tmp", d, "a", in(1000))).isTrue();
        PathLocks.Pin lookup = pin();
        CompletableFuture<Boolean> l = CompletableFuture.supplyAsync(() -> locks.pin(lookup, d, "a", in(5000)));
        Thread.sleep(100);
        assertThat(l).isNotDone();
        locks.unpin(renamer);
        assertThat(l.get(5, TimeUnit.SECONDS)).isTrue();
        locks.unpin(lookup);
    }

    @Test
    void unrelatedPathsNeverWait() {
        PathLocks.Pin renamer = pin();
        assertThat(locks.lock(renamer, root, "d", root, "e", in(1000))).isTrue();
        PathLocks.Pin p = pin();
        long t0 = System.nanoTime();
        assertThat(locks.pin(p, other, null, in(1000))).isTrue();
        locks.unpin(p);
        assertThat(locks.pin(p, d, "b", in(1000))).as("another name in a moved directory waits").isFalse();
        assertThat(locks.pin(p, root, "x", in(1000))).as("another name beside it does not").isTrue();
        locks.unpin(p);
        assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.MILLISECONDS.toNanos(1500));
        locks.unpin(renamer);
    }

    @Test
    void aWaitEndsAtItsDeadlineHoldingNothing() throws Exception {
        PathLocks.Pin stuck = pin();
        assertThat(locks.pin(stuck, a, null, in(1000))).isTrue();
        PathLocks.Pin renamer = pin();
        long t0 = System.nanoTime();
        assertThat(locks.lock(renamer, root, "d", root, "e", in(200))).isFalse();
        assertThat(System.nanoTime() - t0).isBetween(TimeUnit.MILLISECONDS.toNanos(150),
                TimeUnit.MILLISECONDS.toNanos(2000));
        assertThat(renamer.held()).isFalse();
        PathLocks.Pin after = pin();
        assertThat(locks.pin(after, a, null, in(100))).as("the failed change left nothing behind").isTrue();
        locks.unpin(after);
        locks.unpin(stuck);
    }

    @Test
    void twoChangesOfOneNameTakeTurns() throws Exception {
        PathLocks.Pin first = pin();
        assertThat(locks.lock(first, root, "tmp1", d, "a", in(1000))).isTrue();
        PathLocks.Pin second = pin();
        CountDownLatch started = new CountDownLatch(1);
        CompletableFuture<Boolean> next = CompletableFuture.supplyAsync(() -> {
            started.countDown();
            return locks.lock(second, root, "tmp2", d, "a", in(5000));
        });
        started.await();
        Thread.sleep(100);
        assertThat(next).isNotDone();
        locks.unpin(first);
        assertThat(next.get(5, TimeUnit.SECONDS)).isTrue();
        locks.unpin(second);
    }
}
