package io.fuseguard.kernel;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;

/**
 * Best-effort lookup of the daemon process serving a FUSE mount.
 *
 * <p>The kernel does not record which process serves a connection (the {@code /dev/fuse} file
 * descriptor can be passed around, e.g. by {@code fusermount}), so this is a heuristic, and it
 * says so: when the answer is not certain it returns {@link OptionalInt#empty()} rather than a
 * guess.
 * <ol>
 *   <li>fuseguard daemons mount with {@code fsname=fuseguard:<pid>:<name>}, which appears as the
 *       mount's {@link MountEntry#source() source}: the pid is taken from there (if that process
 *       still exists). The pid is the one the daemon saw, i.e. in its own pid namespace. The
 *       subtype ({@code fuse.fuseguard:<pid>:<name>}: libfuse 2 uses the program name, which
 *       jnr-fuse sets to the fsname) is checked too.</li>
 *   <li>otherwise, if exactly one process on the system holds {@code /dev/fuse} open and exactly
 *       one FUSE connection exists, that process is the daemon.</li>
 * </ol>
 * Only {@code /proc} is read; the mount itself is never touched.
 */
public final class DaemonLocator {

    /** The prefix of the {@code fsname} fuseguard daemons mount with. */
    public static final String FSNAME_PREFIX = "fuseguard:";

    private static final Path DEV_FUSE = Path.of("/dev/fuse");

    private DaemonLocator() {
    }

    /**
     * The fsname a fuseguard daemon with the given pid and name mounts with.
     *
     * @param pid  the daemon's pid
     * @param name the filesystem's name (should not contain spaces or commas)
     * @return {@code fuseguard:<pid>:<name>}
     */
    public static String fsName(long pid, String name) {
        return FSNAME_PREFIX + pid + ":" + Objects.requireNonNull(name, "name");
    }

    /**
     * Extracts the pid from a {@code fuseguard:<pid>:<name>} mount source.
     *
     * @param source a mount source (fsname)
     * @return the pid, or empty if the source is not in that form
     */
    public static OptionalInt parseFsName(String source) {
        if (source == null || !source.startsWith(FSNAME_PREFIX)) {
            return OptionalInt.empty();
        }
        String rest = source.substring(FSNAME_PREFIX.length());
        int colon = rest.indexOf(':');
        String digits = colon < 0 ? rest : rest.substring(0, colon);
        if (digits.isEmpty() || digits.length() > 10 || !digits.chars().allMatch(Character::isDigit)) {
            return OptionalInt.empty();
        }
        long pid = Long.parseLong(digits);
        return pid > 0 && pid <= Integer.MAX_VALUE ? OptionalInt.of((int) pid) : OptionalInt.empty();
    }

    /**
     * The pid of the daemon serving the mount, when it can be told with confidence.
     *
     * @param mount a FUSE mount
     * @return the daemon's pid, or empty when unknown or ambiguous
     */
    public static OptionalInt daemonPid(MountEntry mount) {
        OptionalInt fromName = parseFsName(mount.source());
        if (fromName.isEmpty()) {
            // libfuse 2 also uses the program name (jnr-fuse passes the fsname) as the subtype:
            // fuse.fuseguard:<pid>:<name>
            fromName = parseFsName(mount.subtype());
        }
        if (fromName.isPresent()) {
            return Tasks.stat(fromName.getAsInt()).isPresent() ? fromName : OptionalInt.empty();
        }
        int connections;
        try {
            List<Long> ids = new FuseControl().connectionIds();
            connections = !ids.isEmpty() ? ids.size()
                    : (int) MountTable.load().fuseMounts().stream().mapToLong(MountEntry::connectionId)
                    .distinct().count();
        } catch (IOException e) {
            return OptionalInt.empty();
        }
        if (connections != 1) {
            return OptionalInt.empty();
        }
        Holders holders = devFuseHolders(Tasks.PROC);
        if (holders.complete && holders.pids.size() == 1) {
            return OptionalInt.of(holders.pids.get(0));
        }
        return OptionalInt.empty();
    }

    /**
     * The processes that hold {@code /dev/fuse} open (FUSE daemons, and {@code fusermount} while
     * it mounts). Without root, other users' processes cannot be inspected and are missing.
     *
     * @return their pids, ascending
     */
    public static List<Integer> devFuseHolders() {
        return devFuseHolders(Tasks.PROC).pids;
    }

    private record Holders(List<Integer> pids, boolean complete) {
    }

    private static Holders devFuseHolders(Path proc) {
        List<Integer> pids = new ArrayList<>();
        boolean complete = true;
        for (int pid : Tasks.numericEntries(proc)) {
            Path fdDir = proc.resolve(Integer.toString(pid)).resolve("fd");
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(fdDir)) {
                for (Path fd : ds) {
                    try {
                        if (Files.readSymbolicLink(fd).equals(DEV_FUSE)) {
                            pids.add(pid);
                            break;
                        }
                    } catch (IOException | RuntimeException e) {
                        // fd closed meanwhile
                    }
                }
            } catch (AccessDeniedException e) {
                complete = false;
            } catch (IOException | RuntimeException e) {
                // process vanished
            }
        }
        Collections.sort(pids);
        return new Holders(List.copyOf(pids), complete);
    }
}
