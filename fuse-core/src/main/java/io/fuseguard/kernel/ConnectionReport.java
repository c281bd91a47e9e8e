package io.fuseguard.kernel;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeSet;

/**
 * A census of the system's FUSE connections, combining {@code fusectl}, the mount table and
 * {@link DaemonLocator}. Built only from {@code /proc} and {@code /sys/fs/fuse/connections}: it
 * never blocks, even when some connections are wedged.
 */
public final class ConnectionReport {

    private ConnectionReport() {
    }

    /**
     * One FUSE connection.
     *
     * @param id        the connection id (directory name under {@code /sys/fs/fuse/connections},
     *                  see {@link MountEntry#connectionId()})
     * @param mount     its mount in this mount namespace; empty when it is only known to
     *                  {@code fusectl} (lazily unmounted but still referenced, or mounted in
     *                  another namespace)
     * @param waiting   requests queued or in progress; empty when {@code fusectl} is not mounted
     * @param daemonPid the daemon serving it, when known with confidence
     */
    public record Connection(long id, Optional<MountEntry> mount, OptionalInt waiting,
                             OptionalInt daemonPid) {

        /**
         * Validates that no component is {@code null}.
         *
         * @param id see the record description
         * @param mount see the record description
         * @param waiting see the record description
         * @param daemonPid see the record description
         */
        public Connection {
            Objects.requireNonNull(mount, "mount");
            Objects.requireNonNull(waiting, "waiting");
            Objects.requireNonNull(daemonPid, "daemonPid");
        }
    }

    /**
     * Lists every FUSE connection: all of {@code fusectl}'s, plus every FUSE mount of the mount
     * table (so mounts are listed even when {@code fusectl} is not mounted).
     *
     * @return the connections, ascending by id
     * @throws IOException if {@code /proc/self/mountinfo} cannot be read
     */
    public static List<Connection> scan() throws IOException {
        return scan(new FuseControl(), MountTable.load());
    }

    /**
     * Same as {@link #scan()} over the given sources.
     *
     * @param control the {@code fusectl} to read
     * @param mounts  the mount table to use
     * @return the connections, ascending by id
     */
    public static List<Connection> scan(FuseControl control, MountTable mounts) {
        TreeSet<Long> ids = new TreeSet<>();
        try {
            ids.addAll(control.connectionIds());
        } catch (IOException e) {
            // fusectl unreadable: rely on the mount table alone
        }
        for (MountEntry m : mounts.fuseMounts()) {
            ids.add(m.connectionId());
        }
        List<Connection> result = new ArrayList<>(ids.size());
        for (long id : ids) {
            Optional<MountEntry> mount = mounts.findByConnection(id);
            OptionalInt daemon = mount.map(DaemonLocator::daemonPid).orElse(OptionalInt.empty());
            result.add(new Connection(id, mount, control.waiting(id), daemon));
        }
        return List.copyOf(result);
    }
}
