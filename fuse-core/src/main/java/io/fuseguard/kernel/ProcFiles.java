package io.fuseguard.kernel;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Bounded, failure-tolerant reads of {@code /proc} pseudo-files, for code that must keep working while
 * tasks appear, vanish and wedge under it (the node guard).
 *
 * <p>Every read stops after a byte limit, so a malformed or hostile entry cannot make a reader allocate
 * without bound; every failure (the entry vanished: {@code ENOENT}/{@code ESRCH}; no permission:
 * {@code EACCES}/{@code EPERM}; anything else) yields empty instead of an exception. None of the files read
 * through this class are served by a filesystem daemon: reading them never waits on a FUSE connection.
 */
public final class ProcFiles {

    /** Default limit of {@link #read(Path)}: more than any {@code stat}, {@code fdinfo} or {@code stack}. */
    public static final int DEFAULT_LIMIT = 64 * 1024;

    private ProcFiles() {
    }

    /**
     * Reads at most {@link #DEFAULT_LIMIT} bytes of a small pseudo-file.
     *
     * @param file the file
     * @return its content (possibly cut at the limit), or empty on any error
     */
    public static Optional<String> read(Path file) {
        return read(file, DEFAULT_LIMIT);
    }

    /**
     * Reads at most {@code limit} bytes of a pseudo-file.
     *
     * @param file  the file
     * @param limit the most bytes to read
     * @return its content (possibly cut at the limit), decoded as UTF-8 with replacement, or empty on any error
     */
    public static Optional<String> read(Path file, int limit) {
        return read(file, limit, StandardCharsets.UTF_8);
    }

    /**
     * Reads at most {@code limit} bytes of a pseudo-file, decoded with the given charset
     * ({@link StandardCharsets#ISO_8859_1} keeps bytes intact, as {@link MountTable} wants).
     *
     * @param file    the file
     * @param limit   the most bytes to read
     * @param charset how to decode
     * @return its content (possibly cut at the limit), or empty on any error
     */
    public static Optional<String> read(Path file, int limit, java.nio.charset.Charset charset) {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = in.readNBytes(limit);
            return Optional.of(new String(buf, charset));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * The target of a symbolic link such as {@code /proc/<pid>/fd/<n>} ({@code /dev/fuse},
     * {@code socket:[123]}, ...). Reading the link never touches the file it names.
     *
     * @param link the link
     * @return its text, or empty on any error
     */
    public static Optional<String> readLink(Path link) {
        try {
            return Optional.of(Files.readSymbolicLink(link).toString());
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * The numerically named entries of a directory ({@code /proc}, {@code /proc/<pid>/task},
     * {@code /proc/<pid>/fd}), ascending; empty on any error.
     *
     * @param dir the directory
     * @return the numbers
     */
    public static List<Integer> numericEntries(Path dir) {
        return Tasks.numericEntries(dir);
    }

    /**
     * Whether listing {@code dir} is refused ({@code EACCES}): tells an unreadable directory from a vanished
     * one.
     *
     * @param dir a directory
     * @return {@code true} if it exists but cannot be listed
     */
    public static boolean isUnreadable(Path dir) {
        try (var s = Files.newDirectoryStream(dir)) {
            return false;
        } catch (java.nio.file.AccessDeniedException e) {
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /**
     * Parses a non-negative decimal number, {@code -1} if it is not one (or too large).
     *
     * @param s the text
     * @return the number or -1
     */
    static long parseNonNegative(String s) {
        String t = s.trim();
        if (t.isEmpty() || t.length() > 18) {
            return -1;
        }
        for (int i = 0; i < t.length(); i++) {
            if (!Character.isDigit(t.charAt(i))) {
                return -1;
            }
        }
        return Long.parseLong(t);
    }

    /** Splits on whitespace, without empty leading fields. */
    static List<String> fields(String s) {
        String t = s.trim();
        return t.isEmpty() ? List.of() : Arrays.asList(t.split("\\s+"));
    }
}
