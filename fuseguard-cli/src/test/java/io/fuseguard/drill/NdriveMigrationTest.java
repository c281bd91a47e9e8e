package io.fuseguard.drill;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The mission's own target: an ndrive-style jnr-fuse filesystem (uploads in {@code flush}, an uploader started
 * by {@code init} and drained by {@code destroy}, an indexer thread reading its own mount) moved to fuseguard
 * with the one line {@code JnrFuseMount.mount(fs, path, config)} and default configuration, compared with the same
 * class on plain jnr-fuse: nothing lost, no feature broken.
 */
class NdriveMigrationTest {
    /** Twelve everyday shell operations; prints what they produced (the migration report runs them too). */
    private static final String SCRIPT = MigrationReport.SHELL_SCRIPT;

    private Path base;
    private Path store;
    private final List<GuardEvent> events = new CopyOnWriteArrayList<>();
    private final List<AutoCloseable> cleanup = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        FuseAvailability.assumeUsable();
        // World-searchable, so that other users can reach the mount point (the uid test).
        base = Files.createTempDirectory(Path.of("/tmp"), "ndrive-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        store = base.resolve("store");
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = cleanup.size() - 1; i >= 0; i--) {
            cleanup.get(i).close();
        }
        Child.run(Duration.ofSeconds(10), "rm", "-rf", base.toString());
    }

    private Path mountPoint(String name) throws IOException {
        Path mp = Files.createDirectory(base.resolve(name));
        Files.setPosixFilePermissions(mp, PosixFilePermissions.fromString("rwxr-xr-x"));
        return mp;
    }

    private FuseMount adapter(NdriveFs fs, Path mp, FuseguardConfig.Builder config) {
        FuseMount m = JnrFuseMount.mount(fs, mp, config.shutdownHook(false).listener(events::add).build());
        cleanup.add(() -> {
            m.close();
            forceUnmount(mp);
        });
        return m;
    }

    private void plain(NdriveFs fs, Path mp) {
        fs.mount(mp, false, false, new String[0]);
        cleanup.add(() -> {
            fs.umount();
            await().atMost(Duration.ofSeconds(5)).until(() -> mounted(mp).isEmpty());
            forceUnmount(mp);
        });
    }

    private static Optional<MountEntry> mounted(Path mp) throws IOException {
        return MountTable.load().findByMountPoint(mp);
    }

    /** The last resort of a failed test: never leave a mount (or a wedge) behind. */
    private static void forceUnmount(Path mp) throws Exception {
        Optional<MountEntry> e = mounted(mp);
        if (e.isPresent()) {
            FuseControl.ensureMounted();
            new FuseControl().abort(e.get().connectionId());
            Child.run(Duration.ofSeconds(10), "umount", "-l", mp.toString());
        }
    }

    private static String runScript(Path mp) throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(30), "sh", "-c", SCRIPT, "script", mp.toString());
        assertThat(r.exit()).as("script on %s: %s", mp, r.err()).isZero();
        return r.out();
    }

    /** Every file of the tree, with its bytes, read through the mount. */
    private static Map<String, String> files(Path mp) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (var s = Files.walk(mp)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (Files.isRegularFile(p)) {
                    out.put("/" + mp.relativize(p), Files.readString(p));
                }
            }
        }
        return out;
    }

    private static void assertUploaded(Map<String, String> files, NdriveFs.RemoteStore remote) throws IOException {
        for (Map.Entry<String, String> f : files.entrySet()) {
            Path object = remote.objectPath(f.getKey());
            assertThat(object).as("uploaded %s", f.getKey()).exists();
            assertThat(Files.readString(object)).as("content of %s in the store", f.getKey()).isEqualTo(f.getValue());
        }
    }

    @Test
    void shellOperationsAndUploadsMatchPlainJnrFuse() throws Exception {
        NdriveFs.RemoteStore plainStore = new NdriveFs.RemoteStore(store.resolve("plain"));
        Path plainMp = mountPoint("plain");
        NdriveFs plainFs = new NdriveFs(plainStore, plainMp);
        plain(plainFs, plainMp);
        String expected = runScript(plainMp);
        Map<String, String> plainFiles = files(plainMp);

        NdriveFs.RemoteStore guardedStore = new NdriveFs.RemoteStore(store.resolve("guarded"));
        Path mp = mountPoint("guarded");
        NdriveFs fs = new NdriveFs(guardedStore, mp);
        FuseMount m = adapter(fs, mp, FuseguardConfig.builder());
        String actual = runScript(mp);
        assertThat(actual).as("the script's output, byte for byte").isEqualTo(expected);
        Map<String, String> guardedFiles = files(mp);
        assertThat(guardedFiles).isEqualTo(plainFiles);
        assertThat(m.flushRequestsReceived()).as("the kernel sent no FLUSH but the probe's").isEqualTo(1);

        // After close, settled: every file is in the store with its final content, as with plain jnr-fuse.
        assertUploaded(plainFiles, plainStore);
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertUploaded(guardedFiles, guardedStore));
        System.out.printf("flush() calls: plain jnr-fuse %d, fuseguard %d; init/destroy: %d/%d%n",
                plainFs.flushes(), fs.flushes(), fs.inits(), fs.destroys());
        assertThat(fs.flushes()).isPositive();
        assertThat(fs.inits()).isEqualTo(1);

        m.close();
        assertThat(fs.destroys()).as("destroy() forwarded at unmount").isEqualTo(1);
        assertUploaded(guardedFiles, guardedStore);
    }

    @Test
    void aStalledUploadNeitherHoldsCloseNorIsLost() throws Exception {
        NdriveFs.RemoteStore remote = new NdriveFs.RemoteStore(store).latency(0);
        Path mp = mountPoint("m");
        NdriveFs fs = new NdriveFs(remote, mp);
        FuseMount m = adapter(fs, mp, FuseguardConfig.builder());
        remote.stallFor(2_500);
        Child.Result cp = Child.run(Duration.ofSeconds(30), "sh", "-c", "printf 'payload' > " + mp.resolve("slow"));
        System.out.printf("close() while the upload stalls 2.5 s returned after %d ms%n", cp.millis());
        assertThat(cp.exit()).isZero();
        assertThat(cp.millis()).as("close() does not wait for the upload").isLessThan(1_000);
        assertThat(remote.objectPath("/slow")).doesNotExist();
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.exists(remote.objectPath("/slow")));
        assertThat(Files.readString(remote.objectPath("/slow"))).isEqualTo("payload");

        // Unmounting while an upload is stalled: the upload is drained before destroy, nothing is lost.
        remote.stallFor(1_500);
        Child.run(Duration.ofSeconds(30), "sh", "-c", "printf 'last' > " + mp.resolve("last")).assertOk();
        long t0 = System.nanoTime();
        m.close();
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.printf("close() of the mount with a stalled upload pending: %d ms (drains it)%n", ms);
        assertThat(Files.readString(remote.objectPath("/last"))).isEqualTo("last");
        assertThat(fs.destroys()).isEqualTo(1);
    }

    @Test
    void theDaemonsIndexerReadsItsOwnMount() throws Exception {
        Path mp = mountPoint("m");
        NdriveFs fs = new NdriveFs(new NdriveFs.RemoteStore(store), mp).withFile("/index.db", "idx".getBytes());
        adapter(fs, mp, FuseguardConfig.builder());
        fs.startIndexer(true, Duration.ofMillis(50));
        Child.run(Duration.ofSeconds(10), "sh", "-c", "echo one > " + mp.resolve("one")).assertOk();
        await().atMost(Duration.ofSeconds(5)).until(() -> fs.indexed() >= 10);
        assertThat(fs.indexErrors()).as("indexer errors (last: %s)", fs.lastIndexError()).isZero();
    }

    @Test
    void getContextTellsTheRealCallerOfEachRequest() throws Exception {
        Path mp = mountPoint("m");
        NdriveFs fs = new NdriveFs(new NdriveFs.RemoteStore(store), mp).withFile("/shared", "s\n".getBytes());
        adapter(fs, mp, FuseguardConfig.builder().allowOther(true));
        Child.run(Duration.ofSeconds(10), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat",
                mp.resolve("shared").toString()).assertOk();
        assertThat(fs.callerUid("/shared")).as("getContext().uid in read() for a caller of uid 65534")
                .isEqualTo(65534);
        Child.run(Duration.ofSeconds(10), "cat", mp.resolve("shared").toString()).assertOk();
        assertThat(fs.callerUid("/shared")).isZero();
    }

    /**
     * What a close queues is done before what comes after it: an {@code rm} or {@code mv} right after a writer's
     * {@code close()} sees its upload done (never a deleted file left in the store, never bytes uploaded under no
     * name), and an fsync of another handle waits for an earlier handle's upload (never stale content).
     */
    @Test
    void workAfterCloseIsOrderedLikePlainJnrFuse() throws Exception {
        NdriveFs.RemoteStore remote = new NdriveFs.RemoteStore(store).latency(30);
        Path mp = mountPoint("m");
        NdriveFs fs = new NdriveFs(remote, mp);
        FuseMount mount = adapter(fs, mp, FuseguardConfig.builder());
        StringBuilder script = new StringBuilder("cd " + mp + " && for i in $(seq 20); do ");
        script.append("dd if=/dev/zero of=gone-$i bs=1k count=1 2>/dev/null; rm gone-$i; ");
        script.append("printf moved > before-$i; mv before-$i after-$i; done");
        Child.run(Duration.ofSeconds(60), "sh", "-c", script.toString()).assertOk();
        await().atMost(Duration.ofSeconds(10)).until(() -> mount.status().pendingCloseWork() == 0);
        for (int i = 1; i <= 20; i++) {
            assertThat(remote.objectPath("/gone-" + i)).as("deleted right after close").doesNotExist();
            assertThat(remote.objectPath("/before-" + i)).as("uploaded before the rename, as plain jnr-fuse")
                    .hasContent("moved");
        }

        remote.latency(800);
        Child.run(Duration.ofSeconds(10), "sh", "-c", "printf old > " + mp.resolve("f")).assertOk();
        Child.run(Duration.ofSeconds(30), "sh", "-c", "printf new | dd of=" + mp.resolve("f")
                + " conv=fsync 2>/dev/null").assertOk();
        assertThat(remote.objectPath("/f")).as("fsync returned: the newest content is in the store")
                .hasContent("new");
    }

    @Test
    void theDeferredFlushRunsOnBehalfOfWhoeverClosedTheFile() throws Exception {
        Path mp = mountPoint("m");
        NdriveFs fs = new NdriveFs(new NdriveFs.RemoteStore(store), mp).withFile("/shared", "s".getBytes());
        adapter(fs, mp, FuseguardConfig.builder().allowOther(true));
        fs.chmod("/", 0777);
        Child.run(Duration.ofSeconds(10), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c",
                "printf x > " + mp.resolve("mine")).assertOk();
        await().atMost(Duration.ofSeconds(5)).until(() -> fs.callerUid("flush:/mine") != null);
        assertThat(fs.callerUid("flush:/mine")).as("getContext().uid inside the deferred flush").isEqualTo(65534);
    }

    @Test
    void aFailedUploadIsReportedAtFsyncAndToTheListeners() throws Exception {
        NdriveFs.RemoteStore remote = new NdriveFs.RemoteStore(store);
        Path mp = mountPoint("m");
        NdriveFs fs = new NdriveFs(remote, mp);
        adapter(fs, mp, FuseguardConfig.builder());
        remote.failing(true);
        Child.Result r = Child.run(Duration.ofSeconds(10), "dd", "if=/dev/zero", "of=" + mp.resolve("f"), "bs=4k",
                "count=1", "conv=fsync");
        assertThat(r.exit()).as("fsync runs the upload first and reports its failure").isNotZero();
        assertThat(r.err()).contains("Input/output error");
        await().atMost(Duration.ofSeconds(5)).until(() -> events.stream()
                .anyMatch(e -> e.type() == GuardEvent.Type.CLOSE_WORK_FAILED));
        remote.failing(false);
        Child.run(Duration.ofSeconds(10), "dd", "if=/dev/zero", "of=" + mp.resolve("f"), "bs=4k", "count=1",
                "conv=fsync").assertOk();
        assertThat(remote.objectPath("/f")).exists();
    }

    /** A daemon process serving a drill filesystem through fuseguard; prints READY when mounted. */
    private Process daemon(Path mp, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-cp", System.getProperty("java.class.path"), DrillDaemon.class.getName(), "fuseguard",
                mp.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectError(base.resolve("daemon-" + System.nanoTime() + ".log")
                .toFile()).start();
        cleanup.add(() -> {
            p.destroyForcibly();
            p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
            forceUnmount(mp);
        });
        return p;
    }

    private static void awaitReady(Process p) throws Exception {
        String line = DrillRunner.awaitLine(p, "READY", Duration.ofSeconds(30));
        assertThat(line).startsWith("READY");
    }

    /**
     * What the documentation promises about data when the daemon is killed: whatever fsync confirmed is in the
     * store; close-time work still pending at the kill (a stalled upload) is lost, and never leaves a torn
     * object; a new daemon mounts the same store at once.
     */
    @Test
    void killedMidUploadThenRemounted() throws Exception {
        Path mp = mountPoint("m");
        Path storeDir = Files.createDirectories(store);
        Process first = daemon(mp, "fs=ndrive", "store=" + storeDir);
        awaitReady(first);
        Child.run(Duration.ofSeconds(10), "dd", "if=/dev/urandom", "of=" + mp.resolve("durable"), "bs=4k",
                "count=4", "conv=fsync").assertOk();
        assertThat(storeDir.resolve("durable")).as("fsync returned: uploaded").exists().hasSize(16384);

        Files.createFile(storeDir.resolve(".stall"));
        Child.Result close = Child.run(Duration.ofSeconds(10), "sh", "-c", "printf pending > "
                + mp.resolve("pending"));
        assertThat(close.exit()).isZero();
        assertThat(close.millis()).as("close() did not wait for the stalled upload").isLessThan(1000);
        Thread.sleep(300);
        Child.kill9(first);
        assertThat(Child.awaitExit(first, Duration.ofSeconds(5))).as("the killed daemon is gone").isNotNegative();
        Files.delete(storeDir.resolve(".stall"));

        assertThat(storeDir.resolve("durable")).hasSize(16384);
        assertThat(storeDir.resolve("pending")).as("an upload pending at the kill is lost, never torn")
                .doesNotExist();

        // The dead mount is detached as an operator (or the container runtime) would, and a new daemon serves.
        Child.run(Duration.ofSeconds(10), "umount", "-l", mp.toString()).assertOk();
        Process second = daemon(mp, "fs=ndrive", "store=" + storeDir);
        awaitReady(second);
        Child.run(Duration.ofSeconds(10), "sh", "-c", "printf again > " + mp.resolve("again")).assertOk();
        await().atMost(Duration.ofSeconds(5)).until(() -> Files.exists(storeDir.resolve("again")));
        assertThat(storeDir.resolve("durable")).hasSize(16384);
    }

    /** Native buffers are the request threads' own and reused: pushing 2 GiB through the adapter keeps RSS flat. */
    @Test
    void twoGigabytesThroughTheAdapterKeepTheDaemonSmall() throws Exception {
        Path mp = mountPoint("m");
        Process d = daemon(mp, "fs=sink");
        awaitReady(d);
        int pid = (int) d.pid();
        long[] max = {0};
        Thread sampler = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                max[0] = Math.max(max[0], rssKib(pid));
                try {
                    Thread.sleep(100);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        sampler.start();
        Child.Result dd = Child.run(Duration.ofMinutes(3), "dd", "if=/dev/zero", "of=" + mp.resolve("sink"),
                "bs=1M", "count=2048");
        sampler.interrupt();
        sampler.join();
        long after = rssKib(pid);
        System.out.printf("dd of 2 GiB through the adapter (-Xmx256m): %d ms, daemon RSS peak %d MiB, after %d MiB%n",
                dd.millis(), max[0] / 1024, after / 1024);
        assertThat(dd.exit()).isZero();
        assertThat(max[0] / 1024).isLessThan(400);
    }

    private static long rssKib(int pid) {
        try {
            for (String l : Files.readAllLines(Path.of("/proc", Integer.toString(pid), "status"))) {
                if (l.startsWith("VmRSS:")) {
                    return Long.parseLong(l.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            return 0;
        }
        return 0;
    }
}
