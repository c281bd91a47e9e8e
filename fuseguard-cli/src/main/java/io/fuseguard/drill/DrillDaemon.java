package io.fuseguard.drill;

import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.api.OperationKind;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.Supervisor;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The daemon process of a drill scenario: serves {@link DrillFs} with plain jnr-fuse or with fuseguard,
 * optionally holds a file on its own mount and starts client processes doing I/O on it, prints
 * {@code READY} and waits to be killed.
 *
 * <p>Arguments: {@code plain|fuseguard MOUNTPOINT [hold] [clients=N] [stall-flush] [flush-deadline-ms=N]
 * [self-open] [fs=drill|ndrive|sink] [store=DIR] [indexer] [indexer-interval-ms=N] [indexer-report-ms=N]
 * [stall-upload] [policy=default|bounded|no-flush] [self=auto|allow|refuse] [source=DIR] [supervise]
 * [pid-file=FILE] [writeback]}. {@code fs=directory} serves {@link DirectoryJnrFs} of {@code source};
 * {@code supervise} (fuseguard only) makes this process a supervisor whose workers run this same command and serve
 * the mount ({@code pid-file} then holds the active worker's pid). With {@code fs=ndrive} the daemon
 * serves {@link NdriveFs} uploading to {@code store}; {@code indexer} starts its indexer (which keeps
 * {@code /index.db} open on the mount; every second unless {@code indexer-interval-ms} says otherwise);
 * {@code indexer-report-ms} lets it run that long more and prints {@code INDEXER indexed=N errors=N last=...}
 * before {@code READY}; {@code stall-upload} stalls the store and starts a client whose file's upload then
 * hangs. {@code fs=sink} serves {@link SinkFs} (writes counted and dropped). {@code policy} and {@code self} set
 * fuseguard's flush and self-access policies ({@code self=allow} is
 * {@link SelfAccessPolicy#ALLOW_WITH_WARNING}); without them a scenario's own choice (or the defaults) applies.
 * {@code writeback} turns fuseguard's writeback cache option on. Plain jnr-fuse ignores all three.
 */
public final class DrillDaemon {
    private DrillDaemon() {
    }

    /** Entry point. */
    public static void main(String[] args) throws Exception {
        String impl = args[0];
        Path mp = Path.of(args[1]);
        boolean hold = false;
        boolean stallFlush = false;
        boolean selfOpen = false;
        int clients = 0;
        long flushDeadline = 2000;
        String kind = "drill";
        Path store = null;
        boolean indexer = false;
        boolean stallUpload = false;
        long indexerInterval = 1000;
        long indexerReport = -1;
        FlushPolicy policy = null;
        SelfAccessPolicy self = null;
        Path source = null;
        boolean supervise = false;
        Path pidFile = null;
        boolean writeback = false;
        for (int i = 2; i < args.length; i++) {
            String a = args[i];
            if (a.startsWith("source=")) {
                source = Path.of(a.substring(7));
            } else if (a.equals("supervise")) {
                supervise = true;
            } else if (a.startsWith("pid-file=")) {
                pidFile = Path.of(a.substring(9));
            } else if (a.equals("hold")) {
                hold = true;
            } else if (a.equals("stall-flush")) {
                stallFlush = true;
            } else if (a.equals("self-open")) {
                selfOpen = true;
            } else if (a.startsWith("clients=")) {
                clients = Integer.parseInt(a.substring(8));
            } else if (a.startsWith("flush-deadline-ms=")) {
                flushDeadline = Long.parseLong(a.substring(18));
            } else if (a.startsWith("fs=")) {
                kind = a.substring(3);
            } else if (a.startsWith("store=")) {
                store = Path.of(a.substring(6));
            } else if (a.equals("indexer")) {
                indexer = true;
            } else if (a.equals("stall-upload")) {
                stallUpload = true;
            } else if (a.startsWith("indexer-interval-ms=")) {
                indexerInterval = Long.parseLong(a.substring(20));
            } else if (a.startsWith("indexer-report-ms=")) {
                indexerReport = Long.parseLong(a.substring(18));
            } else if (a.startsWith("policy=")) {
                policy = switch (a.substring(7)) {
                    case "default" -> FlushPolicy.DEFERRED;
                    case "bounded" -> FlushPolicy.BOUNDED;
                    case "no-flush" -> FlushPolicy.NO_FLUSH;
                    default -> throw new IllegalArgumentException("unknown policy " + a);
                };
            } else if (a.equals("writeback")) {
                writeback = true;
            } else if (a.startsWith("self=")) {
                self = switch (a.substring(5)) {
                    case "auto" -> SelfAccessPolicy.AUTO;
                    case "allow" -> SelfAccessPolicy.ALLOW_WITH_WARNING;
                    case "refuse" -> SelfAccessPolicy.REFUSE;
                    default -> throw new IllegalArgumentException("unknown self-access policy " + a);
                };
            } else {
                throw new IllegalArgumentException("unknown argument " + a);
            }
        }
        if (supervise && impl.equals("fuseguard") && !Supervisor.isWorker()) {
            // This process supervises; its workers run this same command and serve the mount.
            Supervisor s = Supervisor.start(mp, FuseguardConfig.builder().fsName("drill").build(),
                    new Supervisor.Options(sameCommand(args), true, pidFile, null));
            System.out.println("READY " + ProcessHandle.current().pid() + " supervising, worker " + s.workerPid());
            System.out.flush();
            s.awaitEnd();
            return;
        }
        // Started before anything of the mount is open: see ClientLauncher.
        ClientLauncher launcher = new ClientLauncher();
        Supervisor.awaitTurn(); // a standby worker builds nothing until it takes over
        NdriveFs.RemoteStore remote = null;
        NdriveFs ndrive = null;
        ru.serce.jnrfuse.FuseStubFS fs;
        switch (kind) {
            case "ndrive" -> {
                remote = new NdriveFs.RemoteStore(store);
                byte[] data = new byte[64 * 1024];
                java.util.Arrays.fill(data, (byte) 'd');
                ndrive = new NdriveFs(remote, mp).withFile("/data", data).withFile("/index.db", data)
                        .withFile("/held", new byte[0]);
                fs = ndrive;
            }
            case "sink" -> fs = new SinkFs();
            case "directory" -> fs = new DirectoryJnrFs(java.util.Objects.requireNonNull(source, "fs=directory "
                    + "needs source=DIR"));
            default -> fs = new DrillFs(stallFlush);
        }
        if (impl.equals("plain")) {
            fs.mount(mp, false, false, new String[] {"-o", "big_writes"});
        } else {
            // Defaults: the daemon may hold its own files, as the seed's daemon did (the kernel never sends
            // FLUSH, so that cannot wedge its exit).
            FuseguardConfig.Builder c = FuseguardConfig.builder().fsName("drill");
            if (stallFlush || selfOpen) {
                // The bounded policy still sends FLUSH: a stalled flush is answered at its deadline, and the
                // daemon's own opens are refused (scenario 5 shows it).
                c.flushPolicy(FlushPolicy.BOUNDED).deadline(OperationKind.FLUSH, Duration.ofMillis(flushDeadline));
            }
            if (stallFlush) {
                c.selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING); // its clients run in the same namespace
            }
            if (policy != null) {
                c.flushPolicy(policy);
            }
            if (self != null) {
                c.selfAccessPolicy(self);
            }
            if (writeback) {
                c.writebackCache(true);
            }
            FuseMount m = JnrFuseMount.mount(fs, mp, c.build());
            if (Supervisor.isWorker()) {
                m.awaitUnmount(); // until the supervisor hands over, or is gone
                launcher.close();
                return;
            }
        }
        List<InputStream> held = new ArrayList<>();
        if (selfOpen) {
            try (InputStream in = new FileInputStream(mp.resolve("data").toFile())) {
                System.out.println("SELF_OPEN allowed (" + in.available() + " bytes readable)");
            } catch (IOException e) {
                System.out.println("SELF_OPEN refused: " + e.getMessage());
            }
            System.out.flush();
            System.exit(0);
        }
        if (hold) {
            held.add(new FileInputStream(mp.resolve("held").toFile()));
        }
        if (indexer && ndrive != null) {
            ndrive.startIndexer(true, Duration.ofMillis(indexerInterval));
            long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            // Until it has finished a pass (read every file, index.db held) or was refused (under a refusing
            // self-access policy it always is). Not before: a kill while the daemon's own thread waits for its
            // own mount leaves that thread in the kernel until the kernel request timeout ends the request
            // (SelfRequestKillTest measures that window); the drill's scenarios are about held files.
            while (ndrive.indexerPasses() == 0 && System.nanoTime() < until) {
                Thread.sleep(10);
            }
            if (indexerReport >= 0) {
                Thread.sleep(indexerReport);
                System.out.println("INDEXER indexed=" + ndrive.indexed() + " errors=" + ndrive.indexErrors()
                        + " last=" + ndrive.lastIndexError().replace('\n', ' '));
                System.out.flush();
            }
        }
        if (stallUpload && remote != null) {
            remote.stallFor(Duration.ofHours(1).toMillis());
            // Its close() uploads (plain jnr-fuse: inside close, which then never returns).
            launcher.start("printf upload > " + mp.resolve("upload"));
            Thread.sleep(300);
        }
        for (int i = 0; i < clients; i++) {
            launcher.start("while :; do cat " + mp.resolve("data") + " > /dev/null; echo x >> " + mp.resolve("log-" + i)
                    + "; done");
        }
        // From the mount table, not a stat of the mount: a refusing self-access policy answers that EDEADLK.
        if (io.fuseguard.kernel.MountTable.load().findByMountPoint(mp).isEmpty()) {
            throw new IllegalStateException(mp + " vanished");
        }
        System.out.println("READY " + ProcessHandle.current().pid());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
        held.clear();
    }

    /** This process's command line: the same JVM, JVM options, class path, class and arguments. */
    private static List<String> sameCommand(String[] args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin",
                "java").toString()));
        cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), DrillDaemon.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /**
     * Starts the clients through a shell started before the daemon opened anything on its mount. A process the
     * JVM starts itself inherits the JVM's descriptors and closes them before it runs its program; when one of
     * them is a file of the mount (the indexer's, a held file), that close sends FLUSH, and plain jnr-fuse runs
     * the filesystem's flush inside it: with uploads stalled the new process, and the daemon that waits for it
     * to start, hang before the scenario begins. Real daemons hit the same trap; the drill is about the
     * scenario, so its clients come from a clean parent.
     */
    private static final class ClientLauncher {
        private final Process shell;
        private final java.io.Writer commands;

        ClientLauncher() throws java.io.IOException {
            shell = new ProcessBuilder("sh", "-s").redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            commands = new java.io.OutputStreamWriter(shell.getOutputStream(),
                    java.nio.charset.StandardCharsets.UTF_8);
        }

        /** Ends the launcher shell (its clients run on). */
        void close() {
            shell.destroy();
        }

        /** Starts {@code command} in the background (its output discarded). */
        void start(String command) throws java.io.IOException {
            if (!shell.isAlive()) {
                throw new IllegalStateException("client launcher shell exited: " + shell.exitValue());
            }
            commands.write("( " + command + " ) </dev/null >/dev/null 2>&1 &\n");
            commands.flush();
        }
    }
}
