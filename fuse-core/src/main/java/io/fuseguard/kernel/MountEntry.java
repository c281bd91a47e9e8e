package io.fuseguard.kernel;

import java.nio.file.Path;
import java.util.Objects;

/**
 * One line of {@code /proc/self/mountinfo}.
 *
 * <p>Built by {@link MountTable}; never obtained by touching the mount itself, so holding or
 * inspecting a {@code MountEntry} can never block on a wedged FUSE connection.
 *
 * @param mountId    the unique id of the mount (first field of the line)
 * @param major      major number of the superblock's device ({@code 0} for FUSE, non-zero for
 *                   {@code fuseblk})
 * @param minor      minor number of the superblock's device
 * @param mountPoint the mount point, relative to the reading process's root, with the kernel's
 *                   octal escapes ({@code \040} for a space, ...) decoded
 * @param fsType     the filesystem type, e.g. {@code fuse}, {@code fuseblk}, {@code fuse.sshfs}
 * @param source     the mount source; for FUSE the {@code fsname} the daemon passed
 *                   (fuseguard daemons use {@code fuseguard:<pid>:<name>})
 * @param options    the per-mount options followed by those superblock options that are not
 *                   already among them, comma separated (e.g.
 *                   {@code rw,nosuid,nodev,relatime,user_id=0,group_id=0})
 */
public record MountEntry(int mountId, int major, int minor, Path mountPoint, String fsType,
                         String source, String options) {

    /**
     * Validates that no component is {@code null}.
     *
     * @param mountId see the record description
     * @param major see the record description
     * @param minor see the record description
     * @param mountPoint see the record description
     * @param fsType see the record description
     * @param source see the record description
     * @param options see the record description
     */
    public MountEntry {
        Objects.requireNonNull(mountPoint, "mountPoint");
        Objects.requireNonNull(fsType, "fsType");
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(options, "options");
    }

    /**
     * The FUSE connection id of this mount: the name of its directory under
     * {@code /sys/fs/fuse/connections}.
     *
     * <p>The kernel names that directory after the superblock's device number in its internal
     * encoding ({@code major << 20 | minor}). For ordinary FUSE mounts the major is 0, so the id is
     * simply the minor number (the {@code N} in {@code 0:N}); for {@code fuseblk} the major of the
     * block device is included.
     *
     * @return the connection id
     */
    public long connectionId() {
        return ((long) major << 20) | (minor & 0xFFFFFL);
    }

    /**
     * Whether this is a FUSE mount: type {@code fuse}, {@code fuseblk} or {@code fuse.<subtype>}
     * (the FUSE control filesystem {@code fusectl} is not a FUSE mount).
     *
     * @return {@code true} for a FUSE mount
     */
    public boolean isFuse() {
        return fsType.equals("fuse") || fsType.equals("fuseblk") || fsType.startsWith("fuse.")
                || fsType.startsWith("fuseblk.");
    }

    /**
     * The FUSE subtype ({@code sshfs} for {@code fuse.sshfs}), or the empty string.
     *
     * @return the subtype, possibly empty
     */
    public String subtype() {
        int dot = fsType.indexOf('.');
        return dot < 0 ? "" : fsType.substring(dot + 1);
    }
}
