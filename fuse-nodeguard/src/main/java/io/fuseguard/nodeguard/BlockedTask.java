package io.fuseguard.nodeguard;

import java.util.List;
import java.util.Objects;

/**
 * A task (thread) blocked in FUSE, with the kernel's word for where it waits and the guard's reasoning about
 * which connection it waits on.
 *
 * @param pid            its process
 * @param tid            the thread
 * @param startTime      its start time in clock ticks after boot (tells a reused tid apart)
 * @param comm           its command name
 * @param state          its state letter ({@code D} uninterruptible, {@code S} interruptible)
 * @param exiting        whether it is in {@code do_exit()}
 * @param wchan          the kernel function it sleeps in
 * @param stack          its kernel stack, innermost first (empty when unreadable)
 * @param pidNamespace   its pid namespace ({@code pid:[4026531836]}), {@code ""} when unreadable
 * @param attribution    how it was tied to a connection
 * @param connections    the connection(s) it may wait on, per {@code attribution}
 */
public record BlockedTask(int pid, int tid, long startTime, String comm, char state, boolean exiting, String wchan,
                          List<String> stack, String pidNamespace, Attribution attribution,
                          List<Long> connections) {

    /** How a blocked task was tied to a connection. */
    public enum Attribution {
        /** The descriptor argument of the system call it is in is a file on that connection's mount. */
        FD,
        /** That is the only connection with waiting requests among the FUSE mounts of its mount namespace. */
        MOUNT_NAMESPACE,
        /** Several connections with waiting requests are mounted in its mount namespace: it waits on one. */
        AMBIGUOUS,
        /** No FUSE mount with waiting requests is visible to it. */
        NONE;

        /**
         * The JSON spelling.
         *
         * @return {@code fd}, {@code mount-namespace}, {@code ambiguous} or {@code none}
         */
        public String json() {
            return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }
    }

    /**
     * Validates and copies.
     *
     * @param pid see the record description
     * @param tid see the record description
     * @param startTime see the record description
     * @param comm see the record description
     * @param state see the record description
     * @param exiting see the record description
     * @param wchan see the record description
     * @param stack see the record description
     * @param pidNamespace see the record description
     * @param attribution see the record description
     * @param connections see the record description
     */
    public BlockedTask {
        Objects.requireNonNull(comm, "comm");
        Objects.requireNonNull(wchan, "wchan");
        stack = List.copyOf(stack);
        Objects.requireNonNull(pidNamespace, "pidNamespace");
        Objects.requireNonNull(attribution, "attribution");
        connections = List.copyOf(connections);
    }

    /**
     * Whether the guard ties this task to the connection (by descriptor, by mount namespace, or as one of
     * several candidates).
     *
     * @param connection a connection id
     * @return {@code true} if it may wait on it
     */
    public boolean mayWaitOn(long connection) {
        return connections.contains(connection);
    }

    /** Identity across scans: the same thread, not a reused id. */
    String key() {
        return pid + "/" + tid + "@" + startTime;
    }
}
