package io.fuseguard.mount;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.MountSettings;
import io.fuseguard.internal.bridge.AdapterMounts;
import io.fuseguard.internal.bridge.JavaFsOps;
import io.fuseguard.internal.events.EventReporter;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.mount.Fusermount;
import io.fuseguard.internal.mount.KernelMount;
import io.fuseguard.internal.mount.MountedDevice;
import io.fuseguard.internal.ops.FsOps;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.session.FatalErrors;
import io.fuseguard.internal.state.StateJournal;
import io.fuseguard.internal.supervise.SupervisorLink;
import io.fuseguard.internal.session.MountOptions;
import io.fuseguard.internal.session.Session;
import io.fuseguard.internal.status.StatusFiles;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.metrics.MountMetrics;

import java.io.FileInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A mounted fuseguard filesystem. {@link #mount} returns once the filesystem answers requests through the
 * kernel (and, under the no-flush policies, once the kernel stopped sending FLUSH); {@link #close} unmounts,
 * drains close-time work, calls the filesystem's {@code destroy} and never hangs, even when files are still open
 * on the mount.
 *
 * <pre>{@code
 * try (FuseMount m = FuseMount.mount(new MyFs(), Path.of("/mnt/my"), FuseguardConfig.defaults())) {
 *     m.awaitUnmount();
 * }
 * }</pre>
 *
 * <p>An existing jnr-fuse filesystem is mounted unchanged, under the same guards, with
 * {@code io.fuseguard.jnr.JnrFuseMount.mount(fs, mountPoint, config)} from the {@code fuse-jnr} artifact (kept
 * apart so that fuse-core needs no jnr-fuse; see docs/migrating.md).
 *
 * <p>fuseguard's warnings (stalled handlers, refused or allowed self-access, behaviours of a migrated jnr-fuse
 * filesystem that it serves differently, close-time work that failed) are logged through SLF4J; without an SLF4J
 * backend on the classpath, warnings and errors are printed on standard error instead.
 */
public final class FuseMount implements AutoCloseable {
    private static final Log LOG = Log.of(FuseMount.class);

    static {
        // The jnr-fuse adapter (fuse-jnr) mounts through this routine with its own bridge; see AdapterMounts.
        AdapterMounts.register(FuseMount::mount);
    }

    private final Path mountPoint;
    private final FuseguardConfig config;
    private final MountOptions options;
    private final FsOps ops;
    private final EventReporter events;
    private final MountMetrics metrics;
    private final FuseFileSystem inProcess;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicBoolean finishing = new AtomicBoolean();
    private Session session;
    private MountedDevice device;
    private long connectionId = -1;
    private Duration mountTime = Duration.ZERO;
    private Thread shutdownHook;
    private volatile boolean mounted;
    private FatalErrors.Target fatalTarget;
    /** This process's supervisor, when it serves a supervised mount as a worker; null otherwise. */
    private SupervisorLink link;
    /** A fatal error ends the process (status 70): the mount's end must not look like a normal one. */
    private volatile boolean fatalExit;
    /** How the connection ended; null while it is served. */
    private volatile MountEnd end;

    private FuseMount(Path mountPoint, FuseguardConfig config, MountOptions options, FsOps ops,
                      EventReporter events, MountMetrics metrics) {
        this.metrics = metrics;
        this.mountPoint = mountPoint;
        this.config = config;
        this.options = options;
        this.ops = ops;
        this.events = events;
        this.inProcess = new InProcessAccess(ops, config, events, mountPoint.toString()).fileSystem();
    }

    /**
     * Mounts a memory-safe filesystem.
     *
     * @throws MountException with a {@link MountException.Reason} and an actionable message
     */
    public static FuseMount mount(FuseFileSystem fs, Path mountPoint, FuseguardConfig config) {
        return mount(mountPoint, config, events -> new JavaFsOps(fs, events));
    }

    private static FuseMount mount(Path mountPoint, FuseguardConfig config,
                                   java.util.function.Function<EventReporter, FsOps> bridge) {
        long t0 = System.nanoTime();
        MountOptions options = MountOptions.parse(config.mount().options(), config.mount().maxWrite());
        // A worker started by a supervisor serves the supervisor's mount: never stat it (nobody serves it yet).
        SupervisorLink link = SupervisorLink.take(mountPoint.toAbsolutePath().normalize());
        if (link != null && options.ioUring()) {
            throw new MountException(MountException.Reason.OPTION_REJECTED, "io_uring cannot be combined with "
                    + "a supervised mount: the ring's entries belong to the worker process and die with it, and "
                    + "requests waiting on them would be lost until the kernel resends them; use one or the other");
        }
        Path real = link != null ? link.mountPoint()
                : MountPreflight.check(mountPoint, config.mount().hasOption("nonempty"));
        if (link == null) {
            MountPreflight.checkHelper(options.kernel());
        }
        MountMetrics metrics = new MountMetrics();
        EventReporter events = new EventReporter(config.mount().fsName(), config.guard().listeners(), metrics);
        FsOps ops;
        try {
            ops = bridge.apply(events);
        } catch (RuntimeException e) {
            events.close();
            throw e;
        }
        FuseMount m = new FuseMount(real, config, options, ops, events, metrics);
        m.link = link;
        try {
            m.start();
        } catch (RuntimeException | Error e) {
            events.close();
            throw e;
        }
        m.mountTime = Duration.ofNanos(System.nanoTime() - t0);
        LOG.info("{} {} at {} in {} ms (connection {}, via {}, flush policy {}, self-access {}, kernel request "
                        + "timeout {}; protocol {}; passthrough {})",
                link != null ? "Serving the supervisor's mount of" : "Mounted",
                config.mount().fsName(), real, m.mountTime.toMillis(),
                m.connectionId, m.device.route() + (m.device.autoUnmount() ? " with auto_unmount" : ""),
                config.guard().flushPolicy(), m.session.selfAccessPolicy(), m.session.kernelRequestTimeoutSet()
                        ? config.guard().effectiveKernelRequestTimeout().toSeconds() + " s"
                        : "not available (Linux < 6.15) or off",
                m.session.protocol() == null ? "?" : m.session.protocol().describe(), m.session.passthroughStatus());
        List<String> notes = new ArrayList<>(m.ops.behaviourNotes(config.guard().flushPolicy()));
        if (!config.mount().rawOptions().contains("default_permissions")
                && config.mount().options().contains("default_permissions")) {
            // Added for allow_other (typed or raw): a filesystem that relied on its own checks alone is now
            // also checked by the kernel against the modes it reports.
            notes.add("default_permissions was added because of allow_other: the kernel checks each access "
                    + "against the reported owner and mode before the filesystem sees it (its own checks still run; "
                    + "mount option no_default_permissions leaves them alone, as plain libfuse did)");
        }
        if (config.mount().options().contains("allow_other")
                && config.mount().rawOptions().contains(MountSettings.NO_DEFAULT_PERMISSIONS)) {
            LOG.warn("{} lets other users in (allow_other) without default_permissions: only the filesystem's own "
                    + "checks decide what each user may do", config.mount().fsName());
        }
        if (!notes.isEmpty()) {
            LOG.warn("{} is served by fuseguard with these differences from plain jnr-fuse/libfuse: {}",
                    config.mount().fsName(), String.join("; ", notes));
        }
        m.publishStatus();
        return m;
    }

    /** Where this mount's status file was written, and the mount source it names (null: none written). */
    private volatile java.nio.file.Path statusDir;
    private volatile String statusSource;

    /**
     * Publishes what this mount negotiated for other processes ({@code fuseguard connections}): a small JSON file
     * per connection ({@link io.fuseguard.kernel.ConnectionStatus}), removed at unmount. A failure only costs the
     * report, never the mount.
     */
    private void publishStatus() {
        Optional<java.nio.file.Path> dir = StatusFiles.writeDirectory();
        KernelProtocol p = session.protocol();
        if (dir.isEmpty() || connectionId < 0 || p == null) {
            return;
        }
        Optional<MountEntry> entry = ourEntry();
        if (entry.isEmpty()) {
            return;
        }
        long pid = ProcessHandle.current().pid();
        java.util.Map<String, Object> protocol = new java.util.LinkedHashMap<>();
        protocol.put("major", p.kernelMajor());
        protocol.put("minor", p.minor());
        protocol.put("kernelMinor", p.kernelMinor());
        protocol.put("used", p.used());
        protocol.put("offeredUnused", p.offeredUnused());
        java.util.Map<String, Object> fast = new java.util.LinkedHashMap<>();
        fast.put("passthrough", session.passthroughStatus());
        fast.put("writebackCache", options.writebackCache() && p.uses("writeback_cache"));
        fast.put("readdirPlus", options.readdirPlus() && p.uses("readdirplus"));
        fast.put("cloneFd", session.clonedDevices() > 0);
        fast.put("ioUring", session.ioUringActive());
        java.util.Map<String, Object> st = new java.util.LinkedHashMap<>();
        st.put("version", StatusFiles.VERSION);
        st.put("connection", connectionId);
        st.put("pid", pid);
        st.put("startTime", StatusFiles.startTime(pid));
        st.put("source", entry.get().source());
        st.put("mountPoint", mountPoint.toString());
        st.put("fsName", config.mount().fsName());
        st.put("protocol", protocol);
        st.put("fastPaths", fast);
        try {
            StatusFiles.publish(dir.get(), connectionId, st);
            statusSource = entry.get().source();
            statusDir = dir.get();
        } catch (IOException | RuntimeException e) {
            LOG.info("{}: could not publish the connection's status in {} ({}); 'fuseguard connections' will not "
                    + "show its protocol", mountPoint, dir.get(), e.toString());
        }
    }

    /** Removes this mount's status file, if it is still this mount's. */
    private void withdrawStatus() {
        java.nio.file.Path dir = statusDir;
        if (dir != null) {
            statusDir = null;
            StatusFiles.withdraw(dir, connectionId, ProcessHandle.current().pid(), statusSource);
        }
    }

    private void start() {
        if (config.mount().shutdownHook()) {
            // Registered before mounting: a SIGTERM during mount() must not leave a dead mount behind.
            shutdownHook = new Thread(this::close, "fuseguard-shutdown-" + config.mount().fsName());
            Runtime.getRuntime().addShutdownHook(shutdownHook);
        }
        int fd;
        try {
            device = link != null ? MountedDevice.fromSupervisor(link.device())
                    : KernelMount.mount(mountPoint, options.kernel(), config.mount().mountTimeout());
            fd = device.fd();
        } catch (RuntimeException e) {
            removeShutdownHook();
            throw e;
        }
        mounted = true;
        session = new Session(config.mount().fsName(), fd, config, options, ops, events, metrics);
        fatalTarget = new FatalErrors.Target(config.mount().fsName() + " at " + mountPoint, this::endAfterFatalError,
                config.guard().exitOnFatalError());
        session.fatalTarget(fatalTarget);
        session.onEndOfConnection(this::connectionEnded);
        events.onFatal(session::fatal);
        FatalErrors.register(fatalTarget);
        boolean resumed = link != null && session.supervise(StateJournal.open(link.state()));
        if (resumed) {
            // The previous worker's unanswered requests come back (new ones wait in the kernel meanwhile). Asked
            // before this worker reads anything: the kernel sends again every request read and not answered on
            // the connection, so a request this worker had already read would come twice.
            int rc = session.requestResend();
            if (rc < 0) {
                LOG.warn("{}: the kernel refused FUSE_NOTIFY_RESEND (errno {}; Linux 6.9 or later has it): "
                        + "requests the previous worker had read wait until their callers give up", mountPoint,
                        -rc);
            }
        }
        if (link != null) {
            connectionId = link.connectionId(); // known from the start: the end of the connection is told by it
        }
        session.start();
        try {
            if (resumed) {
                connectionId = link.connectionId();
            } else {
                awaitReady();
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
        if (link != null) {
            link.listen(this::handOver, this::supervisorGone, () -> "nodes=" + session.knownNodes() + " handles="
                    + session.openHandles() + " unmatched=" + session.unmatchedAnswers() + " closework="
                    + session.pendingCloseWork());
            link.tell("READY " + ProcessHandle.current().pid() + " " + (resumed ? "resumed" : "first") + " "
                    + session.protocol().kernelMajor() + "." + session.protocol().kernelMinor());
        }
        Thread reaper = new Thread(this::reap, "fuseguard-reaper-" + config.mount().fsName());
        reaper.setDaemon(true);
        reaper.start();
    }

    /**
     * Proves the mount answers by opening and closing the hidden probe through the kernel; under the no-flush
     * policies that close is also the FLUSH whose ENOSYS answer sets {@code no_flush}. Then identifies the
     * connection by the mount's device number.
     */
    private void awaitReady() {
        CompletableFuture<Long> probe = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                session.becomeProbeOwner();
                long dev;
                try {
                    Path p = mountPoint.resolve(session.probeName());
                    try (FileInputStream in = new FileInputStream(p.toFile())) {
                        in.getChannel(); // open only; close() sends the FLUSH that primes no_flush
                    } catch (IOException e) {
                        // default_permissions on a root directory the daemon may not search: the kernel
                        // answered, so the mount is up; FOPEN_NOFLUSH still protects kernels 5.16 and later.
                        LOG.warn("{}: the readiness probe could not open its file ({}); no_flush is not primed",
                                mountPoint, e.getMessage());
                    }
                    session.awaitProbeReleased(2000);
                    // the probe's attributes come from the engine: a root getattr of the filesystem's own that
                    // misses a short deadline on a busy machine must not fail the mount
                    dev = (Long) Files.getAttribute(p, "unix:dev");
                } finally {
                    session.endProbe();
                }
                probe.complete(dev);
            } catch (Throwable e) {
                probe.completeExceptionally(e);
            }
        }, "fuseguard-probe-" + config.mount().fsName());
        t.setDaemon(true);
        t.start();
        try {
            long dev = probe.get(config.mount().mountTimeout().toMillis(), TimeUnit.MILLISECONDS);
            if (closed.get()) {
                throw new MountException(MountException.Reason.NOT_ANSWERING, "filesystem at " + mountPoint
                        + " was closed while it was being mounted (a SIGTERM or close() during mount())");
            }
            long major = (dev >>> 8) & 0xfff;
            long minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
            connectionId = (major << 20) | minor;
        } catch (TimeoutException | InterruptedException | ExecutionException e) {
            String why = e instanceof TimeoutException
                    ? "did not answer within " + config.mount().mountTimeout().toMillis() + " ms"
                    : "failed its readiness probe: " + (e.getCause() != null ? e.getCause() : e);
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new MountException(MountException.Reason.NOT_ANSWERING, "filesystem at " + mountPoint + " " + why,
                    e instanceof ExecutionException ? e.getCause() : e);
        }
    }

    /**
     * After an {@link Error} in fuseguard's own threads: the guards are gone, so the connection ends now (clients
     * get ENOTCONN instead of waiting for deadlines nobody watches) and the mount point is detached here, as the
     * shutdown hook may not manage with little memory left.
     */
    private void endAfterFatalError() {
        fatalExit = fatalTarget.exits(); // before the mount ends: awaitUnmount must not return into a normal exit
        synchronized (closed) {
            if (end == null) {
                end = MountEnd.CLOSED; // the abort below is this process's own
            }
        }
        if (link != null) {
            session.detachDevice(); // a supervised worker just goes: the supervisor keeps the connection, restarts
            return;
        }
        abortConnection("a fatal error in fuseguard's own threads");
        session.detachDevice();
        detachIfOurs();
    }

    /** The supervisor asks for a planned handover: finish what runs, take nothing new, and say so. */
    private void handOver() {
        try {
            boolean quiet = session.quiesce(config.guard().drainTimeout());
            LOG.info("{}: stopping as the supervisor asks, for a new worker or the end of the mount ({})",
                    mountPoint, quiet ? "nothing left running"
                    : "work still running after " + config.guard().drainTimeout().toMillis() + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        link.tell("QUIESCED");
    }

    /**
     * The supervisor is gone. When systemd's descriptor store keeps the connection, the next supervisor takes it
     * up: this worker stops as a replaced one does and leaves the mount. Otherwise nobody can take over, and the
     * connection ends as an unsupervised one's would.
     */
    private void supervisorGone() {
        if (closed.get()) {
            return;
        }
        SupervisorLink l = link;
        if (l != null && l.keptBySystemd()) {
            LOG.warn("{}: the supervisor is gone; systemd keeps the connection for the next one, so this worker "
                    + "stops and leaves the mount", mountPoint);
            close();
            return;
        }
        LOG.warn("{}: the supervisor is gone; ending this worker (the connection ends with it)", mountPoint);
        link = null; // from here on, an ordinary end: release the connection
        close();
    }

    /** How the kernel mount was made (new mount API, mount(2) or the helper), for tests. */
    MountedDevice device() {
        return device;
    }

    /** What this mount negotiated with the kernel: the protocol minor and the capabilities in use. */
    public KernelProtocol protocol() {
        return session.protocol();
    }

    private volatile KernelNotifier notifier;

    /**
     * Notifications to the kernel for this mount: what it caches changed behind its back. Calls never block and
     * may come from handlers; never wait for their futures inside one (see {@link KernelNotifier}).
     */
    public KernelNotifier notifier() {
        KernelNotifier n = notifier;
        if (n == null) {
            n = new KernelNotifier(session.notifier());
            notifier = n;
        }
        return n;
    }

    /** FUSE passthrough on this mount: on or why not, and how many opens were backed (see {@link PassthroughStatus}). */
    public PassthroughStatus passthrough() {
        return new PassthroughStatus(session.passthroughStatus(), session.backedOpens(), session.fallbackOpens(),
                session.openBackingIds());
    }

    /** The (real) mount point. */
    public Path mountPoint() {
        return mountPoint;
    }

    /** The FUSE connection id (the directory name under /sys/fs/fuse/connections), if it is known. */
    public OptionalLong connectionId() {
        return connectionId < 0 ? OptionalLong.empty() : OptionalLong.of(connectionId);
    }

    /** How long {@link #mount} took, until the filesystem answered. */
    public Duration mountTime() {
        return mountTime;
    }

    /** The configuration. */
    public FuseguardConfig config() {
        return config;
    }

    /**
     * FLUSH requests the kernel has sent to this mount. Under the no-flush policies it stays at 1 (the readiness
     * probe's, answered ENOSYS) because the kernel then never sends FLUSH again.
     */
    public long flushRequestsReceived() {
        return session.flushRequests();
    }

    /** Requests whose handler is running right now. */
    public int inFlight() {
        return session.inFlight();
    }

    /**
     * Whether requests come over io_uring ({@link io.fuseguard.config.MountSettings.Builder#ioUring}): false
     * without the option, and with it on a kernel that does not serve FUSE over io_uring (said in the log).
     */
    public boolean ioUringActive() {
        return session.ioUringActive();
    }

    /** Requests that came on io_uring entries since the mount (0 when io_uring is not in use). */
    public long ioUringRequests() {
        return session.ioUringRequests();
    }

    /** Answers committed on io_uring entries since the mount (handlers', deadlines', interrupts'). */
    public long ioUringAnswers() {
        return session.ioUringAnswers();
    }

    /** The io_uring transport's state in a few words: "off", "active, 2 queues x 16 entries", or why not. */
    public String ioUringState() {
        return session.ioUringState();
    }

    /** What the mount has done so far (requests, errors and handler time per operation; guard events). */
    public MountMetrics metrics() {
        return metrics;
    }

    /** A snapshot of what the mount is doing. */
    public MountStatus status() {
        return new MountStatus(session.requests(), session.inFlight(), session.threads(), session.stuckThreads(),
                session.openHandles(), session.pendingCloseWork(), session.flushRequests(),
                session.ignoredInterrupts());
    }

    /**
     * The filesystem as the daemon itself should use it: the same handlers, deadlines and copies as requests
     * from the kernel, without going through the kernel (so the daemon can never deadlock on its own mount).
     * Works for both kinds of mounts: for a jnr-fuse filesystem it presents it through fuseguard's API.
     */
    public FuseFileSystem inProcess() {
        return inProcess;
    }

    /** Whether the mount is still being served. */
    public boolean isMounted() {
        return finished.getCount() > 0;
    }

    /**
     * Blocks until the filesystem is unmounted (by {@link #close}, a shutdown hook or {@code umount}). After a fatal
     * error in fuseguard's own threads (see {@link io.fuseguard.config.GuardSettings#exitOnFatalError()}) it does
     * not return: the process is exiting with status 70, and a return would let it end as if all went well.
     */
    public void awaitUnmount() throws InterruptedException {
        finished.await();
        while (fatalExit) {
            Thread.sleep(1000);
        }
    }

    /** The error that ended the mount from inside fuseguard ({@code OutOfMemoryError}, say), if one did. */
    public Optional<Throwable> fatalError() {
        return fatalTarget == null ? Optional.empty() : Optional.ofNullable(fatalTarget.error());
    }

    /** The end of the connection, whoever caused it: drain close-time work, destroy, release the device. */
    private void reap() {
        try {
            while (!session.awaitThreads(Duration.ofHours(1))) {
                // waits for the connection to end
            }
        } catch (InterruptedException e) {
            return;
        }
        if (!closed.get()) {
            connectionEnded(); // in case no request thread saw it (the listener runs once)
            if (end == MountEnd.ABORTED) {
                LOG.error("{}: connection {} was aborted from outside (fuseguard abort, fusectl or the node guard): "
                        + "the mount point is dead (ENOTCONN) until it is unmounted and mounted again{}",
                        mountPoint, connectionIdOrUnknown(), link != null
                        ? "; this worker ends, and so does its supervisor" : "");
            } else {
                LOG.info("{} was unmounted from outside{}", mountPoint, link != null
                        ? "; this worker ends, and so does its supervisor" : "");
            }
        }
        finish();
    }

    /**
     * The connection ended (the first request thread to see it, or the reaper): records whether it was aborted or
     * unmounted from outside, told by the mount table at once (an abort leaves the mount point mounted, an unmount
     * removes it before the kernel ends the connection), and tells a supervisor, which then stops: no worker can
     * serve an ended connection.
     */
    private void connectionEnded() {
        MountEnd e;
        synchronized (closed) {
            if (end != null) {
                return;
            }
            if (closed.get()) {
                end = MountEnd.CLOSED;
                return;
            }
            e = ourEntry().isPresent() ? MountEnd.ABORTED : MountEnd.UNMOUNTED;
            end = e;
        }
        SupervisorLink l = link;
        if (l != null) {
            l.tell("ENDED " + (e == MountEnd.ABORTED ? "aborted" : "unmounted"));
        }
    }

    private Object connectionIdOrUnknown() {
        return connectionId >= 0 ? connectionId : "?";
    }

    /**
     * How the connection ended: {@link MountEnd#CLOSED} after {@link #close}, {@link MountEnd#ABORTED} or
     * {@link MountEnd#UNMOUNTED} when it was ended from outside (a daemon should then exit with a failure after an
     * abort, so that a service manager mounts it again, and cleanly after an unmount). Empty while it is served.
     */
    public Optional<MountEnd> end() {
        return Optional.ofNullable(end);
    }

    private void finish() {
        if (!finishing.compareAndSet(false, true)) {
            return;
        }
        try {
            session.beginClose(); // also when unmounted from outside: no more notifications
            session.abandonRunning();
            boolean handingOver = link != null; // the kernel keeps these open for the next worker
            if (!handingOver) {
                session.releaseLeftHandles();
            }
            session.drainCloseWork(config.guard().drainTimeout());
            List<String> hidden = handingOver ? List.of() : session.removeLeftHidden();
            if (!hidden.isEmpty()) {
                LOG.warn("{}: removed {} file(s) that were unlinked while open and still hidden when the mount ended "
                        + "(their last close-time work had not run): {}", mountPoint, hidden.size(), hidden);
            }
            OpContext ctx = OpContext.forCurrentThread();
            ctx.begin(io.fuseguard.api.Operation.RELEASE, "/", 0, 0, 0, 0, System.nanoTime());
            try {
                ops.destroy(ctx);
            } finally {
                ctx.end();
            }
            session.stopWatchdog();
            withdrawStatus();
            session.closeDevice();
            device.release(); // after the unmount: a waiting auto_unmount helper finds the mount gone
            events.close();
        } finally {
            if (fatalTarget != null) {
                FatalErrors.unregister(fatalTarget);
            }
            mounted = false;
            finished.countDown();
            Log.flush(5000);
        }
    }

    /**
     * Unmounts, waits for the request threads to end, drains close-time work (bounded by the guard settings'
     * {@code drainTimeout}), calls {@code destroy}. Never hangs: if the mount is busy (open files, a working
     * directory) it is detached lazily and its connection aborted (as root), so every later
     * request fails at once instead of waiting for a daemon that is gone. Idempotent.
     */
    @Override
    public void close() {
        synchronized (closed) {
            if (end == null) {
                end = MountEnd.CLOSED;
            }
        }
        if (!closed.compareAndSet(false, true)) {
            awaitFinished(config.mount().unmountTimeout().plus(config.guard().drainTimeout()).plusSeconds(2));
            return;
        }
        long t0 = System.nanoTime();
        if (session != null && link != null) {
            // A supervised worker leaves the connection to its supervisor (and to the next worker): no unmount.
            link.tell("LEAVING");
            session.beginClose();
            session.abandonRunning();
            session.detachDevice();
            finish();
            awaitFinished(config.guard().drainTimeout().plusSeconds(5));
            removeShutdownHook();
            LOG.info("{}: this worker stopped{} in {} ms", mountPoint, end == MountEnd.CLOSED
                    ? " (the supervisor keeps the mount)" : "", TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            Log.flush(5000);
            return;
        }
        if (session != null) {
            session.beginClose();
            unmount();
            session.abandonRunning(); // nothing waits on a mount that is going away
            try {
                if (!session.awaitThreads(config.mount().unmountTimeout())) {
                    LOG.warn("{}: request threads still running {} ms after the unmount; aborting the connection",
                            mountPoint, config.mount().unmountTimeout().toMillis());
                    abortConnection("its threads did not end");
                    session.abandonRunning();
                    if (!session.awaitThreads(Duration.ofSeconds(2))) {
                        session.detachDevice();
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                session.detachDevice();
            }
            finish();
            // The reaper may be the one finishing (it saw the connection end first): wait for it.
            awaitFinished(config.guard().drainTimeout().plusSeconds(5));
        } else if (mounted) {
            detachIfOurs();
            device.release();
        }
        removeShutdownHook();
        LOG.info("Unmounted {} in {} ms", mountPoint, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
        Log.flush(5000); // a logging backend's first use can take seconds on a loaded machine
    }

    private void removeShutdownHook() {
        if (shutdownHook != null && Thread.currentThread() != shutdownHook) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException e) {
                // the JVM is shutting down
            }
        }
    }

    private boolean awaitFinished(Duration timeout) {
        try {
            return finished.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private Optional<MountEntry> ourEntry() {
        try {
            for (MountEntry e : MountTable.read()) {
                if (e.isFuse() && connectionId >= 0 && e.connectionId() == connectionId) {
                    return Optional.of(e);
                }
                if (connectionId < 0 && e.mountPoint().equals(mountPoint) && e.isFuse()) {
                    return Optional.of(e);
                }
            }
        } catch (IOException e) {
            LOG.warn("Cannot read the mount table: {}", e.getMessage());
        }
        return Optional.empty();
    }

    /** Unmounts; a busy mount is detached lazily and its connection aborted. */
    private void unmount() {
        Optional<MountEntry> entry = ourEntry();
        if (entry.isEmpty()) {
            return; // unmounted already (from outside): never touch what may be mounted there now
        }
        Path where = entry.get().mountPoint();
        if (connectionId < 0) {
            connectionId = entry.get().connectionId(); // closed before mount() learned it (SIGTERM during mount)
        }
        if (isRoot()) {
            int r = Syscalls.umount2(where.toString(), 0);
            if (r == 0) {
                if (connectionId >= 0 && new FuseControl().exists(connectionId)) {
                    // Another mount namespace (a container started while this was mounted) still holds a copy:
                    // the connection would live on with nobody to serve it.
                    abortConnection("another mount namespace still holds it");
                }
                return;
            }
            if (r == -Syscalls.EBUSY) {
                List<String> nested = mountsBelow(where);
                if (nested.isEmpty()) {
                    LOG.warn("Mount point {} is busy (a process has a file open or its working directory there); "
                            + "detaching it lazily and aborting the connection: those processes get ENOTCONN", where);
                } else {
                    // A lazy detach takes the mounts below with it: say so, they are somebody else's.
                    LOG.warn("Mount point {} is busy: other mounts are below it ({}), and perhaps open files; "
                            + "detaching it lazily takes those mounts away too, and the connection is aborted",
                            where, String.join(", ", nested));
                }
            } else {
                LOG.warn("umount {} failed with errno {}; detaching lazily", where, -r);
            }
            Syscalls.umount2(where.toString(), Syscalls.MNT_DETACH);
            abortConnection("the mount was busy");
            return;
        }
        if (Syscalls.umount2(where.toString(), 0) == 0) {
            return; // a user with CAP_SYS_ADMIN
        }
        fusermount(where, false);
    }

    /** Mount points strictly below {@code where} in this mount namespace (empty when none or unknown). */
    private static List<String> mountsBelow(Path where) {
        List<String> out = new ArrayList<>();
        try {
            for (MountEntry e : io.fuseguard.kernel.MountTable.read()) {
                Path p = e.mountPoint();
                if (!p.equals(where) && p.startsWith(where)) {
                    out.add(p.toString());
                }
            }
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
        return out;
    }

    private void detachIfOurs() {
        Optional<MountEntry> entry = ourEntry();
        if (entry.isPresent()) {
            if (isRoot()) {
                Syscalls.umount2(entry.get().mountPoint().toString(), Syscalls.MNT_DETACH);
            } else {
                fusermount(entry.get().mountPoint(), true);
            }
        }
    }

    private void fusermount(Path where, boolean lazy) {
        Optional<String> failed = Fusermount.unmount(where, lazy);
        if (failed.isPresent() && !lazy) {
            LOG.warn("fusermount -u {} failed ({}); detaching lazily: the connection ends when the last file on it "
                    + "is closed", where, failed.get());
            fusermount(where, true);
        } else if (failed.isPresent()) {
            LOG.warn("Cannot unmount {}: {}", where, failed.get());
        }
    }

    private static boolean isRoot() {
        return Syscalls.getuid() == 0;
    }

    private void abortConnection(String why) {
        if (connectionId < 0 || !isRoot()) {
            return;
        }
        try {
            FuseControl.ensureMounted();
            FuseControl control = new FuseControl();
            if (control.exists(connectionId)) {
                control.abort(connectionId);
                LOG.info("Aborted FUSE connection {} of {} ({})", connectionId, mountPoint, why);
            }
        } catch (IOException e) {
            LOG.warn("Could not abort FUSE connection {} of {}: {}", connectionId, mountPoint, e.getMessage());
        }
    }
}
