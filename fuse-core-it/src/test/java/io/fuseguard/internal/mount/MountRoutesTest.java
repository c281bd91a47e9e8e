package io.fuseguard.internal.mount;

import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.mount.MountException;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Every way fuseguard mounts without libfuse (the new mount API, mount(2), the fusermount helper run as root)
 * makes the mount libfuse 2.9's {@code fuse_mount} made for the same options: same source, type, mount flags and
 * superblock options in /proc/self/mountinfo, which is what tools (and {@code fuseguard connections}) read. The
 * mounts are made and taken down without a daemon: nothing touches them in between (only mountinfo is read), and
 * closing the device ends each connection.
 */
class MountRoutesTest {
    private static final List<List<String>> OPTION_SETS = List.of(
            List.of("fsname=fuseguard:1:routes", "subtype=fuseguard"),
            List.of("fsname=fuseguard:1:routes", "subtype=fuseguard", "ro", "noexec", "noatime"),
            List.of("fsname=fuseguard:1:routes", "subtype=fuseguard", "allow_other", "default_permissions",
                    "max_read=65536"),
            List.of("fsname=fuseguard:1:routes", "subtype=fuseguard", "sync", "dirsync", "suid", "dev"));

    private final List<Path> mountPoints = new ArrayList<>();

    @BeforeEach
    void needsRoot() {
        Edges.assumeFuseAndRoot();
    }

    @AfterEach
    void cleanUp() {
        mountPoints.forEach(Edges::forceUnmount);
    }

    private Path newMountPoint() throws IOException {
        Path p = Edges.newDir("route-").toRealPath();
        mountPoints.add(p);
        return p;
    }

    /** The fields of a mountinfo line tools read: mount options, propagation kinds, type, source, superblock. */
    private static String normalized(String line) {
        String[] halves = line.split(" - ", 2);
        String[] left = halves[0].split(" ");
        List<String> out = new ArrayList<>(List.of(left[5]));
        for (int i = 6; i < left.length; i++) {
            out.add(left[i].replaceAll(":\\d+", "")); // shared:N, master:N: the peer group number differs
        }
        out.add("-");
        out.add(halves[1]);
        return String.join(" ", out);
    }

    private static Optional<String> mountinfoLine(Path mp) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            if (line.split(" ")[4].equals(mp.toString())) {
                return Optional.of(line);
            }
        }
        return Optional.empty();
    }

    private static String libfuseReference(Path mp, List<String> options) throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(30), Edges.java(LibfuseReferenceMount.class, mp.toString(),
                String.join(",", options)));
        String line = r.out().lines().filter(l -> l.startsWith("LINE ")).findFirst()
                .orElseThrow(() -> new AssertionError("libfuse did not mount: " + r.out() + r.err()));
        assertThat(mountinfoLine(mp)).as("the reference mount is gone").isEmpty();
        return normalized(line.substring(5));
    }

    /** Mounts with one method, reads the mount's line, and takes it down again (the connection ends with it). */
    private static String mountedLine(Path mp, List<String> options, KernelMount.Method method) throws IOException {
        MountedDevice d = KernelMount.mount(mp, MountRequest.of(options), method, Duration.ofSeconds(10));
        try {
            return normalized(mountinfoLine(mp).orElseThrow(() -> new AssertionError(method + " left no mount")));
        } finally {
            Syscalls.close(d.fd());
            Syscalls.umount2(mp.toString(), Syscalls.MNT_DETACH);
            d.release();
        }
    }

    @Test
    void everyRouteMountsWhatLibfuseMounted() throws Exception {
        Path mp = newMountPoint();
        for (List<String> options : OPTION_SETS) {
            String reference = libfuseReference(mp, options);
            System.out.printf("libfuse 2.9, -o %s:%n  %s%n", String.join(",", options), reference);
            for (KernelMount.Method m : List.of(KernelMount.Method.NEW_API, KernelMount.Method.MOUNT_SYSCALL,
                    KernelMount.Method.FUSERMOUNT)) {
                assertThat(mountedLine(mp, options, m)).as("%s with -o %s", m, options).isEqualTo(reference);
                assertThat(mountinfoLine(mp)).as("taken down after %s", m).isEmpty();
            }
        }
    }

    @Test
    void asRootTheNewMountApiIsTheDefault() throws Exception {
        Path mp = newMountPoint();
        MountedDevice d = KernelMount.mount(mp, MountRequest.of(OPTION_SETS.get(0)), KernelMount.Method.AUTO,
                Duration.ofSeconds(10));
        try {
            assertThat(d.route()).isEqualTo("new mount API");
            assertThat(d.autoUnmount()).isFalse();
        } finally {
            Syscalls.close(d.fd());
            Syscalls.umount2(mp.toString(), Syscalls.MNT_DETACH);
        }
    }

    @Test
    void theNewMountApiSaysInTheKernelsWordsWhatItRefused() throws Exception {
        Path mp = newMountPoint();
        List<String> options = List.of("fsname=fuseguard:1:routes", "subtype=fuseguard", "blksize=4096");
        assertThatThrownBy(() -> KernelMount.mount(mp, MountRequest.of(options), KernelMount.Method.NEW_API,
                Duration.ofSeconds(10)))
                .isInstanceOfSatisfying(MountException.class,
                        e -> assertThat(e.reason()).isEqualTo(MountException.Reason.OPTION_REJECTED))
                .hasMessageContaining("blksize only supported for fuseblk");
        // mount(2) has only the errno to go on
        assertThatThrownBy(() -> KernelMount.mount(mp, MountRequest.of(options), KernelMount.Method.MOUNT_SYSCALL,
                Duration.ofSeconds(10)))
                .isInstanceOfSatisfying(MountException.class,
                        e -> assertThat(e.reason()).isEqualTo(MountException.Reason.OPTION_REJECTED))
                .hasMessageContaining("EINVAL").hasMessageContaining("blksize=4096");
        assertThat(mountinfoLine(mp)).as("nothing is left mounted").isEmpty();
    }

    @Test
    void theHelpersRefusalIsReportedInItsOwnWords() throws Exception {
        Path mp = newMountPoint();
        List<String> options = List.of("fsname=fuseguard:1:routes", "subtype=fuseguard", "context=x", "blksize=1");
        assertThatThrownBy(() -> KernelMount.mount(mp, MountRequest.of(options), KernelMount.Method.FUSERMOUNT,
                Duration.ofSeconds(10)))
                .isInstanceOfSatisfying(MountException.class,
                        e -> assertThat(e.reason()).isEqualTo(MountException.Reason.OPTION_REJECTED))
                .hasMessageContaining("fusermount").hasMessageContaining("unknown option 'context=x'")
                .hasMessageContaining("exit code 1");
        assertThat(mountinfoLine(mp)).isEmpty();
    }
}
