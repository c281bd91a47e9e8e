package io.fuseguard.kernel;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * An immutable snapshot of the mount table, parsed from {@code /proc/self/mountinfo}.
 *
 * <p>This is the safe way to find FUSE mounts: reading {@code mountinfo} never talks to any
 * filesystem, whereas {@code stat()}/listing a mount point of a wedged FUSE connection blocks,
 * possibly forever. Nothing in this class touches a mount point: paths are compared textually
 * (absolute and normalized, symlinks are <em>not</em> resolved).
 *
 * <p>Format of a line (see {@code proc(5)}):
 * <pre>
 * 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
 * (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)    (10)         (11)
 * </pre>
 */
public final class MountTable {

    /** Where the kernel publishes the calling process's mount table. */
    public static final Path MOUNTINFO = Paths.get("/proc/self/mountinfo");

    private final List<MountEntry> entries;

    /**
     * Parses the given {@code mountinfo} text. Malformed lines are skipped.
     *
     * @param mountinfo the content of a {@code mountinfo} file
     */
    public MountTable(String mountinfo) {
        this.entries = parse(mountinfo);
    }

    /**
     * Wraps already parsed entries (kept in the given order).
     *
     * @param entries the entries, in mount order
     */
    public MountTable(List<MountEntry> entries) {
        this.entries = List.copyOf(entries);
    }

    /**
     * Reads and parses {@code /proc/self/mountinfo}.
     *
     * @return the current mount table
     * @throws IOException if {@code /proc/self/mountinfo} cannot be read
     */
    public static MountTable load() throws IOException {
        return new MountTable(Files.readString(MOUNTINFO, StandardCharsets.ISO_8859_1));
    }

    /**
     * Reads and parses {@code /proc/self/mountinfo}.
     *
     * @return every mount, in mount order
     * @throws IOException if {@code /proc/self/mountinfo} cannot be read
     */
    public static List<MountEntry> read() throws IOException {
        return load().entries();
    }

    /**
     * Parses {@code mountinfo} text. Malformed lines are skipped.
     *
     * <p>The text is treated byte-wise: pass it decoded as ISO-8859-1 (as {@link #load()} does) to
     * keep non-ASCII mount points intact; they are decoded as UTF-8 after unescaping. Plain ASCII
     * text (as in tests) works either way.
     *
     * @param mountinfo the content of a {@code mountinfo} file
     * @return the entries in the order of the lines
     */
    public static List<MountEntry> parse(String mountinfo) {
        Objects.requireNonNull(mountinfo, "mountinfo");
        List<MountEntry> result = new ArrayList<>();
        for (String line : mountinfo.split("\n")) {
            MountEntry e = parseLine(line);
            if (e != null) {
                result.add(e);
            }
        }
        return Collections.unmodifiableList(result);
    }

    /**
     * Parses one {@code mountinfo} line.
     *
     * @param line one line, without its newline
     * @return the entry, or {@code null} if the line is malformed
     */
    static MountEntry parseLine(String line) {
        if (line.isBlank()) {
            return null;
        }
        String[] f = line.trim().split(" ");
        // Minimum: id parent maj:min root mountpoint opts - type source superopts
        if (f.length < 10) {
            return null;
        }
        int sep = -1;
        for (int i = 6; i < f.length; i++) {
            if (f[i].equals("-")) {
                sep = i;
                break;
            }
        }
        if (sep < 0 || sep + 2 >= f.length) {
            return null;
        }
        try {
            int mountId = Integer.parseInt(f[0]);
            String[] dev = f[2].split(":");
            if (dev.length != 2) {
                return null;
            }
            int major = Integer.parseInt(dev[0]);
            int minor = Integer.parseInt(dev[1]);
            Path mountPoint = Paths.get(unescape(f[4]));
            String fsType = unescape(f[sep + 1]);
            String source = unescape(f[sep + 2]);
            String superOptions = sep + 3 < f.length ? unescape(f[sep + 3]) : "";
            String options = mergeOptions(unescape(f[5]), superOptions);
            return new MountEntry(mountId, major, minor, mountPoint, fsType, source, options);
        } catch (RuntimeException e) { // NumberFormatException, InvalidPathException
            return null;
        }
    }

    private static String mergeOptions(String mountOptions, String superOptions) {
        Set<String> all = new LinkedHashSet<>();
        for (String o : mountOptions.split(",")) {
            if (!o.isEmpty()) {
                all.add(o);
            }
        }
        for (String o : superOptions.split(",")) {
            if (!o.isEmpty()) {
                all.add(o);
            }
        }
        return String.join(",", all);
    }

    /**
     * Decodes the kernel's octal escapes ({@code \040} space, {@code \011} tab, {@code \012}
     * newline, {@code \134} backslash, and any other {@code \ooo}); the resulting bytes are decoded
     * as UTF-8. Characters above U+00FF in the input are kept as they are.
     *
     * @param s an escaped field
     * @return the decoded field
     */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0 && s.chars().allMatch(c -> c < 0x80)) {
            return s;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
        int i = 0;
        while (i < s.length()) {
            char c = s.charAt(i);
            if (c == '\\' && isOctal(s, i + 1) && isOctal(s, i + 2)
                    && isOctal(s, i + 3)) {
                int v = (s.charAt(i + 1) - '0') * 64 + (s.charAt(i + 2) - '0') * 8
                        + (s.charAt(i + 3) - '0');
                out.write(v & 0xFF);
                i += 4;
            } else if (c <= 0xFF) {
                out.write(c);
                i++;
            } else {
                byte[] b = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
                out.write(b, 0, b.length);
                i++;
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static boolean isOctal(String s, int i) {
        if (i >= s.length()) {
            return false;
        }
        char c = s.charAt(i);
        return c >= '0' && c <= '7';
    }

    /**
     * All entries, in mount order.
     *
     * @return an unmodifiable list
     */
    public List<MountEntry> entries() {
        return entries;
    }

    /**
     * The FUSE mounts ({@code fuse}, {@code fuseblk}, {@code fuse.*}; not {@code fusectl}), in
     * mount order.
     *
     * @return an unmodifiable list
     */
    public List<MountEntry> fuseMounts() {
        return entries.stream().filter(MountEntry::isFuse).toList();
    }

    /**
     * The mount visible at the given mount point. Paths are compared after making them absolute
     * and normalizing them (no symlink resolution, nothing is accessed on disk). When several
     * mounts are stacked on the same point, the last one (the visible one) wins.
     *
     * @param mountPoint a mount point
     * @return the top-most mount at that point, if any
     */
    public Optional<MountEntry> findByMountPoint(Path mountPoint) {
        Path wanted = mountPoint.toAbsolutePath().normalize();
        MountEntry found = null;
        for (MountEntry e : entries) {
            if (e.mountPoint().toAbsolutePath().normalize().equals(wanted)) {
                found = e;
            }
        }
        return Optional.ofNullable(found);
    }

    /**
     * The FUSE mount of the given connection (see {@link MountEntry#connectionId()}). A
     * connection mounted several times (bind mounts) yields its first entry.
     *
     * @param connectionId a FUSE connection id
     * @return the first FUSE mount of that connection, if any is visible in this mount namespace
     */
    public Optional<MountEntry> findByConnection(long connectionId) {
        return entries.stream()
                .filter(MountEntry::isFuse)
                .filter(e -> e.connectionId() == connectionId)
                .findFirst();
    }

    /**
     * Every FUSE mount of the given connection (bind mounts share a connection).
     *
     * @param connectionId a FUSE connection id
     * @return the FUSE mounts of that connection, in mount order
     */
    public List<MountEntry> allByConnection(long connectionId) {
        return entries.stream()
                .filter(MountEntry::isFuse)
                .filter(e -> e.connectionId() == connectionId)
                .toList();
    }

    /**
     * Whether a mount of the given type is at the given point (compared as in
     * {@link #findByMountPoint(Path)}, but any stacked entry counts).
     *
     * @param mountPoint a mount point
     * @param fsType     a filesystem type, e.g. {@code fusectl}
     * @return {@code true} if such a mount exists
     */
    public boolean isMounted(Path mountPoint, String fsType) {
        Path wanted = mountPoint.toAbsolutePath().normalize();
        return entries.stream().anyMatch(e -> e.fsType().equals(fsType)
                && e.mountPoint().toAbsolutePath().normalize().equals(wanted));
    }

    @Override
    public String toString() {
        return "MountTable" + entries;
    }
}
