package io.fuseguard.internal.tree;

import io.fuseguard.internal.state.StateJournal;
import io.fuseguard.internal.sys.Syscalls;

/**
 * What a standby worker of a supervised mount does while it waits: it records and replays a throwaway journal
 * of some 20,000 changes, so that the code of the real replay is compiled before it is needed. Replaying 100,000
 * nodes takes some 180 ms in a JVM that never ran it and 45-65 ms once compiled, and a take-over is a pause for
 * every client of the mount.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class TakeOverWarmUp {
    private static final int DIRECTORIES = 20;
    private static final int FILES = 1000;
    private static final int ROUNDS = 3;

    private TakeOverWarmUp() {
    }

    /** Runs the warm-up; returns the milliseconds it took (a failure is not the standby's problem: 0). */
    public static long run() {
        long t0 = System.nanoTime();
        int fd;
        try {
            fd = StateJournal.create();
        } catch (IllegalStateException e) {
            return 0;
        }
        try {
            StateJournal j = StateJournal.open(fd);
            NodeTable nodes = new NodeTable();
            HandleTable handles = new HandleTable();
            nodes.record(j);
            handles.record(j);
            Node root = nodes.root();
            for (int d = 0; d < DIRECTORIES; d++) {
                Node dir = nodes.lookup(root, "d" + d);
                for (int f = 0; f < FILES; f++) {
                    Node n = nodes.lookup(dir, "f" + f);
                    if (f % 10 == 0) {
                        nodes.opened(n);
                        handles.add(n, f, 0, false, 0, 0, 0);
                    }
                }
                nodes.renamed(root, "d" + d, root, "e" + d);
            }
            for (int round = 0; round < ROUNDS; round++) {
                NodeTable n = new NodeTable();
                HandleTable h = new HandleTable();
                j.replay(e -> {
                    n.restore(e.rewind());
                    h.restore(e.rewind(), n);
                });
                n.restored();
                h.restored();
            }
            j.discard();
        } finally {
            Syscalls.close(fd);
        }
        return (System.nanoTime() - t0) / 1_000_000;
    }
}
