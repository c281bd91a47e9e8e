package io.fuseguard.internal.supervise;

import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.sys.Syscalls;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * A worker's end of its supervisor (see {@code io.fuseguard.supervise.Supervisor}): the Unix socket the supervisor
 * passed as the descriptor named by {@value #ENV}, over which it sends the connection's /dev/fuse descriptor and the
 * state journal's memfd (SCM_RIGHTS) with one line {@code FUSEGUARD-SUPERVISOR 1 <connection> <kept|alone> <mount
 * point>}, and later {@code QUIESCE} (hand over: stop taking requests). The worker answers {@code READY},
 * {@code QUIESCED} and {@code LEAVING}. The end of the stream means the supervisor is gone: the worker ends the
 * connection, or, when systemd's descriptor store keeps it ({@code kept}), leaves it to the next supervisor.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class SupervisorLink {
    private static final Log LOG = Log.of(SupervisorLink.class);
    /** The environment variable with the control socket's descriptor number. */
    public static final String ENV = "FUSEGUARD_SUPERVISOR_FD";
    private static final String HELLO = "FUSEGUARD-SUPERVISOR 1 ";
    private static boolean taken;
    /** The link {@link #awaitTurn} received, for the mount that follows. */
    private static SupervisorLink waiting;

    private final int socket;
    private final int device;
    private final int state;
    private final long connectionId;
    private final Path mountPoint;
    private final boolean kept;

    private SupervisorLink(int socket, int device, int state, long connectionId, boolean kept, Path mountPoint) {
        this.socket = socket;
        this.kept = kept;
        this.device = device;
        this.state = state;
        this.connectionId = connectionId;
        this.mountPoint = mountPoint;
    }

    /**
     * The link of this process, if a supervisor started it: taken by the first mount of the process (a second
     * mount in a worker mounts on its own). Fails loudly when the supervisor's mount point is another than
     * {@code mountPoint} (the worker was started for another mount).
     */
    public static synchronized SupervisorLink take(Path mountPoint) {
        if (waiting != null) {
            SupervisorLink l = waiting;
            waiting = null;
            l.check(mountPoint);
            return l;
        }
        SupervisorLink l = receive();
        if (l != null) {
            l.check(mountPoint);
        }
        return l;
    }

    /**
     * Blocks until the supervisor hands this process the connection (a standby worker waits here while another
     * serves); does nothing in a process no supervisor started. The mount that follows takes the link.
     */
    public static synchronized void awaitTurn() {
        if (waiting == null) {
            waiting = receive();
        }
    }

    private void check(Path given) {
        if (given != null && !given.equals(mountPoint)) {
            LOG.warn("this worker was asked to mount {}; it serves its supervisor's mount {}", given, mountPoint);
        }
    }

    private static SupervisorLink receive() {
        String v = System.getenv(ENV);
        if (v == null || v.isBlank() || taken) {
            return null;
        }
        taken = true;
        int socket;
        try {
            socket = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalStateException(ENV + "=" + v + " is not a descriptor number");
        }
        warmUp();
        // The supervisor learns that this process is up and waits (a warm standby takes over in milliseconds).
        byte[] waiting = "WAITING\n".getBytes(StandardCharsets.UTF_8);
        Syscalls.sendDescriptors(socket, waiting, new int[0]);
        byte[][] data = new byte[1][];
        int[][] fds = new int[1][];
        long n = Syscalls.receiveDescriptors(socket, 8192, 4, data, fds);
        if (n <= 0) {
            throw new IllegalStateException("the supervisor (descriptor " + socket + ") sent nothing: "
                    + (n == 0 ? "it is gone" : "errno " + -n));
        }
        String hello = new String(data[0], StandardCharsets.UTF_8).trim();
        if (!hello.startsWith(HELLO) || fds[0].length != 2) {
            throw new IllegalStateException("unexpected message from the supervisor: " + hello + " with "
                    + fds[0].length + " descriptors");
        }
        String[] f = hello.substring(HELLO.length()).split(" ", 3);
        if (f.length != 3 || !(f[1].equals("kept") || f[1].equals("alone"))) {
            throw new IllegalStateException("unexpected message from the supervisor: " + hello);
        }
        return new SupervisorLink(socket, fds[0][0], fds[0][1], Long.parseLong(f[0]), f[1].equals("kept"),
                Path.of(f[2]));
    }

    /** The connection's /dev/fuse descriptor. */
    public int device() {
        return device;
    }

    /**
     * Loads and initializes what a take-over needs (the engine's classes, the logging backend) while this process
     * waits as a standby, so that the take-over itself costs milliseconds, not a cold start.
     */
    private static void warmUp() {
        long t0 = System.nanoTime();
        String[] classes = {"io.fuseguard.mount.FuseMount", "io.fuseguard.internal.session.Session",
            "io.fuseguard.internal.session.Dispatcher", "io.fuseguard.internal.session.EntryRequests",
            "io.fuseguard.internal.session.AttrRequests", "io.fuseguard.internal.session.FileRequests",
            "io.fuseguard.internal.session.DirRequests", "io.fuseguard.internal.session.ConnectionRequests",
            "io.fuseguard.internal.session.ResentRequests", "io.fuseguard.internal.session.CloseWork",
            "io.fuseguard.internal.session.Worker", "io.fuseguard.internal.tree.NodeTable",
            "io.fuseguard.internal.tree.HandleTable", "io.fuseguard.internal.tree.PathLocks",
            "io.fuseguard.internal.state.StateJournal", "io.fuseguard.internal.bridge.JavaFsOps",
            "io.fuseguard.internal.events.EventReporter", "io.fuseguard.metrics.MountMetrics"};
        ClassLoader cl = SupervisorLink.class.getClassLoader();
        for (String c : classes) {
            try {
                Class.forName(c, true, cl);
            } catch (ClassNotFoundException | LinkageError e) {
                // a class of another build: it is loaded when needed
            }
        }
        long replay = io.fuseguard.internal.tree.TakeOverWarmUp.run(); // the journal's replay, compiled
        try {
            // a migrated jnr-fuse filesystem: its binding's first use costs more than the whole take-over
            Class.forName("io.fuseguard.jnr.JnrFuseMount", true, cl).getMethod("warmUp").invoke(null);
        } catch (ReflectiveOperationException | LinkageError e) {
            // not a jnr-fuse worker
        }
        LOG.debug("standby warmed up in {} ms (the replay's part: {} ms)", (System.nanoTime() - t0) / 1_000_000,
                replay);
        Log.flush(5000); // the logging backend's first use (on fuseguard's log thread) takes longest
    }

    /** The state journal's memfd. */
    public int state() {
        return state;
    }

    /** The FUSE connection id. */
    public long connectionId() {
        return connectionId;
    }

    /**
     * Whether systemd's descriptor store keeps the connection: when the supervisor dies, a new one takes it up, so
     * this worker must leave it as it is (no unmount, no abort).
     */
    public boolean keptBySystemd() {
        return kept;
    }

    /** The supervised mount point. */
    public Path mountPoint() {
        return mountPoint;
    }

    /** Tells the supervisor something (one line). */
    public synchronized void tell(String line) {
        byte[] b = (line + "\n").getBytes(StandardCharsets.UTF_8);
        long r;
        long addr = Syscalls.allocate(b.length);
        try {
            Syscalls.putBytes(addr, b, 0, b.length);
            r = Syscalls.write(socket, addr, b.length);
        } finally {
            Syscalls.free(addr);
        }
        if (r == -32) {
            LOG.debug("could not tell the supervisor '{}': it is gone", line); // EPIPE: its end is closed
        } else if (r < 0) {
            LOG.warn("could not tell the supervisor '{}': errno {}", line, -r);
        }
    }

    /**
     * Listens to the supervisor on a thread of its own: {@code onQuiesce} for a planned handover,
     * {@code onGone} when the supervisor's end closed (it died: the connection must end), {@code status} for the
     * supervisor's {@code STATUS} (a line of {@code key=value} counts).
     */
    public void listen(Runnable onQuiesce, Runnable onGone, java.util.function.Supplier<String> status) {
        Thread t = new Thread(() -> {
            StringBuilder line = new StringBuilder();
            long buf = Syscalls.allocate(256);
            try {
                while (true) {
                    long n = Syscalls.read(socket, buf, 256);
                    if (n == -Syscalls.EINTR) {
                        continue;
                    }
                    if (n <= 0) {
                        onGone.run();
                        return;
                    }
                    byte[] b = new byte[(int) n];
                    Syscalls.getBytes(buf, b, 0, b.length);
                    line.append(new String(b, StandardCharsets.UTF_8));
                    int nl;
                    while ((nl = line.indexOf("\n")) >= 0) {
                        String cmd = line.substring(0, nl).trim();
                        line.delete(0, nl + 1);
                        if (cmd.equals("QUIESCE")) {
                            onQuiesce.run();
                        } else if (cmd.equals("STATUS")) {
                            tell("STATUS " + status.get());
                        }
                    }
                }
            } finally {
                Syscalls.free(buf);
            }
        }, "fuseguard-supervisor-link");
        t.setDaemon(true);
        t.start();
    }
}
