package io.fuseguard.junit;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Whether real FUSE mounts can be made here, and if not, why. Tests that need the kernel skip with that
 * reason, except when {@value #REQUIRE_ENV}{@code =true} is set, where a machine without FUSE is a failure.
 *
 * <p>The switch is fuseguard's own on purpose: hosted CI services set {@code CI=true} on machines that have no
 * {@code /dev/fuse}, and a user's build there should skip these tests, not fail. Set it where the real-mount tests
 * must run (this project's {@code .ci/run} does), so that a broken machine cannot pass by skipping them.
 */
public final class FuseAvailability {
    private FuseAvailability() {
    }

    /** Why FUSE is unusable here, or empty when mounts can be made. */
    public static Optional<String> unavailableReason() {
        Path dev = Path.of("/dev/fuse");
        if (!Files.exists(dev)) {
            return Optional.of("/dev/fuse does not exist (no fuse kernel module, or a container without "
                    + "--device /dev/fuse)");
        }
        try (RandomAccessFile f = new RandomAccessFile(dev.toFile(), "rw")) {
            f.getFD();
        } catch (IOException e) {
            return Optional.of("/dev/fuse cannot be opened: " + e.getMessage());
        }
        Optional<io.fuseguard.mount.MountException> helper =
                io.fuseguard.internal.mount.KernelMount.missingHelper(java.util.List.of());
        if (helper.isPresent()) {
            return Optional.of(helper.get().getMessage());
        }
        return Optional.empty();
    }

    /** The environment variable that makes an unusable FUSE a test failure instead of a skip. */
    public static final String REQUIRE_ENV = "FUSEGUARD_REQUIRE_FUSE";

    /**
     * Whether FUSE must be usable in this run ({@value #REQUIRE_ENV}{@code =true}): tests that cannot run then
     * fail instead of being skipped.
     */
    public static boolean required() {
        return "true".equalsIgnoreCase(System.getenv(REQUIRE_ENV));
    }

    /**
     * Skips the calling test (JUnit assumption) when FUSE is unusable, or fails it when {@link #required()}.
     */
    public static void assumeUsable() {
        assume(unavailableReason(), required());
    }

    /** Skips ({@code required} false) or fails ({@code required} true) when {@code why} says FUSE is unusable. */
    static void assume(Optional<String> why, boolean required) {
        if (why.isEmpty()) {
            return;
        }
        if (required) {
            throw new AssertionError(REQUIRE_ENV + "=true but FUSE is not usable here: " + why.get());
        }
        org.junit.jupiter.api.Assumptions.abort("skipped: FUSE is not usable here: " + why.get());
    }
}
