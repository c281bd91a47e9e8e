package io.fuseguard.kernel;

import io.fuseguard.internal.status.StatusFiles;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * What a fuseguard daemon published about its connection: the FUSE protocol it negotiated with the kernel, the
 * capabilities it uses, and its fast paths. A mounted daemon writes it to a small JSON file per connection under
 * {@code /run/fuseguard/connections} ({@code $XDG_RUNTIME_DIR/fuseguard/connections} for a user's daemon) and
 * removes it at unmount, so tools such as {@code fuseguard connections} can show it for other processes' mounts.
 *
 * <p>A file is believed only while it matches the live connection: its mount (same connection id and mount source,
 * {@code fuseguard:PID:NAME}), or, for a connection not mounted in this mount namespace, its daemon process (same
 * pid and start time). A daemon killed with SIGKILL leaves its file behind; such a file describes nothing live and
 * is ignored (and removed by the next daemon that publishes). Daemons in a container with their own {@code /run}
 * publish there, out of the host's sight.
 *
 * @param connectionId  the connection id (as in {@code /sys/fs/fuse/connections})
 * @param daemonPid     the daemon's pid, in its own pid namespace
 * @param daemonStartTime the daemon's start ({@code /proc/PID/stat} field 22, clock ticks since boot): a pid reused by
 *                      another process does not match it
 * @param source        the mount source it mounted with ({@code fuseguard:PID:NAME})
 * @param mountPoint    its mount point, as the daemon saw it
 * @param protocolMinor the protocol minor in use (7.{@code protocolMinor})
 * @param kernelMinor   the minor the kernel offered
 * @param capabilities  the INIT capabilities in use (libfuse's names, lower case)
 * @param offeredUnused the capabilities the kernel offered that the mount does not use
 * @param passthrough   FUSE passthrough: {@code on}, or why not
 * @param writebackCache whether the kernel's writeback cache is on
 * @param readdirPlus   whether listings carry attributes
 * @param cloneFd       whether each request thread reads its own device clone
 * @param ioUring       whether requests come over io_uring (the ring is serving, not only negotiated)
 */
public record ConnectionStatus(long connectionId, long daemonPid, long daemonStartTime, String source,
                               String mountPoint,
                               int protocolMinor, int kernelMinor, List<String> capabilities,
                               List<String> offeredUnused, String passthrough, boolean writebackCache,
                               boolean readdirPlus, boolean cloneFd, boolean ioUring) {

    /**
     * Copies the lists.
     *
     * @param connectionId see the record description
     * @param daemonPid see the record description
     * @param daemonStartTime see the record description
     * @param source see the record description
     * @param mountPoint see the record description
     * @param protocolMinor see the record description
     * @param kernelMinor see the record description
     * @param capabilities see the record description
     * @param offeredUnused see the record description
     * @param passthrough see the record description
     * @param writebackCache see the record description
     * @param readdirPlus see the record description
     * @param cloneFd see the record description
     * @param ioUring see the record description
     */
    public ConnectionStatus {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(mountPoint, "mountPoint");
        Objects.requireNonNull(passthrough, "passthrough");
        capabilities = List.copyOf(capabilities);
        offeredUnused = List.copyOf(offeredUnused);
    }

    /** The protocol in use, {@code 7.45}. */
    public String protocol() {
        return "7." + protocolMinor;
    }

    /**
     * One line: {@code 7.45 (kernel 7.45); passthrough on; using a, b, c} (and the optional fast paths that are
     * on).
     *
     * @return the line
     */
    public String describe() {
        List<String> extra = new ArrayList<>();
        if (writebackCache) {
            extra.add("writeback cache");
        }
        if (readdirPlus) {
            extra.add("readdirplus");
        }
        if (cloneFd) {
            extra.add("a device clone per request thread");
        }
        if (ioUring) {
            extra.add("io_uring");
        }
        return protocol() + " (kernel 7." + kernelMinor + "); passthrough " + passthrough
                + (extra.isEmpty() ? "" : "; " + String.join(", ", extra)) + "; using "
                + (capabilities.isEmpty() ? "nothing optional" : String.join(", ", capabilities));
    }

    /**
     * The status the daemon of {@code c} published, if it is a fuseguard daemon that did and the file matches the
     * live connection.
     *
     * @param c a connection of {@link ConnectionReport#scan()}
     * @return its status, or empty
     */
    public static Optional<ConnectionStatus> of(ConnectionReport.Connection c) {
        for (Path dir : StatusFiles.readDirectories()) {
            Optional<ConnectionStatus> s = StatusFiles.read(StatusFiles.file(dir, c.id()))
                    .flatMap(ConnectionStatus::from);
            if (s.isPresent() && s.get().connectionId() == c.id() && matches(s.get(), c)) {
                return s;
            }
        }
        return Optional.empty();
    }

    private static boolean matches(ConnectionStatus s, ConnectionReport.Connection c) {
        if (c.mount().isPresent()) {
            return c.mount().get().source().equals(s.source());
        }
        // Not mounted here (another mount namespace, or detached): the daemon that wrote it must be alive.
        return s.daemonStartTime() >= 0 && StatusFiles.startTime(s.daemonPid()) == s.daemonStartTime();
    }

    private static Optional<ConnectionStatus> from(Map<String, Object> m) {
        try {
            @SuppressWarnings("unchecked")
            Map<String, Object> p = (Map<String, Object>) m.get("protocol");
            @SuppressWarnings("unchecked")
            Map<String, Object> fast = (Map<String, Object>) m.get("fastPaths");
            return Optional.of(new ConnectionStatus(number(m, "connection"), number(m, "pid"),
                    number(m, "startTime"), (String) m.get("source"), (String) m.get("mountPoint"), (int) number(p, "minor"),
                    (int) number(p, "kernelMinor"), strings(p.get("used")), strings(p.get("offeredUnused")),
                    (String) fast.get("passthrough"), Boolean.TRUE.equals(fast.get("writebackCache")),
                    Boolean.TRUE.equals(fast.get("readdirPlus")), Boolean.TRUE.equals(fast.get("cloneFd")),
                    Boolean.TRUE.equals(fast.get("ioUring"))));
        } catch (RuntimeException e) {
            return Optional.empty(); // not what this version writes
        }
    }

    private static long number(Map<String, Object> m, String key) {
        return (Long) Objects.requireNonNull(m.get(key), key);
    }

    private static List<String> strings(Object o) {
        List<String> out = new ArrayList<>();
        for (Object e : (List<?>) o) {
            out.add((String) e);
        }
        return out;
    }
}
