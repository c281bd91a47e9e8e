package io.fuseguard.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

import io.fuseguard.kernel.AbortResult;
import io.fuseguard.kernel.Aborter;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.kernel.TaskInfo;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code fuseguard abort MOUNTPOINT|ID}: aborts a FUSE connection through {@code fusectl},
 * releasing every task stuck on it, and reports which tasks were released.
 *
 * <p>The target is looked up in {@code /proc/self/mountinfo} (a mount point is never accessed).
 * {@code fusectl} is mounted first if needed (root). Exit codes: 0 aborted (and unmounted with
 * {@code --unmount}); 1 the abort or unmount failed; 2 unknown mount point or connection id, or bad
 * usage.
 */
@Command(name = "abort", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {
            "Abort a FUSE connection: every pending request fails with ECONNABORTED, tasks stuck on"
                    + " the daemon (even in uninterruptible sleep) are released, and later requests"
                    + " fail with ENOTCONN.",
            "Never touches the mount point itself, so it works on a wedged mount."})
public final class AbortCommand implements Callable<Integer> {

    /** Exit code for an unknown mount point or connection id. */
    public static final int EXIT_UNKNOWN_TARGET = 2;

    /** Exit code when the abort or the unmount failed. */
    public static final int EXIT_FAILED = 1;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "MOUNTPOINT|ID",
            description = "The FUSE mount point, or the connection id shown by 'fuseguard connections'.")
    String target;

    @Option(names = "--unmount", description = "Also detach the mount afterwards (umount -l).")
    boolean unmount;

    /** Creates the command (picocli fills in the parameters). */
    public AbortCommand() {
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try {
            return run(out, err);
        } finally {
            out.flush();
            err.flush();
        }
    }

    private int run(PrintWriter out, PrintWriter err) {
        MountTable table;
        try {
            table = MountTable.load();
        } catch (IOException e) {
            err.println("fuseguard: cannot read the mount table: " + e.getMessage());
            return EXIT_FAILED;
        }
        String trimmed = target.trim();
        boolean numeric = !trimmed.isEmpty() && trimmed.length() < 19
                && trimmed.chars().allMatch(Character::isDigit);
        Optional<MountEntry> byPath = mountAt(table, target);
        if (!numeric && byPath.isEmpty()) {
            err.println("fuseguard: " + target + " is not a FUSE mount point (see 'fuseguard connections')");
            return EXIT_UNKNOWN_TARGET;
        }
        try {
            FuseControl.ensureMounted();
        } catch (IOException e) {
            err.println("fuseguard: " + e.getMessage());
            return EXIT_FAILED;
        }
        FuseControl control = new FuseControl();

        long id;
        Optional<MountEntry> mount;
        if (numeric && control.exists(Long.parseLong(trimmed))) {
            id = Long.parseLong(trimmed);
            mount = table.findByConnection(id);
        } else if (byPath.isPresent()) {
            mount = byPath;
            id = byPath.get().connectionId();
            if (!control.exists(id)) {
                err.println("fuseguard: " + target + " is a FUSE mount, but its connection " + id
                        + " is not listed in " + control.dir());
                return EXIT_FAILED;
            }
        } else if (numeric) {
            err.println("fuseguard: no FUSE connection " + trimmed + " (see 'fuseguard connections')");
            return EXIT_UNKNOWN_TARGET;
        } else {
            err.println("fuseguard: " + target + " is not a FUSE mount point (see 'fuseguard connections')");
            return EXIT_UNKNOWN_TARGET;
        }

        String refusal = permissionProblem(control, id);
        if (refusal != null) {
            err.println("fuseguard: " + refusal);
            return EXIT_FAILED;
        }
        AbortResult result;
        try {
            result = Aborter.abort(control, id, Aborter.DEFAULT_TIMEOUT);
        } catch (IOException e) {
            err.println("fuseguard: cannot abort FUSE connection " + id + ": " + e.getMessage());
            return EXIT_FAILED;
        }
        String where = mount.map(m -> " (" + ConnectionsCommand.printable(m.mountPoint().toString()) + ")")
                .orElse("");
        out.println("Aborted FUSE connection " + id + where + "; "
                + result.waitingBefore().orElse(0) + " request(s) were pending.");
        if (result.released().isEmpty() && result.stillWaiting().isEmpty()) {
            out.println("No task was waiting in FUSE.");
        }
        if (!result.released().isEmpty()) {
            // A task is known to wait in FUSE, not on which connection: one waiting on another mount that got its
            // answer meanwhile is listed here too, hence the wording.
            out.println("Released (no longer waiting in FUSE; a task waiting on another connection that was "
                    + "answered meanwhile shows here too):");
            result.released().forEach(t -> out.println("  " + describe(t, true)));
        }
        if (!result.stillWaiting().isEmpty()) {
            out.println("Still waiting in FUSE after " + result.elapsed().toMillis()
                    + " ms (possibly on another connection):");
            result.stillWaiting().forEach(t -> out.println("  " + describe(t, false)));
        }

        if (unmount) {
            if (mount.isEmpty()) {
                out.println("Nothing to unmount: connection " + id + " has no mount point in this mount namespace.");
                return 0;
            }
            Path mp = mount.get().mountPoint();
            String failure = lazyUnmount(mp);
            if (failure != null) {
                err.println("fuseguard: aborted, but could not unmount " + mp + ": " + failure);
                return EXIT_FAILED;
            }
            out.println("Unmounted " + ConnectionsCommand.printable(mp.toString()) + " (lazily).");
        }
        return 0;
    }

    /**
     * Why this process may not abort connection {@code id}, or null if it may: fusectl lets root abort any
     * connection and a user only the connections of their own mounts (the kernel gives each connection's files
     * to the mount's owner).
     */
    static String permissionProblem(FuseControl control, long id) {
        long me = new com.sun.security.auth.module.UnixSystem().getUid();
        if (me == 0) {
            return null;
        }
        try {
            Object owner = java.nio.file.Files.getAttribute(control.dir().resolve(Long.toString(id)), "unix:uid");
            long uid = ((Number) owner).longValue();
            if (uid == me) {
                return null;
            }
            return "aborting FUSE connection " + id + " needs root: it belongs to the mount of uid " + uid
                    + ", and a user may abort only the connections of their own mounts (run as root: sudo "
                    + "fuseguard abort " + id + ")";
        } catch (IOException | UnsupportedOperationException e) {
            return "aborting FUSE connection " + id + " needs root (" + e.getMessage() + ")";
        }
    }

    /** The FUSE mount at {@code target}, compared textually (the path is never accessed). */
    private static Optional<MountEntry> mountAt(MountTable table, String target) {
        if (target.isEmpty()) {
            return Optional.empty();
        }
        try {
            return table.findByMountPoint(Paths.get(target)).filter(MountEntry::isFuse);
        } catch (InvalidPathException e) {
            return Optional.empty();
        }
    }

    private static String describe(TaskInfo t, boolean past) {
        String where = "state " + t.state() + t.topFunction().map(f -> " in " + f).orElse("");
        return "pid " + t.pid() + " tid " + t.tid() + " " + ConnectionsCommand.printable(t.comm())
                + (past ? " (was " + where + ")" : " (" + where + ")");
    }

    /**
     * Runs {@code umount -l}, falling back to {@code fusermount -u -z}. A lazy unmount only
     * detaches the mount: it never waits for the (aborted) daemon.
     *
     * @return {@code null} on success, else a description of the failure
     */
    private static String lazyUnmount(Path mountPoint) {
        List<String> failures = new ArrayList<>();
        for (List<String> cmd : List.of(List.of("umount", "-l", mountPoint.toString()),
                List.of("fusermount", "-u", "-z", mountPoint.toString()))) {
            if (!stillMounted(mountPoint)) {
                return null; // its daemon (or someone) unmounted it after the abort
            }
            try {
                Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
                p.getOutputStream().close();
                if (!p.waitFor(10, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    failures.add(String.join(" ", cmd) + ": timed out");
                    continue;
                }
                String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                if (p.exitValue() == 0) {
                    return null;
                }
                failures.add(String.join(" ", cmd) + ": exit " + p.exitValue()
                        + (output.isEmpty() ? "" : " (" + output + ")"));
            } catch (IOException e) {
                failures.add(String.join(" ", cmd) + ": " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "interrupted";
            }
        }
        return stillMounted(mountPoint) ? String.join("; ", failures) : null;
    }

    private static boolean stillMounted(Path mountPoint) {
        try {
            return MountTable.load().findByMountPoint(mountPoint).isPresent();
        } catch (IOException e) {
            return true;
        }
    }
}
