package io.fuseguard.junit;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Whether real FUSE mounts can be made here, and if not, why. Tests that need the kernel skip with that
 * reason, except under {@code CI=true}, where a machine without FUSE is a failure.
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

    /** Whether this run is CI ({@code CI=true}), where FUSE must be usable. */
    public static boolean isCi() {
        return "true".equalsIgnoreCase(System.getenv("CI"));
    }

    /**
     * Skips the calling test (JUnit assumption) when FUSE is unusable, or fails it under CI.
     */
    public static void assumeUsable() {
        Optional<String> why = unavailableReason();
        if (why.isEmpty()) {
            return;
        }
        if (isCi()) {
            throw new AssertionError("CI=true but FUSE is not usable here: " + why.get()
                    + " (.ci/run installs libfuse2 and fuse and needs /dev/fuse)");
        }
        org.junit.jupiter.api.Assumptions.abort("skipped: FUSE is not usable here: " + why.get());
    }
}
