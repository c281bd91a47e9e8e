package io.fuseguard.kernel;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Who holds {@code /dev/fuse} open, and for which connection: the readers that can answer a connection's
 * requests. Found through {@code /proc/<pid>/fd} (the link names the device) and
 * {@code /proc/<pid>/fdinfo} (since Linux 6.16 its {@code fuse_connection:} line names the connection, see
 * {@link FdInfo}).
 *
 * <p>What a scan relies on, and what it cannot see:
 * <ul>
 *   <li>Every descriptor of every process listed in {@code <proc>} is looked at; a process in a pid
 *       namespace that this {@code /proc} does not show is invisible (run with the host's pid namespace).</li>
 *   <li>A descriptor whose link text does not start with {@code /} (sockets, pipes, anonymous inodes) cannot
 *       be a device node and is skipped; for every other one the {@code fdinfo} is read, so a {@code /dev/fuse}
 *       opened through another name is still found on kernels that print {@code fuse_connection:}.</li>
 *   <li>A {@code /dev/fuse} file referenced by no descriptor (in flight in an {@code SCM_RIGHTS} message,
 *       only registered in an io_uring, or held by an exiting task whose descriptor table is already being
 *       closed) is not seen.</li>
 *   <li>A process whose {@code fd} directory cannot be listed (no permission) makes the scan
 *       {@linkplain Snapshot#complete() incomplete}; so does running out of the time budget.</li>
 * </ul>
 * Only {@code /proc} is read; no descriptor is opened, duplicated or stat'ed.
 */
public final class FuseDeviceHolders {

    private FuseDeviceHolders() {
    }

    /**
     * One descriptor that refers to the FUSE device.
     *
     * @param pid        the holding process
     * @param fd         the descriptor number
     * @param link       the link text ({@code /dev/fuse})
     * @param connection the connection it is attached to, when the kernel says; empty for an unattached
     *                   {@code /dev/fuse} (between {@code open} and {@code mount}) or on kernels older than 6.16
     * @param fdinfoRead whether its {@code fdinfo} could be read (if not, an empty {@code connection} means
     *                   "unknown", not "unattached")
     */
    public record DeviceFd(int pid, int fd, String link, OptionalLong connection, boolean fdinfoRead) {
        /**
         * Validates.
         *
         * @param pid see the record description
         * @param fd see the record description
         * @param link see the record description
         * @param connection see the record description
         * @param fdinfoRead see the record description
         */
        public DeviceFd {
            Objects.requireNonNull(link, "link");
            Objects.requireNonNull(connection, "connection");
        }
    }

    /**
     * The result of a scan.
     *
     * @param fds                     every FUSE device descriptor found
     * @param complete                whether every process could be inspected within the budget
     * @param incompleteReason        why not, {@code ""} when complete
     * @param kernelNamesConnections  whether this kernel prints {@code fuse_connection:} (so an fd without
     *                                it is not attached to any connection)
     * @param processes               processes inspected
     * @param descriptors             descriptors inspected
     * @param elapsed                 time taken
     */
    public record Snapshot(List<DeviceFd> fds, boolean complete, String incompleteReason,
                           boolean kernelNamesConnections, int processes, int descriptors, Duration elapsed) {
        /**
         * Copies the list.
         *
         * @param fds see the record description
         * @param complete see the record description
         * @param incompleteReason see the record description
         * @param kernelNamesConnections see the record description
         * @param processes see the record description
         * @param descriptors see the record description
         * @param elapsed see the record description
         */
        public Snapshot {
            fds = List.copyOf(fds);
            Objects.requireNonNull(incompleteReason, "incompleteReason");
            Objects.requireNonNull(elapsed, "elapsed");
        }

        /**
         * The descriptors attached to a connection.
         *
         * @param connection a connection id
         * @return its descriptors
         */
        public List<DeviceFd> attachedTo(long connection) {
            return fds.stream().filter(d -> d.connection().isPresent() && d.connection().getAsLong() == connection)
                    .toList();
        }

        /**
         * The descriptors that may serve a connection: those attached to it, and those whose connection is
         * unknown (the kernel does not name connections, or their {@code fdinfo} could not be read). On a kernel
         * that names connections, a readable {@code /dev/fuse} descriptor without a name is attached to none.
         *
         * @param connection a connection id
         * @return the descriptors that may serve it
         */
        public List<DeviceFd> mayServe(long connection) {
            return fds.stream().filter(d -> d.connection().isPresent()
                    ? d.connection().getAsLong() == connection
                    : !kernelNamesConnections || !d.fdinfoRead()).toList();
        }
    }

    /** How far a process is from being able to read from its descriptors. */
    public enum Liveness {
        /** At least one thread is neither dead nor exiting: it can still run user code (and read). */
        LIVE,
        /** Every thread that is left is in {@code do_exit()} ({@code PF_EXITING}) or dead. */
        EXITING,
        /** Only a zombie is left. */
        ZOMBIE,
        /** The process does not exist. */
        GONE
    }

    /**
     * Scans {@code <proc>} for FUSE device descriptors.
     *
     * @param proc   the procfs root
     * @param budget the longest the scan may take; past it the scan stops and is incomplete
     * @return what was found
     */
    public static Snapshot scan(Path proc, Duration budget) {
        long t0 = System.nanoTime();
        long deadline = t0 + budget.toNanos();
        List<DeviceFd> found = new ArrayList<>();
        boolean complete = true;
        String reason = "";
        boolean names = kernelPrintsConnection(proc);
        int processes = 0;
        int descriptors = 0;
        for (int pid : ProcFiles.numericEntries(proc)) {
            if (System.nanoTime() - deadline > 0) {
                complete = false;
                reason = "the /proc scan ran out of its " + budget.toMillis() + " ms budget";
                break;
            }
            Path pdir = proc.resolve(Integer.toString(pid));
            Path fdDir = pdir.resolve("fd");
            List<Integer> fds = ProcFiles.numericEntries(fdDir);
            processes++;
            if (fds.isEmpty() && ProcFiles.isUnreadable(fdDir)) {
                complete = false;
                reason = "cannot list " + fdDir + " (not root?)";
                continue;
            }
            for (int fd : fds) {
                descriptors++;
                Optional<String> link = ProcFiles.readLink(fdDir.resolve(Integer.toString(fd)));
                if (link.isEmpty() || !link.get().startsWith("/")) {
                    continue;
                }
                Optional<FdInfo> info = FdInfo.read(proc, pid, fd);
                if (info.isPresent() && info.get().fuseConnection().isPresent()) {
                    names = true;
                    found.add(new DeviceFd(pid, fd, link.get(), info.get().fuseConnection(), true));
                } else if (looksLikeFuseDevice(link.get())) {
                    found.add(new DeviceFd(pid, fd, link.get(), OptionalLong.empty(), info.isPresent()));
                }
            }
        }
        return new Snapshot(found, complete, reason, names, processes, descriptors,
                Duration.ofNanos(System.nanoTime() - t0));
    }

    /**
     * Checks, cheaply, that a descriptor found earlier still refers to the FUSE device and (when it was
     * attributed) to the same connection.
     *
     * @param proc the procfs root
     * @param d    a descriptor from an earlier scan
     * @return {@code true} if it still does
     */
    public static boolean stillHeld(Path proc, DeviceFd d) {
        Optional<String> link = ProcFiles.readLink(proc.resolve(Integer.toString(d.pid())).resolve("fd")
                .resolve(Integer.toString(d.fd())));
        if (link.isEmpty() || !link.get().equals(d.link())) {
            return false;
        }
        if (d.connection().isEmpty()) {
            return true;
        }
        return FdInfo.read(proc, d.pid(), d.fd()).map(i -> i.fuseConnection().equals(d.connection()))
                .orElse(false);
    }

    /**
     * How alive a process is, from the {@code stat} of each of its threads.
     *
     * @param proc the procfs root
     * @param pid  a process
     * @return its liveness
     */
    public static Liveness liveness(Path proc, int pid) {
        Path pdir = proc.resolve(Integer.toString(pid));
        Optional<TaskStat> leader = TaskStat.read(pdir.resolve("stat"));
        if (leader.isEmpty()) {
            return Liveness.GONE;
        }
        boolean anyExiting = false;
        List<Integer> tids = ProcFiles.numericEntries(pdir.resolve("task"));
        if (tids.isEmpty()) {
            // No thread list (vanishing, or a fake /proc without it): judge by the leader.
            TaskStat l = leader.get();
            return l.live() ? Liveness.LIVE : l.dead() ? Liveness.ZOMBIE : Liveness.EXITING;
        }
        for (int tid : tids) {
            Optional<TaskStat> t = TaskStat.read(pdir.resolve("task").resolve(Integer.toString(tid)).resolve("stat"));
            if (t.isEmpty()) {
                continue;
            }
            if (t.get().live()) {
                return Liveness.LIVE;
            }
            if (!t.get().dead()) {
                anyExiting = true;
            }
        }
        return anyExiting ? Liveness.EXITING : Liveness.ZOMBIE;
    }

    /**
     * Whether a link text names the FUSE device: {@code /dev/fuse}, or any path ending in {@code /fuse}
     * (a container's own {@code /dev}, seen from outside it), possibly marked {@code (deleted)}.
     *
     * @param link a link text
     * @return {@code true} if it looks like the FUSE device
     */
    public static boolean looksLikeFuseDevice(String link) {
        String l = link.endsWith(" (deleted)") ? link.substring(0, link.length() - 10) : link;
        return l.equals("/dev/fuse") || l.endsWith("/fuse");
    }

    /** Linux 6.16 and later print {@code fuse_connection:}. */
    private static boolean kernelPrintsConnection(Path proc) {
        return ProcFiles.read(proc.resolve("sys").resolve("kernel").resolve("osrelease"), 256)
                .map(FuseDeviceHolders::atLeast616).orElse(false);
    }

    static boolean atLeast616(String release) {
        String[] parts = release.trim().split("[.\\-+]");
        if (parts.length < 2) {
            return false;
        }
        long major = ProcFiles.parseNonNegative(parts[0]);
        long minor = ProcFiles.parseNonNegative(parts[1]);
        return major > 6 || (major == 6 && minor >= 16);
    }
}
