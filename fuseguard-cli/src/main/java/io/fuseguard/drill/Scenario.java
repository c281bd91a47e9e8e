package io.fuseguard.drill;

import java.time.Duration;

/**
 * The exit-time deadlock scenarios, each with the time fuseguard's side must be gone in, and the daemon's death
 * under supervision, with the pause its clients may see.
 */
public enum Scenario {
    /** The daemon holds a file on its own mount and is killed with SIGKILL. */
    OWN_FILE_KILL("daemon holds own file, kill -9 daemon", Duration.ofSeconds(2)),
    /** The seed: the daemon in a pid namespace holds its own file, clients do I/O, the namespace's init is killed. */
    NAMESPACE_KILL("pid namespace (own file + 3 clients), kill -9 init", Duration.ofSeconds(2)),
    /** Like the seed, but the daemon is stopped gracefully with SIGTERM. */
    NAMESPACE_SIGTERM("pid namespace (own file + 3 clients), SIGTERM daemon", Duration.ofSeconds(5)),
    /**
     * The seed with an ndrive-style jnr-fuse filesystem (uploads in flush) in a pid namespace: its indexer holds a
     * file on the mount, 3 clients do I/O; the namespace's init is killed.
     */
    NDRIVE_SEED("ndrive-style fs in pid namespace (indexer holding its file, 3 clients), kill -9 init",
            Duration.ofMillis(200)),
    /**
     * Like {@link #NDRIVE_SEED}, and one client's close() has a stalled upload.
     */
    NDRIVE_KILL("ndrive-style fs in pid namespace (indexer, 3 clients, stalled upload), kill -9 init",
            Duration.ofMillis(200)),
    /** A flush handler stalls; a client in a pid namespace is mid-close() when the namespace is killed. */
    STALLED_FLUSH_KILL("stalled flush, client mid-close() in pid namespace, kill -9 init", Duration.ofSeconds(3)),
    /**
     * Under the bounded flush policy (where FLUSH is still sent), the daemon's own thread opens a file on its
     * mount: the deadlock's precondition, refused.
     */
    SELF_ACCESS("bounded flush policy: daemon's own thread opens its file", Duration.ofSeconds(30)),
    /**
     * Beyond the deadlock: the filesystem's process dies (kill -9) while 3 clients read and write, one through a
     * descriptor opened before. Plain jnr-fuse loses its mount; fuseguard supervised ({@code --supervise}) serves
     * on with a new worker. The limit is the pause from the kill to the next answer: about 0.2 s on a quiet
     * machine; 5 s leaves room for a loaded one (a review under a load of 5 on 2 cores measured 2.1 s), still a
     * pause, where plain jnr-fuse's clients get errors and a dead mount.
     */
    DAEMON_DEATH("jnr-fuse fs with data on disk, 3 clients mid-I/O, kill -9 the filesystem's process",
            Duration.ofSeconds(5));

    private final String description;
    private final Duration limit;

    Scenario(String description, Duration limit) {
        this.description = description;
        this.limit = limit;
    }

    /** What happens in it. */
    public String description() {
        return description;
    }

    /** How fast everything must be gone on fuseguard's side. */
    public Duration limit() {
        return limit;
    }
}
