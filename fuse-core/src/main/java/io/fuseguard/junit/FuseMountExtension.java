package io.fuseguard.junit;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.kernel.TaskInfo;
import io.fuseguard.kernel.Tasks;
import io.fuseguard.mount.FuseMount;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Mounts a {@link FuseFileSystem} on a fresh temporary directory for a test and always takes it down again.
 * Register it with {@code @RegisterExtension}: as a {@code static} field it mounts once per test class, as an
 * instance field once per test.
 *
 * <pre>{@code
 * @RegisterExtension
 * final FuseMountExtension fuse = FuseMountExtension.of(MyFs::new);
 *
 * @Test void reads() throws Exception {
 *     assertEquals("hi", Files.readString(fuse.mountPoint().resolve("hello")));
 * }
 * }</pre>
 *
 * <p>Without a usable /dev/fuse (and, for a user who may not mount, fusermount3) the tests are skipped with the
 * reason, except under {@code FUSEGUARD_REQUIRE_FUSE=true} ({@link FuseAvailability#required()}), where they fail;
 * the generic {@code CI} variable plays no part. Cleanup never hangs: {@link FuseMount#close()} answers what is in
 * flight and aborts a busy connection; if the mount is still in the mount table afterwards, the extension aborts its
 * connection through fusectl and detaches it.
 */
public final class FuseMountExtension implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback,
        AfterEachCallback {
    private static final Logger LOG = LoggerFactory.getLogger(FuseMountExtension.class);

    private final Supplier<? extends FuseFileSystem> factory;
    private final FuseguardConfig config;
    private FuseFileSystem fs;
    private FuseMount mount;
    private Path dir;
    private boolean perClass;

    private FuseMountExtension(Supplier<? extends FuseFileSystem> factory, FuseguardConfig config) {
        this.factory = Objects.requireNonNull(factory);
        this.config = Objects.requireNonNull(config);
    }

    /**
     * An extension with a configuration for tests: the test's own JVM is the daemon and reaches the mount
     * through the kernel, so the self-access policy is set to allow (with a warning).
     */
    public static FuseMountExtension of(Supplier<? extends FuseFileSystem> factory) {
        return of(factory, FuseguardConfig.builder()
                .selfAccessPolicy(io.fuseguard.config.SelfAccessPolicy.ALLOW_WITH_WARNING)
                .shutdownHook(false).build());
    }

    /** An extension with the given configuration. */
    public static FuseMountExtension of(Supplier<? extends FuseFileSystem> factory, FuseguardConfig config) {
        return new FuseMountExtension(factory, config);
    }

    /** The mount point of the current mount. */
    public Path mountPoint() {
        if (mount == null) {
            throw new IllegalStateException("not mounted");
        }
        return mount.mountPoint();
    }

    /** The current mount. */
    public FuseMount mount() {
        if (mount == null) {
            throw new IllegalStateException("not mounted");
        }
        return mount;
    }

    /** The filesystem instance being served. */
    public FuseFileSystem fileSystem() {
        return fs;
    }

    @Override
    public void beforeAll(ExtensionContext context) throws Exception {
        perClass = true;
        start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (perClass) {
            stop();
        }
    }

    @Override
    public void beforeEach(ExtensionContext context) throws Exception {
        if (!perClass) {
            start();
        }
    }

    @Override
    public void afterEach(ExtensionContext context) {
        if (!perClass) {
            stop();
        }
    }

    private void start() throws IOException {
        FuseAvailability.assumeUsable();
        Path base = Optional.ofNullable(System.getenv("FUSEGUARD_TEST_TMP")).map(Path::of)
                .orElse(Path.of(System.getProperty("java.io.tmpdir")));
        Files.createDirectories(base);
        dir = Files.createTempDirectory(base, "fuse-");
        fs = factory.get();
        mount = FuseMount.mount(fs, dir, config);
    }

    private void stop() {
        FuseMount m = mount;
        mount = null;
        if (m == null) {
            return;
        }
        try {
            m.close();
        } finally {
            forceCleanup(m);
            try {
                Files.deleteIfExists(dir);
            } catch (IOException e) {
                LOG.warn("Could not remove mount point {}: {}", dir, e.getMessage());
            }
        }
        assertNoChildStuck();
    }

    /** Fails when a process this JVM started is left in uninterruptible sleep ('D'). */
    static void assertNoChildStuck() {
        List<String> stuck = new ArrayList<>();
        for (int pid : Tasks.descendants((int) ProcessHandle.current().pid())) {
            for (TaskInfo t : Tasks.threads(pid)) {
                if (t.isUninterruptible()) {
                    stuck.add(t.pid() + "/" + t.tid() + " (" + t.comm() + ", " + t.wchan() + ")");
                }
            }
        }
        if (!stuck.isEmpty()) {
            throw new AssertionError("processes started by this test are stuck in D state: " + stuck);
        }
    }

    /** If the mount survived close(), abort its connection and detach it, so no test leaves a wedge behind. */
    static void forceCleanup(FuseMount m) {
        try {
            Optional<MountEntry> left = MountTable.load().findByMountPoint(m.mountPoint());
            if (left.isEmpty()) {
                return;
            }
            LOG.error("{} is still mounted after close(); aborting connection {} and detaching it", m.mountPoint(),
                    left.get().connectionId());
            FuseControl.ensureMounted();
            new FuseControl().abort(left.get().connectionId());
            new ProcessBuilder("umount", "-l", m.mountPoint().toString()).inheritIO().start().waitFor();
        } catch (IOException e) {
            LOG.error("Cleanup of {} failed: {}", m.mountPoint(), e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
