package io.fuseguard.kernel;

import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * The parts of {@code /proc/<pid>/fdinfo/<fd>} the node guard uses.
 *
 * <p>Since Linux 6.16 the kernel prints {@code fuse_connection:} for a {@code /dev/fuse} file that is
 * attached to a connection: the connection id, the same number that names its directory under
 * {@code /sys/fs/fuse/connections} (commit "fs: fuse: add dev id to /dev/fuse fdinfo"). Older kernels print
 * nothing that ties a {@code /dev/fuse} file to a connection.
 *
 * @param flags          the open flags (octal in the file)
 * @param mountId        the id of the mount the file was opened on ({@code mnt_id}), -1 if absent
 * @param fuseConnection the FUSE connection a {@code /dev/fuse} file serves, when the kernel says
 */
public record FdInfo(long flags, int mountId, OptionalLong fuseConnection) {

    /**
     * Parses the content of an {@code fdinfo} file; unknown lines are ignored.
     *
     * @param text the content
     * @return the fields, or empty if there is no {@code flags:} line (not an fdinfo file)
     */
    public static Optional<FdInfo> parse(String text) {
        long flags = -1;
        int mnt = -1;
        OptionalLong conn = OptionalLong.empty();
        for (String line : text.split("\n")) {
            int colon = line.indexOf(':');
            if (colon <= 0) {
                continue;
            }
            String key = line.substring(0, colon).trim();
            String value = line.substring(colon + 1).trim();
            switch (key) {
                case "flags" -> {
                    try {
                        flags = Long.parseLong(value, 8);
                    } catch (NumberFormatException e) {
                        return Optional.empty();
                    }
                }
                case "mnt_id" -> {
                    long m = ProcFiles.parseNonNegative(value);
                    mnt = m >= 0 && m <= Integer.MAX_VALUE ? (int) m : -1;
                }
                case "fuse_connection" -> {
                    long c = ProcFiles.parseNonNegative(value);
                    if (c >= 0) {
                        conn = OptionalLong.of(c);
                    }
                }
                default -> {
                }
            }
        }
        return flags < 0 ? Optional.empty() : Optional.of(new FdInfo(flags, mnt, conn));
    }

    /**
     * Reads {@code <proc>/<pid>/fdinfo/<fd>}.
     *
     * @param proc the procfs root
     * @param pid  a process
     * @param fd   one of its descriptors
     * @return the parsed fields, or empty if gone, unreadable or malformed
     */
    public static Optional<FdInfo> read(Path proc, int pid, int fd) {
        return ProcFiles.read(proc.resolve(Integer.toString(pid)).resolve("fdinfo").resolve(Integer.toString(fd)))
                .flatMap(FdInfo::parse);
    }

    /**
     * The mount id as an optional.
     *
     * @return {@code mnt_id}, if present
     */
    public OptionalInt mount() {
        return mountId >= 0 ? OptionalInt.of(mountId) : OptionalInt.empty();
    }
}
