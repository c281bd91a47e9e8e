package io.fuseguard.testkit;

import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.kernel.TaskInfo;
import io.fuseguard.kernel.Tasks;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * What the edge tests share: the preconditions (FUSE, root, python3, gcc: skipped with the reason, a failure
 * under {@code FUSEGUARD_REQUIRE_FUSE=true}), the helper programs, child JVMs, and the checks and clean-ups around real mounts that
 * must never leave a dead mount or a process in D state behind.
 */
public final class Edges {
    private static Path scratch;

    private Edges() {
    }

    /** FUSE usable and running as root (umount, fusectl, namespaces); skips with the reason, fails when FUSE is required (FUSEGUARD_REQUIRE_FUSE=true). */
    public static void assumeFuseAndRoot() {
        FuseAvailability.assumeUsable();
        if (!"0".equals(uid())) {
            unusable("these tests need root (mount namespaces, fusectl, umount), uid is " + uid());
        }
    }

    private static String uid() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (l.startsWith("Uid:")) {
                    return l.substring(4).trim().split("\\s+")[1];
                }
            }
        } catch (IOException e) {
            return "?";
        }
        return "?";
    }

    public static void unusable(String why) {
        if (FuseAvailability.required()) {
            throw new AssertionError(FuseAvailability.REQUIRE_ENV + "=true but " + why);
        }
        Assumptions.abort("skipped: " + why);
    }

    /** A python3 interpreter (the system one first: pyenv shims take a second to start). */
    public static String python() {
        for (String p : List.of("/usr/bin/python3", "/usr/local/bin/python3")) {
            if (Files.isExecutable(Path.of(p))) {
                return p;
            }
        }
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "python3"))) {
                return Path.of(dir, "python3").toString();
            }
        }
        unusable("python3 is not installed (the scripted client needs it)");
        return null;
    }

    /** A per-JVM scratch directory (helper programs, mount points). */
    public static synchronized Path scratch() {
        if (scratch == null) {
            try {
                scratch = Files.createTempDirectory(FuseTestSupport.tmpBase(), "edges-");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return scratch;
    }

    /** A fresh empty directory. */
    public static Path newDir(String prefix) throws IOException {
        return Files.createTempDirectory(scratch(), prefix);
    }

    /** A resource of this package, copied to the scratch directory. */
    public static synchronized Path resource(String name) {
        Path p = scratch().resolve(name);
        if (!Files.exists(p)) {
            try (InputStream in = Edges.class.getResourceAsStream(name)) {
                if (in == null) {
                    throw new IllegalStateException("missing test resource " + name);
                }
                Files.copy(in, p);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return p;
    }

    /** The compiled {@code sigcall} program (one system call interrupted by SIGALRM, no SA_RESTART). */
    public static Path sigcall() throws IOException, InterruptedException {
        return compiled("sigcall");
    }

    /**
     * A small C program of this package's resources ({@code NAME.c}), compiled once per JVM into the scratch
     * directory.
     */
    public static synchronized Path compiled(String name) throws IOException, InterruptedException {
        Path out = scratch().resolve(name);
        if (!Files.isExecutable(out)) {
            if (!Files.isExecutable(Path.of("/usr/bin/gcc")) && !Files.isExecutable(Path.of("/usr/bin/cc"))) {
                unusable("gcc is not installed (the test's caller is a small C program)");
            }
            Child.Result r = Child.run(Duration.ofSeconds(60),
                    Files.isExecutable(Path.of("/usr/bin/gcc")) ? "/usr/bin/gcc" : "/usr/bin/cc", "-O1", "-o",
                    out.toString(), resource(name + ".c").toString());
            r.assertOk();
        }
        return out;
    }

    /** The command line of a child JVM running {@code main} with this JVM's (test) class path. */
    public static List<String> java(Class<?> main, String... args) {
        return java(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"), main, args);
    }

    /** The command line of a child JVM with these JVM options. */
    public static List<String> java(List<String> jvmOptions, Class<?> main, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** The mount table entry at {@code mp}, read from mountinfo (never touches the mount). */
    public static Optional<MountEntry> mountAt(Path mp) throws IOException {
        return MountTable.load().findByMountPoint(mp);
    }

    /** Every mount of connection {@code id} in this mount namespace. */
    public static List<MountEntry> mountsOf(long id) throws IOException {
        return MountTable.load().allByConnection(id);
    }

    /** Whether fusectl lists connection {@code id}. */
    public static boolean connectionExists(long id) {
        return new FuseControl().exists(id);
    }

    /**
     * Takes down whatever is still mounted at {@code mp} (a test that failed half-way): aborts its connection
     * through fusectl, then detaches it lazily. Never stats the mount.
     */
    public static void forceUnmount(Path mp) {
        try {
            Optional<MountEntry> e = mountAt(mp);
            if (e.isEmpty()) {
                return;
            }
            System.err.println("edges: cleaning up a mount left at " + mp + " (connection "
                    + e.get().connectionId() + ")");
            FuseControl.ensureMounted();
            FuseControl c = new FuseControl();
            if (c.exists(e.get().connectionId())) {
                c.abort(e.get().connectionId());
            }
            Child.run(Duration.ofSeconds(10), "umount", "-l", e.get().mountPoint().toString());
        } catch (IOException ex) {
            System.err.println("edges: clean-up of " + mp + " failed: " + ex);
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Processes (pid and command) whose mount table holds a mount of connection {@code id}: a copy in another mount
     * namespace (any {@code unshare --mount} started while the mount existed, by this test or anybody else on the
     * machine, keeps the connection alive after the unmount). Reads /proc/PID/mountinfo only.
     */
    public static List<String> mountNamespaceCopies(long id) {
        List<String> out = new ArrayList<>();
        String dev = " " + (id >>> 20) + ":" + (id & 0xFFFFF) + " ";
        for (int pid : allPids()) {
            try {
                for (String l : Files.readAllLines(Path.of("/proc", Integer.toString(pid), "mountinfo"))) {
                    if (l.contains(dev) && l.contains(" - fuse")) {
                        out.add(pid + " (" + Files.readString(Path.of("/proc", Integer.toString(pid), "comm")).trim()
                                + ")");
                        break;
                    }
                }
            } catch (IOException | RuntimeException e) {
                // gone
            }
        }
        return out;
    }

    private static List<Integer> allPids() {
        List<Integer> pids = new ArrayList<>();
        try (var s = Files.list(Path.of("/proc"))) {
            s.map(p -> p.getFileName().toString()).filter(n -> n.matches("\\d+")).forEach(n -> pids.add(
                    Integer.parseInt(n)));
        } catch (IOException e) {
            // none
        }
        return pids;
    }

    /**
     * Asserts that connection {@code id} ended: it disappears from fusectl within a short while, unless another
     * mount namespace holds a copy of the mount (then it must have nothing waiting: it was aborted, nobody is left
     * waiting on it; the copy is printed).
     */
    public static void assertConnectionEnded(long id) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (connectionExists(id) && System.nanoTime() < end) {
            Thread.sleep(20);
        }
        if (!connectionExists(id)) {
            return;
        }
        List<String> copies = mountNamespaceCopies(id);
        if (copies.isEmpty()) {
            throw new AssertionError("connection " + id + " still exists and no mount namespace holds a copy");
        }
        System.out.printf("connection %d lives on in other mount namespaces (held by %s): checking it was "
                + "aborted%n", id, copies);
        java.util.OptionalInt waiting = new FuseControl().waiting(id);
        if (waiting.isPresent() && waiting.getAsInt() != 0) {
            throw new AssertionError("connection " + id + ", held by other mount namespaces " + copies + ", has "
                    + waiting.getAsInt() + " requests waiting");
        }
    }

    /** Aborts connection {@code id} if it still exists. */
    public static void abortIfAlive(long id) {
        try {
            FuseControl c = new FuseControl();
            if (id >= 0 && c.exists(id)) {
                c.abort(id);
            }
        } catch (IOException e) {
            System.err.println("edges: abort of connection " + id + " failed: " + e);
        }
    }

    /** Kills a process started by the test (by its pid) and waits for it. */
    public static void kill(Process p) {
        if (p == null) {
            return;
        }
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Sends SIGTERM to one process by pid. */
    public static void sigterm(long pid) throws IOException, InterruptedException {
        Child.run(Duration.ofSeconds(10), "kill", "-TERM", Long.toString(pid)).assertOk();
    }

    /** Tasks of this JVM's descendants in uninterruptible sleep. */
    public static List<String> descendantsInDState() {
        List<String> stuck = new ArrayList<>();
        for (int pid : Tasks.descendants((int) ProcessHandle.current().pid())) {
            for (TaskInfo t : Tasks.threads(pid)) {
                if (t.isUninterruptible()) {
                    stuck.add(t.pid() + "/" + t.tid() + " " + t.comm() + " " + t.wchan() + " "
                            + t.kernelStack().stream().limit(8).toList());
                }
            }
        }
        return stuck;
    }

    /** Milliseconds since {@code t0} (System.nanoTime()). */
    public static long ms(long t0) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    /** The p-th percentile (0-100) of a sample. */
    public static double percentile(List<Double> sample, double p) {
        if (sample.isEmpty()) {
            return Double.NaN;
        }
        List<Double> s = new ArrayList<>(sample);
        s.sort(Double::compare);
        int i = (int) Math.ceil(p / 100.0 * s.size()) - 1;
        return s.get(Math.max(0, Math.min(s.size() - 1, i)));
    }
}
