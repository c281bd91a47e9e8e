package io.fuseguard.mount;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.mount.KernelMount;
import io.fuseguard.internal.mount.MountedDevice;
import io.fuseguard.internal.session.MountOptions;
import io.fuseguard.internal.state.StateJournal;
import io.fuseguard.internal.supervise.SupervisorLink;
import io.fuseguard.internal.supervise.SystemdStore;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A mount whose filesystem runs in a worker process that may die (kill -9, a crash, an OutOfMemoryError) or be
 * replaced (an upgrade) at the cost of a pause for its clients, not an error. This process mounts, holds the
 * connection's {@code /dev/fuse} descriptor (the kernel keeps a connection alive while a process holds one) and a
 * memfd with the state the kernel depends on (INIT's outcome, node ids with their names and lookup counts, open
 * handles), which each worker records as it answers. It starts the worker, and when the worker dies starts the next
 * one (a standby started ahead takes over at once): the new worker receives both descriptors (SCM_RIGHTS),
 * rebuilds its tables from the state, opens still-open files again
 * ({@link io.fuseguard.api.FuseFileSystem#reopen}), and asks the kernel to send again every request the dead
 * worker had read but not answered (FUSE_NOTIFY_RESEND, Linux 6.9 and later). What a client may observe is in
 * docs/supervise.md.
 *
 * <p>A worker is any program that mounts through {@link FuseMount#mount} (or the jnr-fuse adapter): started by a
 * supervisor, it serves the supervisor's mount instead of mounting. A program whose filesystem has side effects at
 * construction (opening a journal, starting uploads) calls {@link #awaitTurn()} first, so a standby constructs it
 * only once it takes over.
 *
 * <p>If this process dies, its workers see the end of their control socket and end the connection, as an
 * unsupervised daemon's death ends it: nothing waits forever. If the connection is ended from outside (aborted
 * through fusectl, or unmounted), no worker can serve it again: supervision ends ({@link #end()}).
 */
public final class Supervisor implements AutoCloseable {
    private static final Log LOG = Log.of(Supervisor.class);
    private static final String HELLO = "FUSEGUARD-SUPERVISOR 1 ";
    /** Deaths of freshly started workers within this window count as a crash loop. */
    private static final Duration CRASH_WINDOW = Duration.ofSeconds(30);
    /** A worker that dies this soon after it took over counts as crashing at start (not as killed later). */
    private static final Duration EARLY_DEATH = Duration.ofSeconds(1);

    /**
     * How workers are run.
     *
     * @param workerCommand    the worker's command line (absolute program path first)
     * @param standby          keep a second worker started and waiting, so a death costs no process start
     * @param workerPidFile    a file that always holds the active worker's pid, or null
     * @param controlDirectory where the control socket ({@code fuseguard restart}) is made, or null for none
     */
    public record Options(List<String> workerCommand, boolean standby, Path workerPidFile, Path controlDirectory) {
        /** Validates and copies. */
        public Options {
            workerCommand = List.copyOf(workerCommand);
            if (workerCommand.isEmpty() || !Path.of(workerCommand.get(0)).isAbsolute()) {
                throw new IllegalArgumentException("the worker command must start with an absolute program path");
            }
        }
    }

    private final Path mountPoint;
    private final FuseguardConfig config;
    private final Options options;
    private final MountedDevice device;
    private final int stateFd;
    private final long connectionId;
    private final CountDownLatch ended = new CountDownLatch(1);
    private final Deque<Long> recentDeaths = new ArrayDeque<>();
    private final List<Duration> pauses = new ArrayList<>();
    private ServerSocketChannel control;
    private Path controlPath;
    private Worker active;
    private Worker standby;
    /** A worker being handed the connection (killed too if the supervisor closes meanwhile). */
    private Worker activating;
    private boolean restarting;
    private final Deque<Long> recentStandbyDeaths = new ArrayDeque<>();
    private volatile boolean closing;
    private int restarts;
    /** Whether systemd's descriptor store holds the connection (it then outlives this process). */
    private volatile boolean stored;
    private volatile boolean resumed;
    /** How the connection ended; null while it is supervised. */
    private volatile MountEnd end;

    private Supervisor(Path mountPoint, FuseguardConfig config, Options options, MountedDevice device, int stateFd,
                       long connectionId) {
        this.mountPoint = mountPoint;
        this.config = config;
        this.options = options;
        this.device = device;
        this.stateFd = stateFd;
        this.connectionId = connectionId;
    }

    /**
     * Mounts {@code mountPoint} (with {@code config}'s mount options) and starts its first worker; returns once the
     * worker answers. Linux 6.9 or later is needed for a worker to take over (FUSE_NOTIFY_RESEND); on an older
     * kernel this refuses with the reason.
     *
     * @throws MountException when the mount or the first worker fails
     */
    public static Supervisor start(Path mountPoint, FuseguardConfig config, Options options) {
        Objects.requireNonNull(options, "options");
        if (config.mount().cloneFd()) {
            // The kernel ends the requests in a clone's processing list with ECONNABORTED when the clone closes,
            // so a dying worker's clones would turn its in-flight requests into errors instead of resent requests.
            throw new MountException(MountException.Reason.OPTION_REJECTED, "clone_fd does not go with a "
                    + "supervised mount: requests a worker had read through its clones would fail when it dies "
                    + "instead of going to the next worker; drop clone_fd (or -o clone_fd) or --supervise");
        }
        MountOptions mountOptions = MountOptions.parse(config.mount().options(), config.mount().maxWrite());
        if (mountOptions.ioUring()) {
            throw new MountException(MountException.Reason.OPTION_REJECTED, "io_uring cannot be combined with a "
                    + "supervised mount: the ring's entries belong to the worker process and die with it, and "
                    + "requests waiting on them would be lost until the kernel resends them; use one or the other");
        }
        Optional<SystemdStore.Kept> kept = SystemdStore.inherited();
        if (kept.isPresent()) {
            Optional<Supervisor> resumed = resume(mountPoint, config, options, kept.get());
            if (resumed.isPresent()) {
                return resumed.get();
            }
        }
        Path real = MountPreflight.check(mountPoint, config.mount().hasOption("nonempty"));
        MountPreflight.checkHelper(mountOptions.kernel());
        if (mountOptions.kernel().contains("auto_unmount")) {
            throw new MountException(MountException.Reason.OPTION_REJECTED, "auto_unmount does not go with a "
                    + "supervised mount: the supervisor keeps the mount across worker restarts and unmounts it "
                    + "itself");
        }
        int stateFd = StateJournal.create();
        MountedDevice device;
        try {
            device = KernelMount.mount(real, mountOptions.kernel(), config.mount().mountTimeout());
        } catch (RuntimeException e) {
            Syscalls.close(stateFd);
            throw e;
        }
        long connection = connectionOf(real);
        Supervisor s = new Supervisor(real, config, options, device, stateFd, connection);
        try {
            s.begin(0);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        return s;
    }

    /**
     * Takes up a mount that systemd kept alive for this service while its previous supervisor was gone (its
     * descriptor store): the mount's connection must be the one the descriptors serve, at {@code mountPoint}.
     * Nothing here touches the mount itself (no worker answers it yet, so a stat would wait). Empty, with the
     * descriptors closed, when the kept connection is not mounted there any more: the caller mounts afresh.
     */
    private static Optional<Supervisor> resume(Path mountPoint, FuseguardConfig config, Options options,
                                               SystemdStore.Kept kept) {
        long t0 = System.nanoTime();
        Path abs = mountPoint.toAbsolutePath().normalize();
        Path wanted;
        try {
            Path parent = abs.getParent();
            wanted = parent == null ? abs : parent.toRealPath().resolve(abs.getFileName());
        } catch (IOException e) {
            wanted = abs;
        }
        MountEntry entry = null;
        try {
            for (MountEntry e : MountTable.read()) {
                if (e.isFuse() && e.connectionId() == kept.connection()) {
                    entry = e;
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot read the mount table to resume connection {}: {}", kept.connection(), e.getMessage());
        }
        if (entry == null || !entry.mountPoint().equals(wanted)) {
            LOG.warn("systemd kept connection {}, but it is {}; ending it and mounting {} afresh",
                    kept.connection(), entry == null ? "no longer mounted" : "mounted at " + entry.mountPoint(),
                    wanted);
            if (entry != null) {
                Syscalls.umount2(entry.mountPoint().toString(), Syscalls.MNT_DETACH);
            }
            Syscalls.close(kept.device());
            Syscalls.close(kept.state());
            SystemdStore.remove(kept.connection());
            return Optional.empty();
        }
        LOG.info("Resuming {} (connection {}) with the descriptors systemd kept while the supervisor was gone",
                wanted, kept.connection());
        Supervisor s = new Supervisor(wanted, config, options, MountedDevice.fromSupervisor(kept.device()),
                kept.state(), kept.connection());
        s.stored = true; // systemd holds them already
        s.resumed = true;
        try {
            s.begin(t0);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        return Optional.of(s);
    }

    private static long connectionOf(Path real) {
        try {
            for (MountEntry e : MountTable.read()) {
                if (e.isFuse() && e.mountPoint().equals(real)) {
                    return e.connectionId();
                }
            }
        } catch (IOException e) {
            throw new MountException(MountException.Reason.MOUNT_FAILED, "cannot read the mount table: "
                    + e.getMessage(), e);
        }
        throw new MountException(MountException.Reason.MOUNT_FAILED, real + " is not in the mount table after "
                + "mounting it");
    }

    /** Starts the first worker ({@code since}: when clients began to wait, for a resumed mount; else 0). */
    private void begin(long since) {
        if (!stored && SystemdStore.available()) {
            Optional<String> failed = SystemdStore.store(connectionId, device.fd(), stateFd);
            stored = failed.isEmpty();
            failed.ifPresent(why -> LOG.warn("{}: systemd's descriptor store is not used ({}); if this supervisor "
                    + "dies, the connection ends", mountPoint, why));
        }
        Worker first = spawn();
        activate(first, since);
        if (options.standby()) {
            startStandby(0);
        }
        openControl();
        LOG.info("Supervising {} (connection {}): worker pid {}{}{}", mountPoint, connectionId, first.pid,
                options.standby() ? ", a standby waits" : "",
                stored ? "; systemd's descriptor store keeps the connection if this supervisor dies" : "");
    }

    // ---- workers -----------------------------------------------------------------------------------------------

    /** One worker process and its control socket. */
    private final class Worker {
        final int pid;
        final int socket;
        final long started = System.nanoTime();
        volatile long activated;
        final CompletableFuture<String> ready = new CompletableFuture<>();
        final CompletableFuture<Void> waiting = new CompletableFuture<>();
        final CompletableFuture<Void> quiesced = new CompletableFuture<>();
        final CompletableFuture<Integer> exit = new CompletableFuture<>();
        volatile CompletableFuture<String> status;
        /** What the worker said ended its connection from outside ({@code ENDED aborted|unmounted}), or null. */
        volatile MountEnd ended;
        /** Completed when the worker's end of its control socket is closed (it exited). */
        final CompletableFuture<Void> linkClosed = new CompletableFuture<>();

        Worker(int pid, int socket) {
            this.pid = pid;
            this.socket = socket;
        }
    }

    private Worker spawn() {
        int[] ends = new int[2];
        int r = Syscalls.socketPair(ends);
        if (r < 0) {
            throw new MountException(MountException.Reason.MOUNT_FAILED, "socketpair failed: errno " + -r);
        }
        List<String> env = new ArrayList<>();
        for (Map.Entry<String, String> e : System.getenv().entrySet()) {
            if (!e.getKey().equals(SupervisorLink.ENV) && !e.getKey().equals("NOTIFY_SOCKET")
                    && !e.getKey().startsWith("LISTEN_")) {
                env.add(e.getKey() + "=" + e.getValue());
            }
        }
        env.add(SupervisorLink.ENV + "=3");
        int pid = Syscalls.spawn(options.workerCommand().get(0), options.workerCommand(), env,
                new int[] {-1, 1, 2, ends[1]});
        Syscalls.close(ends[1]);
        if (pid < 0) {
            Syscalls.close(ends[0]);
            throw new MountException(MountException.Reason.MOUNT_FAILED, "could not start the worker "
                    + options.workerCommand().get(0) + ": errno " + -pid);
        }
        Worker w = new Worker(pid, ends[0]);
        Thread reader = new Thread(() -> read(w), "fuseguard-supervisor-worker-" + pid);
        reader.setDaemon(true);
        reader.start();
        Thread waiter = new Thread(() -> {
            int status = Syscalls.waitpid(pid, false);
            w.exit.complete(status);
            w.ready.completeExceptionally(new IllegalStateException("worker " + pid + " exited (" + status(status)
                    + ")"));
            w.quiesced.complete(null);
            died(w, status);
        }, "fuseguard-supervisor-wait-" + pid);
        waiter.setDaemon(true);
        waiter.start();
        return w;
    }

    private void read(Worker w) {
        long buf = Syscalls.allocate(512);
        StringBuilder line = new StringBuilder();
        try {
            while (true) {
                long n = Syscalls.read(w.socket, buf, 512);
                if (n == -Syscalls.EINTR) {
                    continue;
                }
                if (n <= 0) {
                    return;
                }
                byte[] b = new byte[(int) n];
                Syscalls.getBytes(buf, b, 0, b.length);
                line.append(new String(b, StandardCharsets.UTF_8));
                int nl;
                while ((nl = line.indexOf("\n")) >= 0) {
                    String msg = line.substring(0, nl).trim();
                    line.delete(0, nl + 1);
                    if (msg.equals("WAITING")) {
                        w.waiting.complete(null);
                    } else if (msg.startsWith("READY")) {
                        w.ready.complete(msg);
                    } else if (msg.equals("QUIESCED")) {
                        w.quiesced.complete(null);
                    } else if (msg.startsWith("ENDED ")) {
                        w.ended = msg.endsWith("aborted") ? MountEnd.ABORTED : MountEnd.UNMOUNTED;
                    } else if (msg.startsWith("STATUS ")) {
                        CompletableFuture<String> f = w.status;
                        if (f != null) {
                            f.complete(msg.substring("STATUS ".length()));
                        }
                    }
                }
            }
        } finally {
            Syscalls.free(buf);
            w.linkClosed.complete(null);
        }
    }

    /**
     * Hands the connection to {@code w} and waits until it answers (without holding this supervisor's lock, so that
     * its status stays readable meanwhile). Throws, with {@code w} killed, when it does not take over.
     */
    private void activate(Worker w, long since) {
        synchronized (this) {
            if (closing) {
                Syscalls.kill(w.pid, 9);
                throw new MountException(MountException.Reason.NOT_ANSWERING, "the supervisor is closing");
            }
            activating = w;
        }
        try {
            byte[] hello = (HELLO + connectionId + " " + (stored ? "kept" : "alone") + " " + mountPoint + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            long r = Syscalls.sendDescriptors(w.socket, hello, new int[] {device.fd(), stateFd});
            if (r < 0) {
                Syscalls.kill(w.pid, 9);
                throw new MountException(MountException.Reason.NOT_ANSWERING, "could not hand the connection to "
                        + "worker " + w.pid + ": errno " + -r);
            }
            try {
                w.ready.get(config.mount().mountTimeout().toMillis() + 30_000, TimeUnit.MILLISECONDS);
            } catch (Exception e) {
                Syscalls.kill(w.pid, 9);
                throw new MountException(MountException.Reason.NOT_ANSWERING, "worker " + w.pid + " did not take "
                        + "over " + mountPoint + ": " + (e.getCause() != null ? e.getCause().getMessage()
                        : e.toString()), e);
            }
            checkKernel(w);
            synchronized (this) {
                if (closing) {
                    Syscalls.kill(w.pid, 9);
                    throw new MountException(MountException.Reason.NOT_ANSWERING, "the supervisor is closing");
                }
                active = w;
                w.activated = System.nanoTime();
            }
        } finally {
            synchronized (this) {
                if (activating == w) {
                    activating = null;
                }
            }
        }
        writePidFile(w.pid);
        if (since != 0) {
            Duration pause = Duration.ofNanos(System.nanoTime() - since);
            synchronized (pauses) {
                pauses.add(pause);
            }
        }
    }

    /**
     * Refuses a kernel without FUSE_NOTIFY_RESEND (protocol 7.40, Linux 6.9): requests a dead worker had read would
     * never be answered there, and their callers would wait forever (older kernels have no request timeout
     * either). Told by the first worker's READY line, which carries the protocol version the kernel offered.
     */
    private void checkKernel(Worker w) {
        String[] f = w.ready.getNow("").split(" ");
        if (f.length < 4) {
            return; // a worker of another build: it checks nothing, and neither can we
        }
        String[] v = f[3].split("\\.");
        int major = Integer.parseInt(v[0]);
        int minor = Integer.parseInt(v[1]);
        if (major == 7 && minor < 40) {
            Syscalls.kill(w.pid, 9);
            throw new MountException(MountException.Reason.OPTION_REJECTED, "a supervised mount needs FUSE "
                    + "protocol 7.40 (Linux 6.9 or later) so that a new worker can have the kernel send again what a "
                    + "dead one had read; this kernel speaks 7." + minor + ". Mount without --supervise (a "
                    + "restarted daemon then mounts again over the dead mount)");
        }
    }

    private void died(Worker w, int status) {
        long t0 = System.nanoTime();
        long delay;
        boolean wasActive;
        synchronized (this) {
            wasActive = w == active;
        }
        if (!closing && wasActive && connectionGone()) {
            // No worker can serve an ended connection: respawning would loop forever. How it ended is told by the
            // worker (it saw the end at once, while the mount table still showed an abort), else by the table now.
            try {
                w.linkClosed.get(1, TimeUnit.SECONDS); // its last words are read
            } catch (Exception e) {
                // another process holds its end of the socket: judge by the mount table alone
            }
            MountEnd e = w.ended != null ? w.ended : howEnded();
            synchronized (this) {
                if (active == w) {
                    active = null; // reaped already: nothing to stop
                }
            }
            endedFromOutside(e, "worker pid " + w.pid + (w.ended != null ? " saw it and exited (" : " exited (")
                    + status(status) + ")");
            return;
        }
        synchronized (this) {
            if (w == standby) {
                standby = null;
                if (!closing) {
                    long wait = !w.waiting.isDone() ? standbyBackoff() : 0; // it never got ready: a crash loop?
                    LOG.warn("{}: the standby worker (pid {}) exited ({}); {}", mountPoint, w.pid, status(status),
                            wait > 0 ? "starting another in " + wait + " ms" : "starting another");
                    startStandby(wait);
                }
                return;
            }
            if (w != active || closing) {
                return; // a worker that never took over (its activation failed and is retried), or the end
            }
            active = null;
            restarts++;
            LOG.warn("{}: worker pid {} died ({}); {}", mountPoint, w.pid, status(status),
                    standby != null && !standby.exit.isDone() ? "its standby takes over" : "starting another");
            delay = System.nanoTime() - w.activated < EARLY_DEATH.toNanos() ? backoff() : 0;
        }
        takeOver(t0, delay);
    }

    /**
     * Until a worker serves the connection again (or the supervisor closes): the standby if one waits, else a new
     * worker; a worker that cannot take over (it exits at start, the kernel refuses it, it does not answer) is
     * followed by another after a growing pause, and each attempt says why the last one failed. Clients wait
     * meanwhile (the kernel's request timeout, if set, is their limit), as they would for a slow answer.
     */
    private void takeOver(long since, long firstDelay) {
        long delay = firstDelay;
        int attempt = 0;
        while (!closing) {
            if (delay > 0) {
                LOG.warn("{}: waiting {} ms before the next worker", mountPoint, delay);
                try {
                    Thread.sleep(delay);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            Optional<MountEnd> gone = connectionEnded();
            if (gone.isPresent()) {
                endedFromOutside(gone.get(), "seen before the next worker took over");
                return;
            }
            Worker next;
            synchronized (this) {
                if (active != null || closing) {
                    return;
                }
                next = standby != null && !standby.exit.isDone() ? standby : null;
                standby = null;
            }
            if (next == null) {
                next = spawnQuietly();
            }
            if (next != null) {
                try {
                    activate(next, since);
                    if (options.standby()) {
                        startStandby(0);
                    }
                    LOG.info("{}: worker pid {} took over in {} ms", mountPoint, next.pid,
                            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - since));
                    return;
                } catch (MountException e) {
                    LOG.error("{}: {}", mountPoint, e.getMessage());
                }
            }
            attempt++;
            delay = Math.min(30_000, 500L << Math.min(6, attempt - 1)); // 0.5, 1, 2, 4, 8, 16, 30 s
        }
    }

    /**
     * Whether the connection has ended, and how: the kernel marks the device's poll with POLLERR once a connection
     * is aborted or unmounted (our descriptor keeps the device file open, not the connection); the mount table then
     * tells an abort (the mount point is still mounted, dead) from an unmount (it is gone). Empty while it lives.
     */
    private Optional<MountEnd> connectionEnded() {
        return connectionGone() ? Optional.of(howEnded()) : Optional.empty();
    }

    /** Whether the connection ended (one poll of the device: no request is read). */
    private boolean connectionGone() {
        int r = Syscalls.poll(device.fd(), 0, 0);
        return r > 0 && (r & POLLERR) != 0;
    }

    /** How an ended connection ended: its mount point still mounted (dead) after an abort, gone after an unmount. */
    private MountEnd howEnded() {
        return ourEntry().isPresent() ? MountEnd.ABORTED : MountEnd.UNMOUNTED;
    }

    private static final int POLLERR = 0x8;

    /** The mount table's entry of this supervisor's connection, if it is still mounted. */
    private Optional<MountEntry> ourEntry() {
        try {
            return MountTable.load().findByConnection(connectionId);
        } catch (IOException e) {
            LOG.warn("cannot read the mount table: {}", e.getMessage());
        }
        return Optional.empty();
    }

    /**
     * The connection was ended from outside: supervision ends (one line says why), the workers stop, a dead mount
     * left by an abort is unmounted, and {@link #awaitEnd()} returns; {@link #end()} tells how it ended.
     */
    private void endedFromOutside(MountEnd e, String seen) {
        synchronized (this) {
            if (closing || end != null) {
                return;
            }
            end = e;
        }
        if (e == MountEnd.ABORTED) {
            LOG.error("{}: connection {} was aborted from outside (fuseguard abort, fusectl or the node guard; {}): "
                    + "no worker can serve it any more, so supervision ends and the dead mount is unmounted (a "
                    + "service manager's restart mounts it again)", mountPoint, connectionId, seen);
        } else {
            LOG.warn("{}: connection {} was unmounted from outside ({}): supervision ends", mountPoint, connectionId,
                    seen);
        }
        close();
    }

    /**
     * How the mount ended: {@link MountEnd#CLOSED} after {@link #close()}, {@link MountEnd#ABORTED} or
     * {@link MountEnd#UNMOUNTED} when its connection was ended from outside (then supervision ended by itself).
     * Empty while it is supervised.
     */
    public Optional<MountEnd> end() {
        return Optional.ofNullable(end);
    }

    /** Starts a standby worker after {@code delayMillis} (on a thread of its own when there is a delay). */
    private void startStandby(long delayMillis) {
        if (!options.standby()) {
            return;
        }
        Runnable start = () -> {
            synchronized (this) {
                if (closing || standby != null) {
                    return;
                }
                standby = spawnQuietly();
            }
        };
        if (delayMillis <= 0) {
            start.run();
            return;
        }
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(delayMillis);
            } catch (InterruptedException e) {
                return;
            }
            start.run();
        }, "fuseguard-supervisor-standby");
        t.setDaemon(true);
        t.start();
    }

    private Worker spawnQuietly() {
        try {
            return spawn();
        } catch (MountException e) {
            LOG.error("{}: {}", mountPoint, e.getMessage());
            return null;
        }
    }

    /** Milliseconds to wait before the next start, after a worker died right after it took over. */
    private long backoff() {
        return crashDelay(recentDeaths);
    }

    /** Milliseconds to wait before the next standby, after one exited soon after its start. */
    private long standbyBackoff() {
        return crashDelay(recentStandbyDeaths);
    }

    private static long crashDelay(Deque<Long> deaths) {
        long now = System.nanoTime();
        deaths.addLast(now);
        while (!deaths.isEmpty() && now - deaths.peekFirst() > CRASH_WINDOW.toNanos()) {
            deaths.removeFirst();
        }
        int n = deaths.size();
        return n <= 3 ? 0 : Math.min(30_000, 1000L << Math.min(5, n - 4));
    }

    private static String status(int status) {
        if (status < 0) {
            return "errno " + -status;
        }
        int signal = status & 0x7f;
        return signal == 0 ? "exit " + ((status >> 8) & 0xff) : "signal " + signal;
    }

    private void writePidFile(int pid) {
        Path f = options.workerPidFile();
        if (f == null) {
            return;
        }
        try {
            Path tmp = f.resolveSibling(f.getFileName() + ".tmp");
            Files.writeString(tmp, pid + "\n");
            Files.move(tmp, f, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            LOG.warn("could not write the worker pid file {}: {}", f, e.getMessage());
        }
    }

    // ---- planned restarts ----------------------------------------------------------------------------------

    /**
     * Hands the mount to a new worker (after an upgrade of the program, say) without a client error: the new
     * worker is started first and must be waiting before anything else happens (if it cannot start, the active
     * one simply serves on); then the active one finishes what it runs and takes nothing new, and the new one
     * takes over. Returns the pause clients saw (no request was answered meanwhile).
     *
     * @throws IllegalStateException when there is nothing to hand over from, or the new worker cannot start (the
     *         active one keeps serving), or the hand-over failed (then another worker took over, as after a death)
     */
    public Duration restart() throws InterruptedException {
        Worker old;
        Worker next;
        synchronized (this) {
            if (closing || active == null || restarting) {
                throw new IllegalStateException(restarting ? "a restart is already under way"
                        : "no active worker to hand over from");
            }
            restarting = true;
            old = active;
            next = standby != null && !standby.exit.isDone() ? standby : null;
            standby = null;
        }
        try {
            if (next == null) {
                next = spawn();
            }
            try {
                next.waiting.get(config.mount().mountTimeout().toMillis() + 30_000, TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                Syscalls.kill(next.pid, 9);
                startStandby(0);
                throw new IllegalStateException("the new worker (pid " + next.pid + ") did not start ("
                        + (e.getCause() != null ? e.getCause().getMessage() : "no answer") + "); worker " + old.pid
                        + " keeps serving");
            }
            long t0 = System.nanoTime();
            tell(old, "QUIESCE");
            try {
                old.quiesced.get(config.guard().drainTimeout().toMillis() + 5000, TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                LOG.warn("{}: worker {} did not finish its requests in time; the kernel sends them again to the "
                        + "next", mountPoint, old.pid);
            }
            synchronized (this) {
                if (active == old) {
                    active = null; // its death below is planned
                }
            }
            Syscalls.kill(old.pid, 9);
            try {
                old.exit.get(10, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                LOG.warn("{}: worker {} did not exit after SIGKILL", mountPoint, old.pid);
            }
            synchronized (this) {
                restarts++;
            }
            try {
                activate(next, t0);
            } catch (MountException e) {
                LOG.error("{}: {}", mountPoint, e.getMessage());
                takeOver(t0, 0);
                throw new IllegalStateException("worker " + next.pid + " did not take over (" + e.getMessage()
                        + "); worker " + workerPid() + " serves instead");
            }
            if (options.standby()) {
                startStandby(0);
            }
            Duration pause = Duration.ofNanos(System.nanoTime() - t0);
            LOG.info("{}: handed over from worker {} to worker {} in {} ms", mountPoint, old.pid, next.pid,
                    pause.toMillis());
            return pause;
        } finally {
            synchronized (this) {
                restarting = false;
            }
        }
    }

    private static void tell(Worker w, String line) {
        byte[] b = (line + "\n").getBytes(StandardCharsets.UTF_8);
        Syscalls.sendDescriptors(w.socket, b, new int[0]);
    }

    // ---- the control socket (fuseguard restart) -----------------------------------------------------------

    /** The control socket's path for connection {@code connection} in {@code directory}. */
    public static Path controlSocket(Path directory, long connection) {
        return directory.resolve("supervisor-" + connection + ".sock");
    }

    private void openControl() {
        if (options.controlDirectory() == null) {
            return;
        }
        try {
            Files.createDirectories(options.controlDirectory());
            controlPath = controlSocket(options.controlDirectory(), connectionId);
            Files.deleteIfExists(controlPath);
            control = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            control.bind(UnixDomainSocketAddress.of(controlPath));
            Files.setPosixFilePermissions(controlPath, java.nio.file.attribute.PosixFilePermissions.fromString(
                    "rw-------"));
        } catch (IOException | UnsupportedOperationException e) {
            LOG.warn("{}: no control socket ({}); restarts by SIGHUP only", mountPoint, e.getMessage());
            control = null;
            return;
        }
        Thread t = new Thread(this::serveControl, "fuseguard-supervisor-control");
        t.setDaemon(true);
        t.start();
    }

    private void serveControl() {
        while (!closing) {
            try (SocketChannel c = control.accept()) {
                ByteBuffer in = ByteBuffer.allocate(256);
                c.read(in);
                String cmd = new String(in.array(), 0, in.position(), StandardCharsets.UTF_8).trim();
                String answer;
                if (cmd.equals("RESTART")) {
                    try {
                        answer = "RESTARTED " + restart().toMillis() + " " + workerPid();
                    } catch (RuntimeException e) {
                        answer = "FAILED " + e.getMessage();
                    }
                } else if (cmd.equals("STATUS")) {
                    String standbyState;
                    synchronized (this) {
                        standbyState = standby == null || standby.exit.isDone() ? "none"
                                : standby.waiting.isDone() ? "warm" : "starting";
                    }
                    answer = "WORKER " + workerPid() + " RESTARTS " + restarts() + " STANDBY " + standbyState + " "
                            + workerStatus(Duration.ofSeconds(2)).orElse("worker-status=none");
                } else {
                    answer = "UNKNOWN " + cmd;
                }
                c.write(ByteBuffer.wrap((answer + "\n").getBytes(StandardCharsets.UTF_8)));
            } catch (IOException e) {
                if (closing) {
                    return;
                }
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** How long {@link #requestRestart(Path, long)} waits for the supervisor's answer. */
    public static final Duration RESTART_ANSWER_TIMEOUT = Duration.ofSeconds(120);

    /**
     * Asks the supervisor of the mount at {@code mountPoint} (found through its control socket in
     * {@code directory}) to hand over to a new worker; returns its answer line. Waits up to
     * {@link #RESTART_ANSWER_TIMEOUT}.
     *
     * @throws java.net.SocketTimeoutException when the supervisor does not answer in time (stopped, hung)
     * @throws IOException when nothing listens on the control socket
     */
    public static String requestRestart(Path directory, long connection) throws IOException {
        return requestRestart(directory, connection, RESTART_ANSWER_TIMEOUT);
    }

    /**
     * Asks the supervisor for a planned restart and waits up to {@code timeout} for its answer line (a restart
     * takes a few seconds, the new worker's start and the old one's draining).
     *
     * @throws java.net.SocketTimeoutException when the supervisor does not answer within {@code timeout} (it is
     *         stopped or hung; it may still carry the restart out if it wakes up)
     * @throws IOException when nothing listens on the control socket
     */
    public static String requestRestart(Path directory, long connection, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX);
             java.nio.channels.Selector selector = java.nio.channels.Selector.open()) {
            c.configureBlocking(false); // never block on a supervisor that does not run: not even to connect
            if (!c.connect(UnixDomainSocketAddress.of(controlSocket(directory, connection)))) {
                c.register(selector, java.nio.channels.SelectionKey.OP_CONNECT);
                while (!c.finishConnect()) {
                    awaitReady(selector, deadline, timeout);
                }
            }
            ByteBuffer out = ByteBuffer.wrap("RESTART\n".getBytes(StandardCharsets.UTF_8));
            c.register(selector, java.nio.channels.SelectionKey.OP_WRITE);
            while (out.hasRemaining()) {
                if (c.write(out) == 0) {
                    awaitReady(selector, deadline, timeout);
                }
            }
            c.shutdownOutput();
            c.register(selector, java.nio.channels.SelectionKey.OP_READ);
            ByteBuffer in = ByteBuffer.allocate(512);
            while (in.hasRemaining()) {
                int n = c.read(in);
                if (n < 0) {
                    break; // the supervisor closed: its answer is complete
                }
                if (n == 0) {
                    awaitReady(selector, deadline, timeout);
                }
            }
            return new String(in.array(), 0, in.position(), StandardCharsets.UTF_8).trim();
        }
    }

    private static void awaitReady(java.nio.channels.Selector selector, long deadline, Duration timeout)
            throws IOException {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
            throw new java.net.SocketTimeoutException("the supervisor did not answer within " + timeout.toMillis()
                    + " ms (is it stopped or hung?)");
        }
        selector.select(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
        selector.selectedKeys().clear();
    }

    // ---- the worker's side -----------------------------------------------------------------------------------

    /**
     * In a worker: blocks until the supervisor lets this process serve (a standby waits here until the active
     * worker is gone). Returns at once in a process no supervisor started. Call it before constructing a
     * filesystem whose construction has side effects; {@link FuseMount#mount} then serves the supervisor's mount.
     */
    public static void awaitTurn() {
        SupervisorLink.awaitTurn();
    }

    /** Whether this process was started by a supervisor. */
    public static boolean isWorker() {
        return System.getenv(SupervisorLink.ENV) != null;
    }

    // ---- figures and the end -----------------------------------------------------------------------------

    /** The mount point. */
    public Path mountPoint() {
        return mountPoint;
    }

    /** The FUSE connection id. */
    public long connectionId() {
        return connectionId;
    }

    /**
     * Whether this supervisor took up a mount that systemd's descriptor store kept while the previous supervisor
     * was gone (rather than mounting).
     */
    public boolean resumed() {
        return resumed;
    }

    /** Whether systemd's descriptor store holds the connection, so that it outlives this supervisor. */
    public boolean keptBySystemd() {
        return stored;
    }

    /** The active worker's pid (0 while none is active). */
    public synchronized int workerPid() {
        return active == null ? 0 : active.pid;
    }

    /** The standby worker's pid (0 while none is started). */
    public synchronized int standbyPid() {
        return standby == null ? 0 : standby.pid;
    }

    /** Whether a standby worker is started and waiting to take over (it then takes over in milliseconds). */
    public synchronized boolean standbyReady() {
        return standby != null && standby.waiting.isDone() && !standby.exit.isDone();
    }

    /**
     * The active worker's own counts, as a line of {@code key=value}: {@code nodes} (node ids the kernel may refer
     * to, the root included), {@code handles} (open handles), {@code unmatched} (answers the kernel matched to no
     * waiting request), {@code closework} (close-time work queued or running). Empty when no worker answers within
     * {@code limit}.
     */
    public Optional<String> workerStatus(Duration limit) throws InterruptedException {
        Worker w;
        CompletableFuture<String> f = new CompletableFuture<>();
        synchronized (this) {
            w = active;
            if (w == null) {
                return Optional.empty();
            }
            w.status = f;
            tell(w, "STATUS");
        }
        try {
            return Optional.of(f.get(limit.toMillis(), TimeUnit.MILLISECONDS));
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return Optional.empty();
        }
    }

    /** Workers started after the first (deaths and planned handovers). */
    public synchronized int restarts() {
        return restarts;
    }

    /** The pauses clients saw at each take-over, from the death (or the handover's start) to the next answer. */
    public List<Duration> pauses() {
        synchronized (pauses) {
            return List.copyOf(pauses);
        }
    }

    /**
     * Blocks until the mount ended: {@link #close()}, or its connection ended from outside (aborted or unmounted;
     * {@link #end()} says which), after which supervision ends by itself.
     */
    public void awaitEnd() throws InterruptedException {
        ended.await();
    }

    /**
     * Ends the mount: the active worker finishes what it runs and stops, the standby stops, the mount is
     * unmounted (detached and aborted when busy), the descriptors are closed. Idempotent.
     */
    @Override
    public void close() {
        Worker a;
        Worker b;
        synchronized (this) {
            if (closing) {
                return;
            }
            closing = true;
            if (end == null) {
                end = MountEnd.CLOSED;
            }
            a = active;
            b = standby;
            active = null;
            standby = null;
        }
        Worker c;
        synchronized (this) {
            c = activating;
        }
        for (Worker w : new Worker[] {a, b, c}) {
            if (w == null) {
                continue;
            }
            if (w == a) {
                tell(w, "QUIESCE");
                try {
                    w.quiesced.get(config.guard().drainTimeout().toMillis() + 2000, TimeUnit.MILLISECONDS);
                } catch (Exception e) {
                    // it is killed anyway
                }
            }
            Syscalls.kill(w.pid, 9);
            try {
                w.exit.get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                LOG.warn("{}: worker {} did not exit", mountPoint, w.pid);
            }
            Syscalls.close(w.socket);
        }
        unmount();
        if (stored) {
            SystemdStore.remove(connectionId);
        }
        Syscalls.close(device.fd());
        device.release();
        Syscalls.close(stateFd);
        if (controlPath != null) {
            try {
                control.close();
                Files.deleteIfExists(controlPath);
            } catch (IOException e) {
                // gone already
            }
        }
        if (options.workerPidFile() != null) {
            try {
                Files.deleteIfExists(options.workerPidFile());
            } catch (IOException e) {
                // gone already
            }
        }
        ended.countDown();
        LOG.info("Supervision of {} ended after {} restart(s)", mountPoint, restarts);
        Log.flush(5000);
    }

    private void unmount() {
        if (end == MountEnd.UNMOUNTED || ourEntry().isEmpty()) {
            return; // unmounted already (from outside): never touch what may be mounted there now
        }
        boolean root = Syscalls.getuid() == 0;
        int r = Syscalls.umount2(mountPoint.toString(), 0);
        if (r == 0) {
            return;
        }
        if (root) {
            Syscalls.umount2(mountPoint.toString(), Syscalls.MNT_DETACH);
            try {
                FuseControl.ensureMounted();
                FuseControl c = new FuseControl();
                if (c.exists(connectionId)) {
                    c.abort(connectionId);
                }
            } catch (IOException e) {
                LOG.warn("could not abort connection {}: {}", connectionId, e.getMessage());
            }
        } else {
            io.fuseguard.internal.mount.Fusermount.unmount(mountPoint, true);
        }
    }

    /** Counters by name, for status output. */
    public synchronized Map<String, Object> describe() {
        Map<String, Object> m = new HashMap<>();
        m.put("mountPoint", mountPoint.toString());
        m.put("connection", connectionId);
        m.put("workerPid", workerPid());
        m.put("restarts", restarts);
        return m;
    }
}
