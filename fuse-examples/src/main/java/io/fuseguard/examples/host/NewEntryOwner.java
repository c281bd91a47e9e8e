package io.fuseguard.examples.host;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.RequestContext;

/**
 * Who owns a new file, directory, node or symlink: what the host filesystem would have chosen had the caller
 * made it directly. The owner is the caller's uid; the group is the parent directory's when that directory is
 * set-group-ID (and a new directory then inherits the set-group-ID bit), else the caller's gid. Only a root
 * daemon can give entries away; otherwise they stay the daemon's.
 *
 * @param giveAway     whether to change the owner at all (root daemon, request from the kernel)
 * @param uid          the owner to set
 * @param gid          the group to set
 * @param inheritSgid  whether a new directory gets the set-group-ID bit of its parent
 */
public record NewEntryOwner(boolean giveAway, int uid, int gid, boolean inheritSgid) {
    private static final boolean DAEMON_IS_ROOT = Host.LIBC.geteuid() == 0;

    /**
     * The owner of an entry just created in {@code parentFd} for the current request's caller; the daemon keeps
     * it ({@link #giveAway} false) when it is not root or there is no caller (a direct Java call).
     */
    public static NewEntryOwner forCaller(int parentFd) {
        FileAttributes parent = HostStat.of(parentFd);
        boolean sgid = (parent.permissions() & Host.S_ISGID) != 0;
        RequestContext ctx = RequestContext.current().orElse(null);
        if (!DAEMON_IS_ROOT || ctx == null) {
            return new NewEntryOwner(false, -1, -1, sgid);
        }
        return new NewEntryOwner(true, (int) ctx.uid(), sgid ? (int) parent.gid() : (int) ctx.gid(), sgid);
    }

    /** The permission bits to set on a new entry: a new directory inherits a set-group-ID parent's bit. */
    public int modeFor(int permissions, boolean directory) {
        return directory && inheritSgid ? permissions | Host.S_ISGID : permissions;
    }
}
