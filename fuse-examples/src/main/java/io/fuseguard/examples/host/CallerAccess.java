package io.fuseguard.examples.host;

import io.fuseguard.api.RequestContext;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Whether the caller of the current FUSE request may access an existing inode, decided by the daemon the way
 * the kernel's {@code generic_permission} decides it under {@code default_permissions}: owner bits for the owner,
 * else group bits when the inode's group is the caller's group or one of its supplementary groups, else the
 * other bits; a caller of uid 0 holding {@code CAP_DAC_OVERRIDE} may read and write anything and execute what
 * has an x bit (any directory), and with {@code CAP_DAC_READ_SEARCH} read anything. No ACLs: the examples do not
 * serve them, so the kernel does not check them either.
 *
 * <p>For the rare requests where the kernel did not check because it did not know the inode, such as an
 * {@code open(O_CREAT)} of a name it believed missing. FUSE sends the caller's fsuid, fsgid and thread id, not
 * its supplementary groups or capabilities, so those are read from {@code /proc/PID/status}; that costs a file
 * read per call, so it is only done when the owner bits alone cannot decide. Whenever the answer is uncertain
 * (the caller is not visible in the daemon's pid namespace, has exited, or its status shows other ids than the
 * request: the pid was reused or the credentials changed) access is refused.
 */
public final class CallerAccess {
    /** Permission to execute (search a directory), as the kernel's {@code MAY_EXEC}. */
    public static final int MAY_EXEC = 1;
    /** Permission to write, as the kernel's {@code MAY_WRITE}. */
    public static final int MAY_WRITE = 2;
    /** Permission to read, as the kernel's {@code MAY_READ}. */
    public static final int MAY_READ = 4;

    private static final long CAP_DAC_OVERRIDE = 1L << 1;
    private static final long CAP_DAC_READ_SEARCH = 1L << 2;

    private CallerAccess() {
    }

    /**
     * The caller's credentials as the kernel checks them.
     *
     * @param fsuid  the filesystem uid
     * @param fsgid  the filesystem gid
     * @param groups the supplementary groups
     * @param capEff the effective capability set (bit N: capability N)
     */
    public record Credentials(long fsuid, long fsgid, long[] groups, long capEff) {
        boolean inGroup(long gid) {
            return fsgid == gid || Arrays.stream(groups).anyMatch(g -> g == gid);
        }
    }

    /**
     * Whether the current request's caller may access an inode of {@code mode} owned by {@code uid}:{@code gid}
     * for {@code want} (a combination of {@link #MAY_READ}, {@link #MAY_WRITE}, {@link #MAY_EXEC}). Outside a
     * request (a direct Java call, with the daemon's own rights) the answer is yes.
     *
     * @param mode the full mode ({@code S_IF*} and permission bits)
     */
    public static boolean permits(int mode, long uid, long gid, int want) {
        RequestContext ctx = RequestContext.current().orElse(null);
        if (ctx == null) {
            return true;
        }
        // What the request's own ids decide, without reading /proc (every open comes here). Only root may get
        // more than the bits give (its capabilities), and only an outsider's supplementary groups are unknown.
        boolean root = ctx.uid() == 0;
        if (ctx.uid() == uid) {
            if (bitsGrant((mode >> 6) & 7, want) || !root) {
                return bitsGrant((mode >> 6) & 7, want); // the owner's bits decide alone
            }
        } else if (ctx.gid() == gid) {
            if (bitsGrant((mode >> 3) & 7, want) || !root) {
                return bitsGrant((mode >> 3) & 7, want); // the primary group: supplementary ones do not matter
            }
        } else if (bitsGrant((mode >> 3) & 7, want) && bitsGrant(mode & 7, want)) {
            return true; // group and other both grant it: membership does not matter
        }
        Optional<Credentials> c = credentials(ctx.pid());
        if (c.isEmpty() || c.get().fsuid() != ctx.uid() || c.get().fsgid() != ctx.gid()) {
            return false; // unsure who is asking: the process is gone, hidden, or not the one that asked
        }
        return permits(c.get(), mode, uid, gid, want);
    }

    /** The decision for known credentials (see the class comment). */
    public static boolean permits(Credentials c, int mode, long uid, long gid, int want) {
        int bits = c.fsuid() == uid ? (mode >> 6) & 7 : c.inGroup(gid) ? (mode >> 3) & 7 : mode & 7;
        if (bitsGrant(bits, want)) {
            return true;
        }
        if (c.fsuid() != 0) {
            // capabilities of a caller in another user namespace count only for inodes mapped there, which the
            // daemon cannot tell: only the daemon namespace's root is granted what its capabilities allow
            return false;
        }
        boolean directory = (mode & Host.S_IFMT) == Host.S_IFDIR;
        if ((c.capEff() & CAP_DAC_OVERRIDE) != 0
                && (directory || (want & MAY_EXEC) == 0 || (mode & 0111) != 0)) {
            return true;
        }
        int searchable = directory ? MAY_READ | MAY_EXEC : MAY_READ;
        return (c.capEff() & CAP_DAC_READ_SEARCH) != 0 && (want & ~searchable) == 0;
    }

    private static boolean bitsGrant(int bits, int want) {
        return (bits & want) == want;
    }

    /** The credentials in {@code /proc/PID/status} (PID may be a thread id), or empty if unreadable. */
    public static Optional<Credentials> credentials(int pid) {
        if (pid <= 0) {
            return Optional.empty(); // 0: the caller is in a pid namespace the daemon cannot see into
        }
        try {
            return parseStatus(Files.readAllLines(Path.of("/proc", Integer.toString(pid), "status")));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Parses the Uid, Gid, Groups and CapEff lines of a {@code /proc/PID/status}; empty if one is missing. */
    static Optional<Credentials> parseStatus(List<String> lines) {
        long[] uids = null;
        long[] gids = null;
        long[] groups = null;
        Long capEff = null;
        for (String line : lines) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String value = line.substring(colon + 1).trim();
            switch (line.substring(0, colon)) {
                case "Uid" -> uids = numbers(value);
                case "Gid" -> gids = numbers(value);
                case "Groups" -> groups = numbers(value);
                case "CapEff" -> capEff = Long.parseUnsignedLong(value, 16);
                default -> { }
            }
        }
        // Uid/Gid: real, effective, saved, filesystem; the kernel checks files against the last
        if (uids == null || uids.length != 4 || gids == null || gids.length != 4 || groups == null
                || capEff == null) {
            return Optional.empty();
        }
        return Optional.of(new Credentials(uids[3], gids[3], groups, capEff));
    }

    private static long[] numbers(String value) {
        return value.isEmpty() ? new long[0]
                : Arrays.stream(value.split("\\s+")).mapToLong(Long::parseLong).toArray();
    }
}
