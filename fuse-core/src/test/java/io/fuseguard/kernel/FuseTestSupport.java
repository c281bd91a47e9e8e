package io.fuseguard.kernel;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Assumptions;

import jnr.ffi.Pointer;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;

/** Real-FUSE helpers for this package's tests: availability check, a stallable FS, a mount. */
final class FuseTestSupport {

    private FuseTestSupport() {
    }

    /**
     * Skips the test when real FUSE is unusable here; on CI ({@code CI=true}) fails instead, so a
     * broken CI machine cannot silently skip the real tests.
     */
    static void assumeFuseUsable() {
        String reason = unusableReason();
        if (reason == null) {
            return;
        }
        if ("true".equalsIgnoreCase(System.getenv("CI"))) {
            fail("real FUSE is required on CI (CI=true) but " + reason);
        }
        Assumptions.assumeTrue(false, "skipping real-FUSE test: " + reason);
    }

    static String unusableReason() {
        Path dev = Paths.get("/dev/fuse");
        if (!Files.exists(dev)) {
            return "/dev/fuse does not exist";
        }
        if (!Files.isReadable(dev) || !Files.isWritable(dev)) {
            return "/dev/fuse is not readable and writable by this user";
        }
        if (!onPath("fusermount") && !onPath("fusermount3")) {
            return "fusermount is not on the PATH (Debian package 'fuse')";
        }
        boolean lib = List.of("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                        "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")
                .stream().anyMatch(d -> Files.exists(Paths.get(d, "libfuse.so.2")));
        if (!lib) {
            return "libfuse.so.2 not found (Debian package 'libfuse2')";
        }
        if (!FuseControl.isMounted()) {
            try {
                FuseControl.ensureMounted();
            } catch (IOException e) {
                return "fusectl is not available: " + e.getMessage();
            }
        }
        return null;
    }

    private static boolean onPath(String exe) {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String d : path.split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Paths.get(d, exe))) {
                return true;
            }
        }
        return Files.isExecutable(Paths.get("/bin", exe)) || Files.isExecutable(Paths.get("/usr/bin", exe));
    }

    /** Base directory for mount points. */
    static Path tmpBase() throws IOException {
        String env = System.getenv("FUSEGUARD_TEST_TMP");
        Path base = env != null && !env.isBlank() ? Paths.get(env) : Paths.get(System.getProperty("java.io.tmpdir"));
        Files.createDirectories(base);
        return base;
    }

    /**
     * A filesystem with an empty root directory; {@code getattr("/stall")} blocks until
     * {@link #release} is counted down (at most 60 s, so a leaked test cannot stall forever).
     */
    static final class StallFs extends FuseStubFS {
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger stalled = new AtomicInteger();
        private final String fsName;

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
    static final class TestMount implements AutoCloseable {
        final StallFs fs;
        final Path mountPoint;
        final MountEntry entry;

        private TestMount(StallFs fs, Path mountPoint, MountEntry entry) {
            this.fs = fs;
            this.mountPoint = mountPoint;
            this.entry = entry;
        }

        static TestMount mount(String name) throws Exception {
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

        long connectionId() {
            return entry.connectionId();
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

    /** Runs a command with a 10 s limit; returns its exit code (-1 on timeout). */
    static int run(String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -1;
        }
        return p.exitValue();
    }
}
