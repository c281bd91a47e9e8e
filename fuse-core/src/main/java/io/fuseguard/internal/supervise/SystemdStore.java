package io.fuseguard.internal.supervise;

import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.sys.Syscalls;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * systemd's file descriptor store, without libsystemd: a supervisor run by a unit with
 * {@code FileDescriptorStoreMax=} hands systemd copies of the connection's {@code /dev/fuse} descriptor and of its
 * state journal ({@code FDSTORE=1}), so the connection outlives the supervisor itself; when systemd starts the
 * service again (its {@code Restart=}), it passes them back ({@code LISTEN_FDS}, {@code LISTEN_FDNAMES}) and the
 * new supervisor resumes the mount instead of making a new one.
 *
 * <p>systemd announces the store in {@code $FDSTORE} (version 254 and later: the unit's limit; an older one's unit
 * sets {@value #OPT_IN} to the same number); without it, or without {@code $NOTIFY_SOCKET}, nothing is stored and a supervisor's death ends the connection as before.
 * The names carry the connection id ({@code fuseguard-dev-45}, {@code fuseguard-state-45}), so a resumed supervisor
 * can check the mount it finds is the one the descriptors serve.
 */
public final class SystemdStore {
    private static final Log LOG = Log.of(SystemdStore.class);
    private static final String DEV = "fuseguard-dev-";
    private static final String STATE = "fuseguard-state-";
    /**
     * For systemd before 254, which does not set {@code $FDSTORE}: the unit sets this to its
     * {@code FileDescriptorStoreMax=}.
     */
    public static final String OPT_IN = "FUSEGUARD_FDSTORE";
    /** The first descriptor systemd passes ({@code SD_LISTEN_FDS_START}). */
    private static final int LISTEN_START = 3;

    private SystemdStore() {
    }

    /**
     * Descriptors of a connection that systemd kept for this service and passed back at its start.
     *
     * @param connection the FUSE connection id the names carry
     * @param device     the connection's /dev/fuse descriptor (close-on-exec)
     * @param state      the state journal's memfd (close-on-exec)
     */
    public record Kept(long connection, int device, int state) {
    }

    /** Whether systemd keeps descriptors for this service ({@code $NOTIFY_SOCKET} and a non-zero {@code $FDSTORE}). */
    public static boolean available() {
        return available(System.getenv());
    }

    static boolean available(Map<String, String> env) {
        String socket = env.get("NOTIFY_SOCKET");
        if (socket == null || socket.isEmpty()) {
            return false;
        }
        // systemd 254 and later say so themselves; older ones (Debian 12 has 252) need the unit to say it
        String max = env.getOrDefault("FDSTORE", env.get(OPT_IN));
        if (max == null) {
            return false;
        }
        try {
            return Integer.parseInt(max.trim()) >= 2;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /**
     * Hands systemd the connection's descriptors. Returns why it could not (the supervisor then runs as without a
     * store: its death ends the connection), or empty when stored.
     */
    public static Optional<String> store(long connection, int device, int state) {
        String socket = System.getenv("NOTIFY_SOCKET");
        for (Object[] one : new Object[][] {{DEV + connection, device}, {STATE + connection, state}}) {
            byte[] msg = ("FDSTORE=1\nFDNAME=" + one[0] + "\n").getBytes(StandardCharsets.UTF_8);
            long r = Syscalls.sendDatagram(socket, msg, new int[] {(Integer) one[1]});
            if (r < 0) {
                return Optional.of("sending " + one[0] + " to " + socket + " failed: errno " + -r);
            }
        }
        return Optional.empty();
    }

    /** Asks systemd to drop the connection's descriptors (the mount ended on purpose); best effort. */
    public static void remove(long connection) {
        String socket = System.getenv("NOTIFY_SOCKET");
        if (socket == null || socket.isEmpty()) {
            return;
        }
        for (String name : new String[] {DEV + connection, STATE + connection}) {
            byte[] msg = ("FDSTOREREMOVE=1\nFDNAME=" + name + "\n").getBytes(StandardCharsets.UTF_8);
            long r = Syscalls.sendDatagram(socket, msg, new int[0]);
            if (r < 0) {
                LOG.warn("could not ask systemd to drop {}: errno {}", name, -r);
            }
        }
    }

    /**
     * The descriptors systemd passed to this process, when they are a connection's pair; they are made
     * close-on-exec (so workers do not inherit them) and every other passed descriptor is closed. Empty when this
     * process was not given any ({@code LISTEN_PID} is not this process, or no such names).
     */
    public static Optional<Kept> inherited() {
        Map<String, String> env = System.getenv();
        String pid = env.get("LISTEN_PID");
        String count = env.get("LISTEN_FDS");
        String names = env.get("LISTEN_FDNAMES");
        if (pid == null || count == null || names == null
                || !pid.trim().equals(Long.toString(ProcessHandle.current().pid()))) {
            return Optional.empty();
        }
        int n;
        try {
            n = Integer.parseInt(count.trim());
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
        String[] name = names.split(":", -1);
        OptionalInt dev = OptionalInt.empty();
        OptionalInt state = OptionalInt.empty();
        long devConnection = -1;
        long stateConnection = -2;
        for (int i = 0; i < n; i++) {
            int fd = LISTEN_START + i;
            String nm = i < name.length ? name[i] : "";
            if (nm.startsWith(DEV) && dev.isEmpty()) {
                devConnection = parse(nm.substring(DEV.length()));
                dev = OptionalInt.of(fd);
            } else if (nm.startsWith(STATE) && state.isEmpty()) {
                stateConnection = parse(nm.substring(STATE.length()));
                state = OptionalInt.of(fd);
            } else {
                LOG.warn("systemd passed descriptor {} named '{}', which is not fuseguard's; closing it", fd, nm);
                Syscalls.close(fd);
            }
        }
        if (dev.isEmpty() || state.isEmpty() || devConnection != stateConnection || devConnection < 0) {
            if (dev.isPresent() || state.isPresent()) {
                LOG.warn("systemd passed an incomplete pair of fuseguard descriptors ({}); starting afresh", names);
                dev.ifPresent(Syscalls::close);
                state.ifPresent(Syscalls::close);
            }
            return Optional.empty();
        }
        int device = adopt(dev.getAsInt());
        int journal = adopt(state.getAsInt());
        if (device < 0 || journal < 0) {
            if (device >= 0) {
                Syscalls.close(device);
            }
            if (journal >= 0) {
                Syscalls.close(journal);
            }
            return Optional.empty();
        }
        return Optional.of(new Kept(devConnection, device, journal));
    }

    /** A close-on-exec copy of {@code fd} (which is closed): systemd passes descriptors without the flag. */
    private static int adopt(int fd) {
        int copy = Syscalls.dupCloseOnExecAbove(fd, 10);
        Syscalls.close(fd);
        if (copy < 0) {
            LOG.warn("could not take over descriptor {} from systemd: errno {}", fd, -copy);
        }
        return copy;
    }

    private static long parse(String s) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
