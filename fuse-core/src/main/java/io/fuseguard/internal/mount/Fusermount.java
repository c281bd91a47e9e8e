package io.fuseguard.internal.mount;

import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.mount.MountException;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The setuid helper that mounts for users who may not ({@code fusermount3} from libfuse 3, or libfuse 2's
 * {@code fusermount}), spoken to as libfuse does: the helper gets one end of a Unix socket pair as
 * {@code _FUSE_COMMFD}, mounts, and sends the {@code /dev/fuse} descriptor back over it ({@code SCM_RIGHTS}).
 * With {@code auto_unmount} it stays behind and unmounts once the socket's other end closes. It is started with
 * nothing of this JVM but that socket (and its output captured in memory), so a helper that outlives the mount
 * holds none of the JVM's files.
 */
public final class Fusermount {
    private static final Log LOG = Log.of(Fusermount.class);
    /** The helper's names, preferred first: libfuse 3's, then libfuse 2's. */
    public static final List<String> NAMES = List.of("fusermount3", "fusermount");
    /** Where distributions install it, searched after PATH. */
    private static final List<String> DIRECTORIES = List.of("/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin",
            "/sbin");
    private static final int ECHILD = 10;
    /** The child descriptor the socket gets (0-2 are its standard streams). */
    private static final int CHILD_SOCKET = 3;

    private Fusermount() {
    }

    /**
     * The helper to use: {@code fusermount3}, else {@code fusermount}, each looked for on PATH first, then in the
     * usual directories.
     */
    public static Optional<Path> locate() {
        Set<String> dirs = new LinkedHashSet<>();
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!d.isEmpty()) {
                dirs.add(d);
            }
        }
        for (List<String> where : List.of(List.copyOf(dirs), DIRECTORIES)) {
            for (String name : NAMES) {
                for (String d : where) {
                    Path p = Path.of(d, name);
                    if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                        return Optional.of(p.toAbsolutePath());
                    }
                }
            }
        }
        return Optional.empty();
    }

    /** The exception for a mount that needs the helper where none is installed. */
    static MountException missing(String why) {
        return new MountException(MountException.Reason.FUSERMOUNT_MISSING, why + ", and neither fusermount3 nor "
                + "fusermount was found (on PATH or in /usr/bin, /bin): install the fuse3 package (Debian/Ubuntu: "
                + "apt-get install fuse3; Fedora: dnf install fuse3)");
    }

    /**
     * Mounts through the helper and returns the descriptor it sent. Without {@code auto_unmount} the helper has
     * exited when this returns; with it, it waits on the socket the returned device keeps.
     *
     * @throws MountException with the helper's own words when it refused
     */
    static MountedDevice mount(Path program, Path mountPoint, MountRequest request, Duration timeout) {
        List<String> dropped = new ArrayList<>();
        String options = request.fusermountOptions(dropped);
        if (!dropped.isEmpty()) {
            LOG.warn("{}: mount options {} are not passed to {} (it refuses them); the kernel's defaults apply",
                    mountPoint, dropped, program.getFileName());
        }
        if (request.autoUnmount() && Syscalls.getuid() != 0 && !request.parameters().contains("allow_other")) {
            warnIfCannotAutoUnmount(program, mountPoint);
        }
        int[] socket = new int[2];
        int r = Syscalls.socketPair(socket);
        if (r < 0) {
            throw new MountException(MountException.Reason.MOUNT_FAILED, "socketpair for " + program + " failed: "
                    + DirectMount.describe(-r));
        }
        int output = Syscalls.memfd("fusermount-output");
        int pid = -1;
        int ours = socket[0];
        boolean keep = false;
        try {
            List<String> env = new ArrayList<>();
            for (Map.Entry<String, String> e : System.getenv().entrySet()) {
                if (!e.getKey().equals("_FUSE_COMMFD")) {
                    env.add(e.getKey() + "=" + e.getValue());
                }
            }
            env.add("_FUSE_COMMFD=" + CHILD_SOCKET);
            List<String> argv = List.of(program.toString(), "-o", options, "--", mountPoint.toString());
            pid = Syscalls.spawn(program.toString(), argv, env, new int[] {-1, output, output, socket[1]});
            Syscalls.close(socket[1]);
            socket[1] = -1;
            if (pid < 0) {
                throw new MountException(MountException.Reason.MOUNT_FAILED, "cannot start " + program + ": "
                        + DirectMount.describe(-pid));
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            int ready;
            do {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                ready = left <= 0 ? 0 : Syscalls.poll(ours, 1 /* POLLIN */, (int) Math.min(left, Integer.MAX_VALUE));
            } while (ready == -Syscalls.EINTR);
            if (ready == 0) {
                Syscalls.kill(pid, 9);
                reap(pid, 2000);
                pid = -1;
                throw new MountException(MountException.Reason.MOUNT_FAILED, program.getFileName() + " did not mount "
                        + mountPoint + " within " + timeout.toMillis() + " ms" + said(output));
            }
            int dev = Syscalls.receiveDescriptor(ours);
            if (dev < 0) {
                Integer status = reap(pid, 5000);
                pid = -1;
                throw refused(program, mountPoint, output, status, dev);
            }
            for (String line : lines(output)) {
                LOG.warn("{}: {}", mountPoint, line); // e.g. "unsafe option suid ignored"
            }
            if (!request.autoUnmount()) {
                reap(pid, 5000);
                return new MountedDevice(dev, program.toString(), -1, -1);
            }
            // Closed after the device at exit (descriptors close in ascending order): the helper then finds the
            // connection already ended (ENOTCONN) and unmounts, instead of racing a still-open device.
            int high = Syscalls.dupCloseOnExecAbove(ours, dev + 1);
            if (high >= 0) {
                Syscalls.close(ours);
                ours = high;
            }
            keep = true;
            return new MountedDevice(dev, program.toString(), ours, pid);
        } finally {
            if (socket[1] >= 0) {
                Syscalls.close(socket[1]);
            }
            if (!keep) {
                Syscalls.close(ours);
            }
            if (output >= 0) {
                Syscalls.close(output);
            }
        }
    }

    /**
     * fusermount3 before 3.15 checks the dead mount as root before it unmounts, and a user's mount without
     * allow_other refuses root (EACCES, where it looks for ENOTCONN): it leaves the dead mount in place.
     */
    private static void warnIfCannotAutoUnmount(Path program, Path mountPoint) {
        int[] v = version(program);
        if (v != null && v[0] == 3 && v[1] < 15) {
            LOG.warn("{}: {} {}.{} cannot auto_unmount this mount when the daemon dies: it checks the dead mount as "
                    + "root, which a mount without allow_other refuses (fixed in fusermount3 3.15), and leaves it "
                    + "answering ENOTCONN; upgrade fuse3, or add allow_other (user_allow_other in /etc/fuse.conf)",
                    mountPoint, program.getFileName(), v[0], v[1]);
        }
    }

    /** The helper's version from {@code -V} ({@code fusermount3 version: 3.14.0}): major and minor, or null. */
    static int[] version(Path program) {
        try {
            Process p = new ProcessBuilder(program.toString(), "-V").redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return null;
            }
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("version:? (\\d+)\\.(\\d+)")
                    .matcher(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
            return m.find() ? new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))} : null;
        } catch (IOException | RuntimeException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private static MountException refused(Path program, Path mountPoint, int output, Integer status, int receive) {
        String words = String.join("; ", lines(output));
        String exit = status == null ? "still running" : status == -1 ? "exit status unknown"
                : (status & 0x7f) == 0 ? "exit code " + ((status >> 8) & 0xff) : "killed by signal " + (status & 0x7f);
        boolean option = words.contains("unknown option") || words.contains("only allowed if")
                || words.contains("is privileged");
        String hint = "";
        if (words.contains("Operation not permitted") && !setuidRoot(program)) {
            hint = " (" + program + " is not setuid root: reinstall its package)";
        }
        return new MountException(option ? MountException.Reason.OPTION_REJECTED
                : MountException.Reason.MOUNT_FAILED, program.getFileName() + " could not mount " + mountPoint + ": "
                + (words.isEmpty() ? "it sent no descriptor" + (receive == Syscalls.END_OF_STREAM ? ""
                : " (" + DirectMount.describe(-receive) + ")") : words) + " (" + exit + ")" + hint);
    }

    private static boolean setuidRoot(Path program) {
        try {
            int mode = (Integer) Files.getAttribute(program, "unix:mode");
            int uid = (Integer) Files.getAttribute(program, "unix:uid");
            return (mode & 04000) != 0 && uid == 0;
        } catch (IOException | RuntimeException e) {
            return true; // cannot tell: no hint rather than a wrong one
        }
    }

    private static String said(int output) {
        List<String> l = lines(output);
        return l.isEmpty() ? "" : " (it said: " + String.join("; ", l) + ")";
    }

    private static List<String> lines(int output) {
        List<String> out = new ArrayList<>();
        if (output < 0) {
            return out;
        }
        for (String l : new String(Syscalls.readAll(output, 16384), StandardCharsets.UTF_8).split("\n")) {
            if (!l.isBlank()) {
                out.add(l.trim());
            }
        }
        return out;
    }

    /**
     * Waits up to {@code millis} for a child started here to exit and reaps it: its wait status, -1 when it is
     * gone without a status (reaped already, or SIGCHLD is ignored in this process), or null when it is still
     * running.
     */
    static Integer reap(int pid, long millis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (true) {
            int s = Syscalls.waitpid(pid, true);
            if (s >= 0) {
                return s;
            }
            if (s == -ECHILD) {
                return -1;
            }
            if (s != -Syscalls.EAGAIN || System.nanoTime() > deadline) {
                return null;
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return null;
            }
        }
    }

    /**
     * Unmounts with {@code fusermount3 -u} (or {@code fusermount -u}), {@code -z} for a lazy unmount: empty on
     * success, otherwise what went wrong.
     */
    public static Optional<String> unmount(Path mountPoint, boolean lazy) {
        Optional<Path> program = locate();
        if (program.isEmpty()) {
            return Optional.of("neither fusermount3 nor fusermount is installed (package fuse3)");
        }
        List<String> cmd = new ArrayList<>(List.of(program.get().toString(), "-u"));
        if (lazy) {
            cmd.add("-z");
        }
        cmd.addAll(List.of("--", mountPoint.toString()));
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(
                    new java.io.File("/dev/null"))).start();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return Optional.of(program.get().getFileName() + " -u did not finish in 5 s");
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            return p.exitValue() == 0 ? Optional.empty() : Optional.of(out.isEmpty() ? program.get().getFileName()
                    + " -u exited with " + p.exitValue() : out);
        } catch (IOException e) {
            return Optional.of("cannot run " + program.get() + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.of("interrupted while " + program.get().getFileName() + " -u ran");
        }
    }
}
