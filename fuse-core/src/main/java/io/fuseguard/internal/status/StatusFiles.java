package io.fuseguard.internal.status;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Where status files live and how they are written, withdrawn, swept and read. One file per connection,
 * {@code <connection id>.json}, in {@code /run/fuseguard/connections} (a daemon running as root) or
 * {@code $XDG_RUNTIME_DIR/fuseguard/connections} (a user's daemon: {@code /run/user/UID/...}); the system property
 * {@value #DIRECTORY_PROPERTY} names another directory (tests), or {@code none} to publish nothing.
 *
 * <p>Robustness: a file is written whole under a temporary name and renamed into place (a reader never sees half a
 * file); a daemon removes its own file at unmount, only if it is still its own (the kernel reuses connection ids,
 * and a newer mount's daemon may have written the same name meanwhile); a daemon killed with SIGKILL leaves its
 * file, so every writer first removes the files of connections the kernel no longer has, and readers check a
 * file against the live connection before believing it ({@code io.fuseguard.kernel.ConnectionStatus}).
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class StatusFiles {
    /** System property: the status directory to use instead of the default ones, or {@code none}. */
    public static final String DIRECTORY_PROPERTY = "fuseguard.statusDir";
    /** The format's version, in every file. */
    public static final int VERSION = 1;
    private static final Path ROOT_DIR = Path.of("/run/fuseguard/connections");
    private static final Path USER_RUN = Path.of("/run/user");
    private static final Path FUSECTL = Path.of("/sys/fs/fuse/connections");

    private StatusFiles() {
    }

    /** Where this process publishes, if anywhere. */
    public static Optional<Path> writeDirectory() {
        String p = System.getProperty(DIRECTORY_PROPERTY);
        if (p != null && !p.isBlank()) {
            return p.equals("none") ? Optional.empty() : Optional.of(Path.of(p));
        }
        if (io.fuseguard.internal.sys.Syscalls.getuid() == 0) {
            return Optional.of(ROOT_DIR);
        }
        String xdg = System.getenv("XDG_RUNTIME_DIR");
        if (xdg != null && !xdg.isBlank() && Files.isDirectory(Path.of(xdg))) {
            return Optional.of(Path.of(xdg, "fuseguard", "connections"));
        }
        return Optional.empty();
    }

    /** Every directory a reader looks in: the override, or root's and each user's. */
    public static List<Path> readDirectories() {
        String p = System.getProperty(DIRECTORY_PROPERTY);
        if (p != null && !p.isBlank()) {
            return p.equals("none") ? List.of() : List.of(Path.of(p));
        }
        List<Path> dirs = new ArrayList<>();
        dirs.add(ROOT_DIR);
        try (DirectoryStream<Path> users = Files.newDirectoryStream(USER_RUN)) {
            for (Path u : users) {
                dirs.add(u.resolve("fuseguard").resolve("connections"));
            }
        } catch (IOException | SecurityException e) {
            // no per-user runtime directories here
        }
        return dirs;
    }

    /** The file of connection {@code id} in {@code dir}. */
    public static Path file(Path dir, long id) {
        return dir.resolve(id + ".json");
    }

    /**
     * Writes connection {@code id}'s status (readable by everyone: it says nothing a mount table does not, besides
     * the protocol), after removing files of connections the kernel no longer has.
     */
    public static Path publish(Path dir, long id, Map<String, Object> status) throws IOException {
        Files.createDirectories(dir);
        sweep(dir, id);
        Path target = file(dir, id);
        Path tmp = dir.resolve("." + id + ".json." + ProcessHandle.current().pid() + ".tmp");
        Files.writeString(tmp, Json.write(status) + "\n", StandardCharsets.UTF_8);
        try {
            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        return target;
    }

    /**
     * Removes connection {@code id}'s file if it is still the one this daemon wrote (same pid and mount source):
     * after the unmount the kernel may have given the id to a new mount whose daemon wrote its own.
     */
    public static boolean withdraw(Path dir, long id, long pid, String source) {
        Path f = file(dir, id);
        Optional<Map<String, Object>> m = read(f);
        if (m.isEmpty() || !source.equals(m.get().get("source")) || !Long.valueOf(pid).equals(m.get().get("pid"))) {
            return false;
        }
        try {
            return Files.deleteIfExists(f);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Removes the files of connections fusectl does not list (their daemons died without removing them), and
     * temporary files of writers that are gone. Only when fusectl shows connection {@code ownId} (the caller's,
     * live): then it is mounted and shows this machine's connections, and an id it lacks is gone for sure.
     */
    static void sweep(Path dir, long ownId) {
        if (!Files.exists(FUSECTL.resolve(Long.toString(ownId)))) {
            return;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                String n = f.getFileName().toString();
                OptionalLong id = idOf(n);
                boolean stale = id.isPresent() && !Files.exists(FUSECTL.resolve(Long.toString(id.getAsLong())));
                if (n.startsWith(".") && n.endsWith(".tmp")) {
                    String[] parts = n.split("\\.");
                    stale = parts.length >= 4 && isNumber(parts[parts.length - 2])
                            && ProcessHandle.of(Long.parseLong(parts[parts.length - 2])).isEmpty();
                }
                if (stale) {
                    Files.deleteIfExists(f);
                }
            }
        } catch (IOException e) {
            // best effort: readers check every file anyway
        }
    }

    /** The connection id a status file name stands for. */
    public static OptionalLong idOf(String fileName) {
        if (!fileName.endsWith(".json")) {
            return OptionalLong.empty();
        }
        String n = fileName.substring(0, fileName.length() - 5);
        return isNumber(n) ? OptionalLong.of(Long.parseLong(n)) : OptionalLong.empty();
    }

    private static boolean isNumber(String s) {
        return !s.isEmpty() && s.length() < 19 && s.chars().allMatch(Character::isDigit);
    }

    /** A status file's content, if it exists and is a status file of this version (a damaged one is absent). */
    @SuppressWarnings("unchecked")
    public static Optional<Map<String, Object>> read(Path f) {
        try {
            if (Files.size(f) > 1 << 20) {
                return Optional.empty();
            }
            Object o = Json.parse(Files.readString(f, StandardCharsets.UTF_8));
            if (o instanceof Map<?, ?> m && Long.valueOf(VERSION).equals(m.get("version"))) {
                return Optional.of((Map<String, Object>) m);
            }
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            // damaged, or being replaced: treated as absent
        }
        return Optional.empty();
    }

    /** The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or -1. */
    public static long startTime(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
            String[] rest = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(rest[19]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
