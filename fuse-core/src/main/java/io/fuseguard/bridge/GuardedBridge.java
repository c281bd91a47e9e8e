package io.fuseguard.bridge;

import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.guard.RequestGuard;
import io.fuseguard.guard.RequestSource;
import jnr.constants.platform.Errno;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;


/**
 * What every fuseguard bridge shares: the guard, the hidden probe and the flush policy. A bridge is the
 * jnr-fuse filesystem libfuse calls; it copies data between libfuse's memory and the Java heap on the libfuse
 * thread and runs the user's code through the {@link RequestGuard}.
 *
 * <p>Operations a bridge does not override (lock, access, opendir, ...) stay unregistered with libfuse, which
 * then applies its own defaults. In particular {@code lock} must stay unregistered: with a lock operation,
 * libfuse answers FLUSH itself and the kernel would never set {@code no_flush}.
 */
public abstract class GuardedBridge extends FuseStubFS {
    protected static final int ENOENT = Errno.ENOENT.intValue();
    protected static final int ENOSYS = Errno.ENOSYS.intValue();
    protected static final int ERANGE = Errno.ERANGE.intValue();
    protected static final int EIO = Errno.EIO.intValue();

    protected final RequestGuard guard;
    protected final RequestSource source;
    protected final FuseguardConfig config;
    protected final Probe probe;
    private final java.util.concurrent.atomic.AtomicLong flushRequests = new java.util.concurrent.atomic.AtomicLong();

    protected GuardedBridge(RequestGuard guard, RequestSource source, FuseguardConfig config) {
        this.guard = guard;
        this.source = source;
        this.config = config;
        this.probe = new Probe(guard);
    }

    /** The hidden probe of this mount. */
    public Probe probe() {
        return probe;
    }

    /** The libfuse operations table to hand to {@code fuse_new}. */
    public ru.serce.jnrfuse.struct.FuseOperations operations() {
        return fuseOperations;
    }

    /** Answers the probe's requests; returns {@code null} when the request is not the probe's. */
    protected final Integer probeGetattr(String path, FileStat stat) {
        if (!probe.names(path)) {
            return null;
        }
        if (!probe.isProbe(path, source.caller().pid())) {
            return -ENOENT; // invisible to everybody else
        }
        stat.st_mode.set(FileStat.S_IFREG | 0400);
        stat.st_nlink.set(1);
        return 0;
    }

    /** Probe open/unlink/release: succeed for the probe, ENOENT for anybody else. */
    protected final Integer probeOther(String path) {
        if (!probe.names(path)) {
            return null;
        }
        return probe.isProbe(path, source.caller().pid()) ? 0 : -ENOENT;
    }

    /**
     * FLUSH under the default policy: ENOSYS, answered on the libfuse thread without running any user code and
     * without looking at the caller, so the kernel sets {@code no_flush} for the connection.
     */
    protected final boolean flushDisabled() {
        return config.flushPolicy() == FlushPolicy.NO_FLUSH;
    }

    @Override
    public abstract int flush(String path, FuseFileInfo fi);

    /** Counts a FLUSH request (the probe's included). */
    protected final void countFlush() {
        flushRequests.incrementAndGet();
    }

    /**
     * FLUSH requests the kernel has sent. Under {@link FlushPolicy#NO_FLUSH} this stays at 1 (the probe's) for
     * the life of the mount: proof that the kernel set {@code no_flush}.
     */
    public long flushRequests() {
        return flushRequests.get();
    }
}
