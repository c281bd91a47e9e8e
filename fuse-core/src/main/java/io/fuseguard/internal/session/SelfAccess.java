package io.fuseguard.internal.session;

import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.wire.Fuse;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Recognises requests from the daemon's own threads ({@code tgkill(getpid(), pid, 0)}: one system call, no
 * /proc, correct in any pid namespace) and applies the self-access policy. Under a refusing policy every
 * request is checked; otherwise only opens are (that is where a file on one's own mount starts being held), to
 * log once what is going on.
 */
final class SelfAccess {
    private static final Log LOG = Log.of(SelfAccess.class);
    private static final int MAX_REMEMBERED = 1024;

    private final SelfAccessPolicy policy;
    private final SelfAccessPolicy configured;
    private final boolean writeback;
    private final FlushPolicy flushPolicy;
    private final boolean refuse;
    private final Set<String> logged = ConcurrentHashMap.newKeySet();
    private final AtomicBoolean infoLogged = new AtomicBoolean();
    private volatile int exemptTid;

    SelfAccess(SelfAccessPolicy configured, FlushPolicy flushPolicy, boolean writeback) {
        this.configured = configured;
        this.writeback = writeback;
        this.flushPolicy = flushPolicy;
        this.policy = configured == SelfAccessPolicy.AUTO
                ? (flushPolicy == FlushPolicy.BOUNDED ? SelfAccessPolicy.REFUSE : SelfAccessPolicy.ALLOW)
                : configured;
        this.refuse = policy == SelfAccessPolicy.REFUSE;
    }

    /** The policy in effect (AUTO resolved). */
    SelfAccessPolicy policy() {
        return policy;
    }

    void exempt(int tid) {
        exemptTid = tid;
    }

    /** Whether to refuse this request with EDEADLK; logs as the policy says. */
    boolean refuse(int opcode, String path, int pid) {
        if (!refuse && opcode != Fuse.OPEN && opcode != Fuse.CREATE && opcode != Fuse.OPENDIR) {
            return false;
        }
        if (opcode == Fuse.RELEASE || opcode == Fuse.RELEASEDIR) {
            return false; // the end of what was let in: always served
        }
        if (pid <= 0 || pid == exemptTid || !Syscalls.isOwnThread(pid)) {
            return false;
        }
        switch (policy) {
            case REFUSE -> {
                if (remember(path)) {
                    LOG.warn("Refused {} {} with EDEADLK: it comes from the daemon's own thread {}. Under flush "
                            + "policy {} the kernel still sends FLUSH, so a daemon that dies while holding a file on "
                            + "its own mount (or while such a request is in flight) can never finish exiting. Use "
                            + "FuseMount.inProcess() to reach the filesystem without the kernel, or the DEFERRED or "
                            + "NO_FLUSH policy, under which this is allowed. (Logged once per path.)",
                            Fuse.name(opcode), path, pid, flushPolicy);
                }
                return true;
            }
            case ALLOW_WITH_WARNING -> {
                if (remember(path)) {
                    LOG.warn("Serving {} {} from the daemon's own thread {} (SelfAccessPolicy.ALLOW_WITH_WARNING). "
                            + "(Logged once per path.)", Fuse.name(opcode), path, pid);
                }
                return false;
            }
            default -> {
                if (infoLogged.compareAndSet(false, true)) {
                    LOG.info("The daemon's own thread {} opened {} on its own mount: allowed, because under flush "
                            + "policy {} the kernel never sends FLUSH, so a daemon holding its own files still "
                            + "exits at once when killed. One window remains: killed while one of its own "
                            + "requests is being served, its exit waits for the kernel's request timeout (Linux "
                            + "6.15+) or for 'fuseguard guard'. (Logged once.)", pid, path, flushPolicy);
                }
                return false;
            }
        }
    }

    /**
     * Under the writeback cache: whether to refuse (EDEADLK) an open for writing that comes from the daemon's own
     * thread. With the cache the kernel writes a file's dirty pages back when it is closed, before it looks at
     * {@code no_flush}: a daemon killed while it holds a file of its own mount with dirty pages would, as it exits,
     * wait for WRITE answers that none of its threads is left to give (until the kernel's request timeout, if
     * any). Refused under {@link SelfAccessPolicy#AUTO} (reading stays allowed: it leaves nothing dirty), served
     * with a warning under {@link SelfAccessPolicy#ALLOW_WITH_WARNING}, served under {@link SelfAccessPolicy#ALLOW}
     * (the operator's choice); {@link SelfAccessPolicy#REFUSE} refuses every request already.
     */
    boolean refuseWrite(String path, int pid) {
        if (!writeback || refuse || pid <= 0 || pid == exemptTid || !Syscalls.isOwnThread(pid)) {
            return false;
        }
        switch (configured) {
            case AUTO -> {
                if (remember("w:" + path)) {
                    LOG.warn("Refused an open for writing of {} with EDEADLK: it comes from the daemon's own thread "
                            + "{}, and with the writeback cache a daemon killed while holding dirty pages of its own "
                            + "mount could not finish exiting (its close writes them back through itself). Use "
                            + "FuseMount.inProcess(), or SelfAccessPolicy.ALLOW to accept that risk. (Logged once "
                            + "per path.)", path, pid);
                }
                return true;
            }
            case ALLOW_WITH_WARNING -> {
                if (remember("w:" + path)) {
                    LOG.warn("Serving an open for writing of {} from the daemon's own thread {} with the writeback "
                            + "cache on (SelfAccessPolicy.ALLOW_WITH_WARNING): killed while it has dirty pages there, "
                            + "the daemon cannot finish exiting. (Logged once per path.)", path, pid);
                }
                return false;
            }
            default -> {
                return false;
            }
        }
    }

    private boolean remember(String path) {
        return logged.size() < MAX_REMEMBERED && logged.add(path == null ? "" : path);
    }
}
