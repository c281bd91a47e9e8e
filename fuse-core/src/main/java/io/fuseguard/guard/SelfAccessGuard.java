package io.fuseguard.guard;

import io.fuseguard.api.Operation;
import io.fuseguard.config.SelfAccessPolicy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Detects requests that come from the daemon's own process: the caller pid of a request is a thread id, and
 * it belongs to this process iff {@code /proc/self/task/<pid>} exists.
 */
final class SelfAccessGuard {
    private static final Logger LOG = LoggerFactory.getLogger(SelfAccessGuard.class);
    /** Bounds the memory spent on "logged once" bookkeeping for daemons that keep doing it. */
    private static final int MAX_REMEMBERED_PATHS = 1024;

    private final SelfAccessPolicy policy;
    private final Set<String> loggedPaths = ConcurrentHashMap.newKeySet();
    private volatile int exemptTid;

    SelfAccessGuard(SelfAccessPolicy policy) {
        this.policy = policy;
    }

    /** Exempts one thread (the framework's own probe) until {@link #clearExemption()}. */
    void exempt(int tid) {
        this.exemptTid = tid;
    }

    void clearExemption() {
        this.exemptTid = 0;
    }

    /** Whether the request must be refused. Logs as the policy says. */
    boolean refuse(Operation op, String path, int pid) {
        if (pid <= 0 || pid == exemptTid || !isOwnThread(pid)) {
            return false;
        }
        boolean refuse = policy == SelfAccessPolicy.REFUSE;
        if (loggedPaths.size() < MAX_REMEMBERED_PATHS && loggedPaths.add(path)) {
            if (refuse) {
                LOG.warn("Refused {} {} with EDEADLK: the request comes from the daemon's own thread {}. If the "
                        + "daemon died while such a request is in flight, or while it holds a file on its own "
                        + "mount, nothing could answer the kernel and the process would never finish exiting "
                        + "(kill -9 and docker kill hang). Use FuseMount.inProcess() to reach the filesystem "
                        + "without the kernel, or SelfAccessPolicy.ALLOW_WITH_WARNING if you accept the risk. "
                        + "(Logged once per path.)", op, path, pid);
            } else {
                LOG.warn("Serving {} {} from the daemon's own thread {} (SelfAccessPolicy.ALLOW_WITH_WARNING): "
                        + "if the daemon dies while it is in flight the process cannot finish exiting. "
                        + "(Logged once per path.)", op, path, pid);
            }
        }
        return refuse;
    }

    static boolean isOwnThread(int pid) {
        return new File("/proc/self/task/" + pid).exists();
    }
}
