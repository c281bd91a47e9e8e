package io.fuseguard.kernel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;

/**
 * The FUSE control filesystem ({@code fusectl}), normally mounted at
 * {@code /sys/fs/fuse/connections}.
 *
 * <p>Every FUSE connection has a directory there, named by its device number (see
 * {@link MountEntry#connectionId()}), holding {@code waiting} (requests queued or being
 * processed) and {@code abort} (writing to it ends every pending request with
 * {@code ECONNABORTED}; later requests fail with {@code ENOTCONN}). Neither touches the FUSE
 * daemon, so both are safe on a wedged connection: aborting is <em>the</em> way to free tasks stuck
 * in uninterruptible sleep on a dead daemon.
 *
 * <p>Instances are immutable; the default instance reads {@link #DEFAULT_DIR}, tests may point
 * one at a fake directory.
 */
public final class FuseControl {

    /** Where {@code fusectl} is mounted by convention (and by systemd). */
    public static final Path DEFAULT_DIR = Paths.get("/sys/fs/fuse/connections");

    private static final io.fuseguard.internal.log.Log LOG = io.fuseguard.internal.log.Log.of(FuseControl.class);

    private final Path dir;

    /** A control over {@link #DEFAULT_DIR}. */
    public FuseControl() {
        this(DEFAULT_DIR);
    }

    /**
     * A control over the given directory (for tests, or a {@code fusectl} mounted elsewhere).
     *
     * @param dir the directory holding the connection directories
     */
    public FuseControl(Path dir) {
        this.dir = Objects.requireNonNull(dir, "dir");
    }

    /**
     * The directory this control reads.
     *
     * @return the connections directory
     */
    public Path dir() {
        return dir;
    }

    /**
     * Whether {@code fusectl} is mounted at {@link #DEFAULT_DIR} (according to
     * {@code /proc/self/mountinfo}).
     *
     * @return {@code true} if mounted; {@code false} also when the mount table is unreadable
     */
    public static boolean isMounted() {
        try {
            return MountTable.load().isMounted(DEFAULT_DIR, "fusectl");
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Makes sure {@code fusectl} is mounted at {@link #DEFAULT_DIR}, mounting it (with
     * {@code mount -t fusectl none /sys/fs/fuse/connections}) if it is not.
     *
     * @throws IOException if it is not mounted and cannot be mounted (not root, no {@code fuse}
     *                     kernel module, read-only {@code /sys} in a container, ...); the message
     *                     says what to do
     */
    public static void ensureMounted() throws IOException {
        if (isMounted()) {
            return;
        }
        String manual = "mount -t fusectl none " + DEFAULT_DIR;
        if (!isRoot()) {
            throw new IOException("the FUSE control filesystem is not mounted at " + DEFAULT_DIR
                    + " and mounting it needs root; run as root: " + manual);
        }
        if (!Files.isDirectory(DEFAULT_DIR)) {
            throw new IOException("cannot mount the FUSE control filesystem: " + DEFAULT_DIR
                    + " does not exist (is the fuse kernel module loaded? try: modprobe fuse)");
        }
        LOG.info("mounting the FUSE control filesystem: {}", manual);
        ProcessBuilder pb = new ProcessBuilder("mount", "-t", "fusectl", "none", DEFAULT_DIR.toString())
                .redirectErrorStream(true);
        Process p = pb.start();
        String output;
        try {
            p.getOutputStream().close();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("'" + manual + "' did not finish within 10 s");
            }
            output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while running '" + manual + "'", e);
        }
        if (p.exitValue() != 0 && !isMounted()) {
            throw new IOException("'" + manual + "' failed with exit code " + p.exitValue()
                    + (output.isEmpty() ? "" : ": " + output));
        }
    }

    /**
     * Whether the current process runs with effective uid 0.
     *
     * @return {@code true} for root
     */
    static boolean isRoot() {
        return Tasks.readSmall(Paths.get("/proc/self/status")).map(status -> {
            for (String line : status.split("\n")) {
                if (line.startsWith("Uid:")) {
                    String[] f = line.substring(4).trim().split("\\s+");
                    return f.length > 1 && f[1].equals("0");
                }
            }
            return false;
        }).orElse(false);
    }

    /**
     * The ids of every FUSE connection, ascending. Empty when {@code fusectl} is not mounted.
     *
     * @return the connection ids
     * @throws IOException if the directory exists but cannot be listed
     */
    public List<Long> connectionIds() throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString())
                    .filter(n -> !n.isEmpty() && n.length() < 19 && n.chars().allMatch(Character::isDigit))
                    .map(Long::parseLong)
                    .sorted()
                    .toList();
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (java.io.UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /**
     * Whether a connection with this id exists.
     *
     * @param id a connection id
     * @return {@code true} if {@code <dir>/<id>} exists
     */
    public boolean exists(long id) {
        return id >= 0 && Files.isDirectory(dir.resolve(Long.toString(id)));
    }

    /**
     * The number of requests of the connection that are queued or being processed by its daemon.
     * A non-zero value that does not go down means tasks are waiting on the daemon.
     *
     * @param id a connection id
     * @return the count, or empty if there is no such connection (or it cannot be read)
     */
    public OptionalInt waiting(long id) {
        if (id < 0) {
            return OptionalInt.empty();
        }
        return Tasks.readSmall(dir.resolve(Long.toString(id)).resolve("waiting")).map(String::trim)
                .filter(s -> !s.isEmpty() && s.chars().allMatch(Character::isDigit))
                .map(s -> OptionalInt.of(Integer.parseInt(s)))
                .orElse(OptionalInt.empty());
    }

    /**
     * Aborts the connection: every pending request ends with {@code ECONNABORTED} (tasks stuck on
     * it wake up) and the mount answers {@code ENOTCONN} from then on. It stays mounted; unmount
     * it with {@code umount -l} (or {@code fusermount -u -z}).
     *
     * @param id a connection id
     * @throws IOException if there is no such connection (the message names it) or the
     *                     {@code abort} file cannot be written (not root)
     */
    public void abort(long id) throws IOException {
        Path abort = dir.resolve(Long.toString(id)).resolve("abort");
        if (id < 0 || !Files.exists(abort)) {
            throw new NoSuchFileException("FUSE connection " + id, null,
                    "no such connection in " + dir
                            + (Files.isDirectory(dir) && isFusectlDir() ? "" : " (is fusectl mounted?)"));
        }
        LOG.info("aborting FUSE connection {}", id);
        try {
            Files.write(abort, "1".getBytes(StandardCharsets.US_ASCII), StandardOpenOption.WRITE);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException("FUSE connection " + id, null,
                    "no such connection in " + dir + " (it went away)");
        } catch (IOException e) {
            throw new IOException("cannot abort FUSE connection " + id + " (writing " + abort + "): "
                    + e.getMessage(), e);
        }
    }

    private boolean isFusectlDir() {
        if (!dir.equals(DEFAULT_DIR)) {
            return true;
        }
        return isMounted();
    }

    @Override
    public String toString() {
        return "FuseControl[" + dir + "]";
    }
}
