package io.fuseguard.testkit;

import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.DaemonLocator;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.kernel.Tasks;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.Assumptions;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Real-FUSE helpers for tests of the kernel inspection code and of the commands built on it: an availability
 * check, a plain jnr-fuse filesystem whose {@code /stall} blocks, and a mount of it that always cleans up.
 */
public final class FuseTestSupport {

    private FuseTestSupport() {
    }

    /**
     * Skips the test when real FUSE or fusectl is unusable here; with {@code FUSEGUARD_REQUIRE_FUSE=true} (set by
     * {@code .ci/run}) fails instead, so a broken CI machine cannot silently skip the real tests.
     */
    public static void assumeFuseUsable() {
        FuseAvailability.assumeUsable();
        try {
            FuseControl.ensureMounted();
        } catch (IOException e) {
            if (FuseAvailability.required()) {
                fail(FuseAvailability.REQUIRE_ENV + "=true but fusectl is not available: " + e.getMessage());
            }
            Assumptions.abort("skipping: fusectl is not available: " + e.getMessage());
        }
    }

    /** Base directory for mount points. */
    public static Path tmpBase() throws IOException {
        String env = System.getenv("FUSEGUARD_TEST_TMP");
        Path base = env != null && !env.isBlank() ? Paths.get(env) : Paths.get(System.getProperty("java.io.tmpdir"));
        Files.createDirectories(base);
        return base;
    }

    /**
     * A fresh directory under {@link #tmpBase()} with the given POSIX permissions (such as {@code "rwxrwxrwx"}
     * for a directory other test users create in), for field initializers: failures are unchecked.
     */
    public static Path newTempDir(String prefix, String permissions) {
        try {
            Path dir = Files.createTempDirectory(tmpBase(), prefix);
            Files.setPosixFilePermissions(dir, java.nio.file.attribute.PosixFilePermissions.fromString(permissions));
            return dir;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * A filesystem with an empty root directory; {@code getattr("/stall")} blocks until
     * {@link #release} is counted down (at most 60 s, so a leaked test cannot stall forever).
     */
    public static final class StallFs extends FuseStubFS {
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger stalled = new AtomicInteger();
        public final String fsName;

        StallFs(String name) {
            this.fsName = DaemonLocator.fsName(ProcessHandle.current().pid(), name);
        }

        @Override
        protected String getFSName() {
            return fsName;
        }

        @Override
        public int getattr(String path, FileStat stat) {
            if ("/".equals(path)) {
                stat.st_mode.set(FileStat.S_IFDIR | 0755);
                stat.st_nlink.set(2);
                return 0;
            }
            if ("/stall".equals(path)) {
                stalled.incrementAndGet();
                try {
                    release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return -ErrorCodes.ENOENT();
        }

        @Override
        public int readdir(String path, Pointer buf, FuseFillDir filter, long offset, FuseFileInfo fi) {
            filter.apply(buf, ".", null, 0);
            filter.apply(buf, "..", null, 0);
            return 0;
        }
    }

    /** A mounted {@link StallFs}; {@link #close()} aborts, lazily unmounts and releases it. */
    public static final class TestMount implements AutoCloseable {
        public final StallFs fs;
        public final Path mountPoint;
        public final MountEntry entry;

        private TestMount(StallFs fs, Path mountPoint, MountEntry entry) {
            this.fs = fs;
            this.mountPoint = mountPoint;
            this.entry = entry;
        }

        /** Mounts a {@link StallFs} named {@code name} on a fresh directory. */
        public static TestMount mount(String name) throws Exception {
            StallFs fs = new StallFs(name);
            Path dir = Files.createTempDirectory(tmpBase(), name + "-");
            fs.mount(dir, false, false, new String[0]);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (System.nanoTime() < deadline) {
                Optional<MountEntry> e = MountTable.load().findByMountPoint(dir).filter(MountEntry::isFuse);
                if (e.isPresent()) {
                    return new TestMount(fs, dir, e.get());
                }
                Thread.sleep(50);
            }
            fs.release.countDown();
            Files.deleteIfExists(dir);
            throw new IllegalStateException("jnr-fuse mount of " + dir + " did not show up in mountinfo");
        }

        /** The connection id of the mount. */
        public long connectionId() {
            return entry.connectionId();
        }

        /** Starts {@code timeout 20 stat MOUNT/stall}, which blocks in FUSE. */
        public Process startStalledStat() throws IOException {
            return new ProcessBuilder("timeout", "20", "stat", mountPoint.resolve("stall").toString())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        }

        /** Waits until the stat started by {@link #startStalledStat()} waits in FUSE; returns its pid. */
        public int awaitStalled(Process timeoutProcess) {
            int timeoutPid = (int) timeoutProcess.pid();
            FuseControl control = new FuseControl();
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                    .until(() -> control.waiting(connectionId()).orElse(0) >= 1 && fs.stalled.get() >= 1
                            && !Tasks.descendants(timeoutPid).isEmpty());
            int statPid = Tasks.descendants(timeoutPid).get(0);
            await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                    .until(() -> Tasks.tasksWaitingInFuse().stream().anyMatch(t -> t.pid() == statPid));
            return statPid;
        }

        /** Whether the mount is still in the mount table. */
        public boolean stillMounted() throws IOException {
            return MountTable.load().findByMountPoint(mountPoint).filter(MountEntry::isFuse).isPresent();
        }

        @Override
        public void close() throws Exception {
            try {
                FuseControl control = new FuseControl();
                if (control.exists(connectionId())) {
                    control.abort(connectionId());
                }
            } catch (IOException e) {
                // already gone
            }
            try {
                run("fusermount", "-u", "-z", mountPoint.toString());
            } finally {
                fs.release.countDown();
                try {
                    Files.deleteIfExists(mountPoint);
                } catch (IOException e) {
                    // still mounted (unmount failed): leave the directory
                }
            }
        }
    }

    /** Kills a {@code timeout} child and its descendants, by pid. */
    public static void destroy(Process child) {
        if (child == null) {
            return;
        }
        for (int pid : Tasks.descendants((int) child.pid())) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        child.destroyForcibly();
    }

    /** Runs a command with a 10 s limit; returns its exit code (-1 on timeout). */
    static int run(String... command) throws IOException, InterruptedException {
        return Child.run(Duration.ofSeconds(10), command).exit();
    }
}
