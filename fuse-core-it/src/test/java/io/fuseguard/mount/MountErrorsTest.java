package io.fuseguard.mount;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Each bad input to mount() is an exception that names the problem and what to do about it. */
class MountErrorsTest {
    @TempDir
    Path tmp;

    @BeforeEach
    void needsFuse() {
        FuseAvailability.assumeUsable();
    }

    private static FuseguardConfig config() {
        return FuseguardConfig.builder().shutdownHook(false).build();
    }

    @Test
    void missingMountPoint() {
        Path missing = tmp.resolve("nope");
        assertThatThrownBy(() -> FuseMount.mount(new SmallFs(), missing, config()))
                .isInstanceOfSatisfying(MountException.class,
                        e -> assertThat(e.reason()).isEqualTo(MountException.Reason.MOUNT_POINT_MISSING))
                .hasMessageContaining("does not exist").hasMessageContaining("mkdir -p");
    }

    @Test
    void mountPointIsAFile() throws Exception {
        Path file = Files.writeString(tmp.resolve("file"), "x");
        assertThatThrownBy(() -> FuseMount.mount(new SmallFs(), file, config()))
                .isInstanceOfSatisfying(MountException.class,
                        e -> assertThat(e.reason()).isEqualTo(MountException.Reason.NOT_A_DIRECTORY))
                .hasMessageContaining("is not a directory");
    }

    @Test
    void nonEmptyMountPointUnlessAsked() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("full"));
        Files.writeString(dir.resolve("x"), "x");
        assertThatThrownBy(() -> FuseMount.mount(new SmallFs(), dir, config()))
                .isInstanceOfSatisfying(MountException.class,
                        e -> assertThat(e.reason()).isEqualTo(MountException.Reason.NOT_EMPTY))
                .hasMessageContaining("is not empty").hasMessageContaining("nonempty");
        FuseguardConfig c = FuseguardConfig.builder().shutdownHook(false).mountOption("nonempty").build();
        try (FuseMount m = FuseMount.mount(new SmallFs(), dir, c)) {
            assertThat(m.isMounted()).isTrue();
        }
    }

    @Test
    void alreadyMounted() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mp"));
        try (FuseMount first = FuseMount.mount(new SmallFs(), dir, config())) {
            assertThat(first.isMounted()).isTrue();
            assertThatThrownBy(() -> FuseMount.mount(new SmallFs(), dir, config()))
                    .isInstanceOfSatisfying(MountException.class,
                            e -> assertThat(e.reason()).isEqualTo(MountException.Reason.ALREADY_MOUNTED))
                    .hasMessageContaining("already a mount point");
        }
    }

    @Test
    void unknownOptionIsRejectedBeforeMounting() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mp"));
        FuseguardConfig c = FuseguardConfig.builder().shutdownHook(false).mountOption("no_such_option").build();
        assertThatThrownBy(() -> FuseMount.mount(new SmallFs(), dir, c))
                .isInstanceOfSatisfying(MountException.class,
                        e -> assertThat(e.reason()).isEqualTo(MountException.Reason.OPTION_REJECTED))
                .hasMessageContaining("no_such_option");
    }

    @Test
    void intrSignalIsRejectedWithTheReason() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mp"));
        FuseguardConfig c = FuseguardConfig.builder().shutdownHook(false).mountOption("intr_signal=10").build();
        assertThatThrownBy(() -> FuseMount.mount(new SmallFs(), dir, c))
                .isInstanceOf(MountException.class).hasMessageContaining("sends that signal to its threads");
    }

    @Test
    void optionTheKernelRejectsIsReportedAndLeavesNoMount() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mp"));
        // A parameter the kernel refuses (blksize is for fuseblk mounts only): its own words, no mount left.
        FuseguardConfig c = FuseguardConfig.builder().shutdownHook(false).mountOption("blksize=4096").build();
        assertThatThrownBy(() -> FuseMount.mount(new SmallFs(), dir, c))
                .isInstanceOfSatisfying(MountException.class,
                        e -> assertThat(e.reason()).isEqualTo(MountException.Reason.OPTION_REJECTED))
                .hasMessageContaining("blksize");
        assertThat(io.fuseguard.kernel.MountTable.load().findByMountPoint(dir)).isEmpty();
    }

    @Test
    void unusableDevice() throws Exception {
        assertThatThrownBy(() -> MountPreflight.checkDevice(tmp.resolve("fuse")))
                .isInstanceOfSatisfying(MountException.class,
                        e -> assertThat(e.reason()).isEqualTo(MountException.Reason.DEVICE_UNUSABLE))
                .hasMessageContaining("does not exist").hasMessageContaining("--device /dev/fuse");
        assertThatThrownBy(() -> MountPreflight.checkDevice(tmp))
                .isInstanceOf(MountException.class).hasMessageContaining("cannot be opened");
    }

    @Test
    void closeIsIdempotentAndMountIsFast() throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mp"));
        FuseMount m = FuseMount.mount(new SmallFs(), dir, config());
        System.out.printf("mount() returned after %d ms%n", m.mountTime().toMillis());
        m.close();
        m.close();
        assertThat(m.isMounted()).isFalse();
        assertThat(io.fuseguard.kernel.MountTable.load().findByMountPoint(dir)).isEmpty();
    }
}
