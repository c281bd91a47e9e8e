package io.fuseguard.internal.tree;

import io.fuseguard.internal.state.StateJournal;
import io.fuseguard.internal.sys.Syscalls;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What a supervised mount's next worker rebuilds from the state journal is exactly what the dead worker's tables
 * held: node ids with their generations, names, lookup counts and open counts, and open handles, after thousands
 * of random changes with compactions between them, and when the worker died in the middle of a compaction.
 */
class JournalReplayTest {
    private final List<Integer> fds = new ArrayList<>();

    @AfterEach
    void close() {
        fds.forEach(Syscalls::close);
    }

    /** The tables of one worker, recording into a journal. */
    private static final class Worker {
        final NodeTable nodes = new NodeTable();
        final HandleTable handles = new HandleTable();
        /** Handles the kernel still holds open (not yet released). */
        final List<Handle> open = new ArrayList<>();

        Worker(StateJournal j) {
            nodes.record(j);
            handles.record(j);
        }

        /** The next worker: its tables rebuilt from {@code j}, as Session.supervise does. */
        static Worker replayed(StateJournal j) {
            Worker w = new Worker(null);
            j.replay(e -> {
                w.nodes.restore(e.rewind());
                w.handles.restore(e.rewind(), w.nodes);
            });
            w.nodes.restored();
            w.handles.restored();
            w.handles.all().stream().filter(h -> !h.isReleased()).forEach(w.open::add);
            return w;
        }

        void compact(StateJournal j) {
            nodes.frozen(() -> handles.frozen(() -> j.compact(x -> {
                nodes.snapshot(x);
                handles.snapshot(x);
            })));
        }
    }

    private StateJournal newJournal() {
        int fd = StateJournal.create();
        assertThat(fd).isNotNegative();
        fds.add(fd);
        return StateJournal.open(fd);
    }

    /** The journal as another process opens it: a new mapping of the same memfd. */
    private StateJournal reopened(StateJournal j) {
        int fd = Syscalls.dupCloseOnExec(j.fd());
        fds.add(fd);
        return StateJournal.open(fd);
    }

    private static void assertSameState(Worker dead, Worker next) {
        assertThat(next.nodes.size()).as("nodes").isEqualTo(dead.nodes.size());
        for (Node n : dead.nodes.nodes()) {
            Node m = next.nodes.get(n.id());
            assertThat(m).as("node %d", n.id()).isNotNull();
            assertThat(m.generation()).as("generation of %d", n.id()).isEqualTo(n.generation());
            assertThat(next.nodes.path(m)).as("path of %d", n.id()).isEqualTo(dead.nodes.path(n));
            assertThat(m.nlookup).as("lookups of %d", n.id()).isEqualTo(n.nlookup);
            assertThat(m.openCount).as("open count of %d", n.id()).isEqualTo(n.openCount);
            assertThat(m.hidden).as("hidden %d", n.id()).isEqualTo(n.hidden);
        }
        assertThat(next.handles.size()).as("handles").isEqualTo(dead.handles.size());
        for (Handle h : dead.handles.all()) {
            Handle g = next.handles.get(h.id());
            assertThat(g).as("handle %d", h.id()).isNotNull();
            assertThat(g.node().id()).isEqualTo(h.node().id());
            assertThat(g.flags()).isEqualTo(h.flags());
            assertThat(g.isDirectory()).isEqualTo(h.isDirectory());
            assertThat(g.openerUid()).isEqualTo(h.openerUid());
            assertThat(g.isReleased()).isEqualTo(h.isReleased());
        }
    }

    private static boolean isEmpty(Node n) {
        return n.children == null || n.children.isEmpty();
    }

    /** Random lookups, forgets (slots reused), renames, unlinks, opens and releases, with compactions. */
    private static void churn(Worker w, StateJournal j, Random r, int steps, int compactEvery) {
        List<Handle> open = w.open;
        String[] names = {"a", "b", "c", "d", "e", "f", "g", "h"};
        for (int step = 1; step <= steps; step++) {
            List<Node> all = new ArrayList<>(w.nodes.nodes());
            all.add(w.nodes.root());
            Node any = all.get(r.nextInt(all.size()));
            Node parent = w.nodes.path(any) != null ? any : w.nodes.root();
            String name = names[r.nextInt(names.length)];
            switch (r.nextInt(10)) {
                case 0, 1, 2 -> w.nodes.lookup(parent, name);
                case 3 -> {
                    if (any != w.nodes.root() && any.nlookup > 0) {
                        // an open file pins its inode, a directory its looked-up children's parent: the kernel
                        // forgets the last lookup only after the last release and the children's forgets
                        long max = any.openCount > 0 || !isEmpty(any) ? any.nlookup - 1 : any.nlookup;
                        if (max > 0) {
                            w.nodes.forget(any.id(), 1 + r.nextInt((int) Math.min(3, max)));
                        }
                    }
                }
                case 4 -> {
                    Node child = w.nodes.child(parent, name);
                    Node to = all.get(r.nextInt(all.size()));
                    String toName = names[r.nextInt(names.length)];
                    Node replaced = w.nodes.child(to, toName);
                    // what rename(2) allows: not into itself, not over an ancestor or a non-empty directory
                    if (child != null && w.nodes.path(to) != null && !w.nodes.isAncestorOrSelf(child, to)
                            && (replaced == null || (isEmpty(replaced) && !w.nodes.isAncestorOrSelf(replaced,
                            parent)))) {
                        w.nodes.renamed(parent, name, to, toName);
                    }
                }
                case 5 -> {
                    Node child = w.nodes.child(parent, name);
                    if (child != null && isEmpty(child)) { // rmdir(2) of a non-empty directory fails
                        w.nodes.unlinked(parent, name);
                    }
                }
                case 6, 7 -> {
                    if (any != w.nodes.root() && w.nodes.path(any) != null) {
                        w.nodes.opened(any);
                        open.add(w.handles.add(any, step, r.nextInt(4), r.nextBoolean(), r.nextInt(3), 0, step));
                    }
                }
                default -> {
                    if (!open.isEmpty()) {
                        Handle h = open.remove(r.nextInt(open.size()));
                        w.handles.released(h);
                        if (r.nextInt(4) != 0) { // some stay released with their close work still to do
                            w.handles.remove(h);
                            w.nodes.released(h.node());
                        }
                    }
                }
            }
            if (compactEvery > 0 && step % compactEvery == 0) {
                w.compact(j);
            }
        }
    }

    @Test
    void theNextWorkerRebuildsExactlyWhatTheDeadOneHeld() {
        for (long seed = 1; seed <= 5; seed++) {
            StateJournal j = newJournal();
            Worker dead = new Worker(j);
            churn(dead, j, new Random(seed), 20_000, 3_000);
            assertSameState(dead, Worker.replayed(reopened(j)));
        }
    }

    @Test
    void aWorkerKilledDuringCompactionLeavesThePreviousStateWhole() {
        StateJournal j = newJournal();
        Worker dead = new Worker(j);
        churn(dead, j, new Random(7), 5_000, 0);
        // The snapshot is written into the other half; the process dies before the switch (one aligned store).
        assertThatThrownBy(() -> dead.nodes.frozen(() -> j.compact(x -> {
            dead.nodes.snapshot(x);
            throw new IllegalStateException("killed mid-compaction");
        }))).hasMessage("killed mid-compaction");
        assertSameState(dead, Worker.replayed(reopened(j)));
    }

    @Test
    void aReplayedWorkerRecordsOnAndTheOneAfterItAgrees() {
        StateJournal j = newJournal();
        Worker first = new Worker(j);
        churn(first, j, new Random(11), 4_000, 1_000);
        Worker second = Worker.replayed(reopened(j));
        second.nodes.record(j);
        second.handles.record(j);
        churn(second, j, new Random(12), 4_000, 1_500);
        assertSameState(second, Worker.replayed(reopened(j)));
    }
}
