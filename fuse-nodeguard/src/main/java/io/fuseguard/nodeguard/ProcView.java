package io.fuseguard.nodeguard;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import io.fuseguard.kernel.ProcFiles;

/**
 * Whether a {@code /proc} shows every process of the machine, which the guard's rule relies on: "no live process
 * holds a {@code /dev/fuse} descriptor of the connection" is only evidence when every process is visible. A procfs
 * mounted for a child pid namespace (a container or pod without {@code hostPID}, {@code unshare --pid
 * --mount-proc}) shows only that namespace: a healthy daemon outside it is invisible, and its connection would look
 * wedged. A directory that is no procfs at all ({@code --proc=/tmp}) shows no process.
 *
 * <p>The check: the procfs's pid 1 ({@code <proc>/1/ns/pid}) is in the initial pid namespace
 * ({@code pid:[4026531836]}, the kernel's {@code PROC_PID_INIT_INO}, {@code 0xEFFFFFFC}). A procfs belongs to one
 * pid namespace, and its pid 1 is that namespace's init, so this holds exactly for the initial namespace's procfs.
 * Without the privilege to read pid 1's namespace (not root), {@code <proc>/self/ns/pid} is used: when the reader
 * itself is in the initial pid namespace and visible in that procfs ({@code <proc>/self} resolves), the procfs
 * belongs to the initial namespace too (only a procfs of its own namespace or of an ancestor shows it).
 */
public final class ProcView {
    /** The initial (host's) pid namespace as {@code readlink} prints it: {@code PROC_PID_INIT_INO = 0xEFFFFFFC}. */
    public static final String INIT_PID_NAMESPACE = "pid:[" + 0xEFFFFFFCL + "]";

    /** What to do about it, in the words of the command's options. */
    static final String REMEDY = "run the guard in the host's pid namespace (hostPID: true, or not in a pid"
            + " namespace of its own) or pass --proc pointing at the host's /proc (or, for a sidecar that guards only"
            + " its own Pod's mounts, --own-pid-namespace with --under)";

    private ProcView() {
    }

    /**
     * Why {@code proc} does not show every process of the machine, in one sentence; empty when it does.
     *
     * @param proc the procfs root the guard would read
     * @return the problem, with what to do about it
     */
    public static Optional<String> hostProblem(Path proc) {
        return hostProblem(proc, fsType(proc));
    }

    /**
     * Why {@code proc} is not a procfs in which this process is visible (what a guard scoped to its own pid
     * namespace needs: it then sees its own namespace and those below it); empty when it is.
     *
     * @param proc the procfs root the guard would read
     * @return the problem, or empty
     */
    public static Optional<String> ownNamespaceProblem(Path proc) {
        return ownNamespaceProblem(proc, fsType(proc));
    }

    /**
     * The pid namespace whose processes {@code proc} shows, as far as it can be read.
     *
     * @param proc a procfs root
     * @return {@code pid:[INODE]} of its pid 1 (or, when unreadable, of the reader, if visible there)
     */
    public static Optional<String> namespaceShown(Path proc) {
        return ProcFiles.readLink(proc.resolve("1").resolve("ns").resolve("pid"))
                .or(() -> ProcFiles.readLink(proc.resolve("self").resolve("ns").resolve("pid")));
    }

    static Optional<String> hostProblem(Path proc, Optional<String> fsType) {
        Optional<String> notProc = notProcfs(proc, fsType);
        if (notProc.isPresent()) {
            return notProc;
        }
        Optional<String> init = ProcFiles.readLink(proc.resolve("1").resolve("ns").resolve("pid"));
        if (init.isPresent()) {
            return init.get().equals(INIT_PID_NAMESPACE) ? Optional.empty()
                    : Optional.of(proc + " shows the processes of pid namespace " + init.get() + " (its pid 1's),"
                    + " not the host's (" + INIT_PID_NAMESPACE + "): daemons outside it are invisible and a healthy"
                    + " connection would look wedged; " + REMEDY);
        }
        // pid 1's namespace is unreadable without privilege: the reader's own, if the procfs shows the reader
        Optional<String> self = ProcFiles.readLink(proc.resolve("self").resolve("ns").resolve("pid"));
        if (self.isPresent() && self.get().equals(INIT_PID_NAMESPACE)) {
            return Optional.empty();
        }
        return Optional.of("cannot tell whether " + proc + " shows every process of the machine: "
                + proc.resolve("1/ns/pid") + " is unreadable" + self.map(s -> " and the guard runs in pid namespace "
                + s + ", not the host's (" + INIT_PID_NAMESPACE + ")").orElse(" and " + proc + "/self does not"
                + " show the guard") + "; " + REMEDY);
    }

    static Optional<String> ownNamespaceProblem(Path proc, Optional<String> fsType) {
        Optional<String> notProc = notProcfs(proc, fsType);
        if (notProc.isPresent()) {
            return notProc;
        }
        if (ProcFiles.readLink(proc.resolve("self").resolve("ns").resolve("pid")).isEmpty()) {
            return Optional.of(proc + "/self does not show the guard: " + proc + " is the procfs of a pid namespace"
                    + " the guard is not in, so it may show none of the daemons it should see; pass --proc pointing"
                    + " at a procfs of the guard's own pid namespace (or the host's)");
        }
        return Optional.empty();
    }

    private static Optional<String> notProcfs(Path proc, Optional<String> fsType) {
        if (fsType.isPresent() && !fsType.get().equals("proc")) {
            return Optional.of(proc + " is not a procfs (it is " + fsType.get() + "), so it shows no process and"
                    + " every connection would look unserved; " + REMEDY);
        }
        if (!Files.isDirectory(proc.resolve("1")) && !Files.exists(proc.resolve("self"))) {
            return Optional.of(proc + " is not a procfs (it has neither 1 nor self), so it shows no process and"
                    + " every connection would look unserved; " + REMEDY);
        }
        return Optional.empty();
    }

    private static Optional<String> fsType(Path proc) {
        try {
            return Optional.of(Files.getFileStore(proc).type());
        } catch (IOException | RuntimeException e) {
            return Optional.empty(); // the checks on its entries still apply
        }
    }
}
