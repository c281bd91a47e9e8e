package io.fuseguard.examples.memory;

import io.fuseguard.junit.FuseMountExtension;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static io.fuseguard.examples.memory.MountedFsSupport.NOBODY;
import static io.fuseguard.examples.memory.MountedFsSupport.run;
import static io.fuseguard.examples.memory.MountedFsSupport.runAsNobody;
import static io.fuseguard.examples.memory.MountedFsSupport.stat;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Ownership and permissions with a second user: the test JVM is root, programs run as uid/gid 65534 through
 * {@code setpriv}. The mount uses {@code allow_other} (so that user may enter at all) and
 * {@code default_permissions} (so the kernel checks the mode bits MemoryFs reports).
 */
class MemoryFsAccessTest {
    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(() -> new MemoryFs(), MountedFsSupport.config());

    private Path shared;

    private Path mnt(String name) {
        return fuse.mountPoint().resolve(name);
    }

    @BeforeEach
    void sharedDirectory() throws Exception {
        shared = mnt("shared");
        Files.createDirectory(shared);
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
        run("chmod", "+t", shared.toString()).assertOk(); // 1777, like /tmp
        assertThat(stat("%a", shared)).isEqualTo("1777");
    }

    @Test
    void newFilesAndDirectoriesBelongToTheCallingUser() {
        runAsNobody("touch", shared.resolve("mine").toString()).assertOk();
        runAsNobody("mkdir", shared.resolve("mydir").toString()).assertOk();
        runAsNobody("ln", "-s", "mine", shared.resolve("mylink").toString()).assertOk();
        assertThat(stat("%u %g", shared.resolve("mine"))).isEqualTo(NOBODY + " " + NOBODY);
        assertThat(stat("%u %g", shared.resolve("mydir"))).isEqualTo(NOBODY + " " + NOBODY);
        assertThat(stat("%u %g", shared.resolve("mylink"))).isEqualTo(NOBODY + " " + NOBODY);
        // The kernel applied the caller's umask (022) before MemoryFs saw the mode.
        assertThat(stat("%a", shared.resolve("mine"))).isEqualTo("644");
    }

    @Test
    void permissionBitsAreEnforcedForOtherUsers() throws Exception {
        Path secret = mnt("secret");
        Files.writeString(secret, "top secret");
        run("chmod", "600", secret.toString()).assertOk();
        MountedFsSupport.Result denied = runAsNobody("cat", secret.toString());
        assertThat(denied.exit()).isNotZero();
        assertThat(denied.err()).contains("Permission denied");

        run("chmod", "644", secret.toString()).assertOk();
        assertThat(runAsNobody("cat", secret.toString()).assertOk().out()).isEqualTo("top secret");
        MountedFsSupport.Result write = runAsNobody("sh", "-c", "echo overwrite > " + secret);
        assertThat(write.err()).contains("Permission denied");
        assertThat(Files.readString(secret)).isEqualTo("top secret");

        // The root directory is 0755 root: nobody may not create entries in it.
        assertThat(runAsNobody("mkdir", mnt("intruder").toString()).err()).contains("Permission denied");
        assertThat(Files.exists(mnt("intruder"))).isFalse();
        // Nor change a mode or owner that is not theirs.
        assertThat(runAsNobody("chmod", "777", secret.toString()).err()).contains("Operation not permitted");
        assertThat(stat("%a", secret)).isEqualTo("644");
    }

    @Test
    void stickyDirectoryOnlyLetsOwnersRemoveEntries() throws Exception {
        Path rootFile = shared.resolve("roots");
        Files.writeString(rootFile, "root's file");
        run("chmod", "666", rootFile.toString()).assertOk(); // writable by all, still not removable by all

        MountedFsSupport.Result rm = runAsNobody("rm", "-f", rootFile.toString());
        assertThat(rm.exit()).isNotZero();
        assertThat(rm.err()).contains("Operation not permitted");
        runAsNobody("touch", shared.resolve("nobodys").toString()).assertOk();
        MountedFsSupport.Result mv = runAsNobody("mv", "-f", shared.resolve("nobodys").toString(),
                rootFile.toString());
        assertThat(mv.exit()).isNotZero();
        assertThat(Files.readString(rootFile)).isEqualTo("root's file");
        // Writing the content is allowed by the mode bits; only the name is protected.
        runAsNobody("sh", "-c", "echo changed > " + rootFile).assertOk();
        assertThat(Files.readString(rootFile)).isEqualTo("changed\n");

        runAsNobody("rm", shared.resolve("nobodys").toString()).assertOk(); // own file: allowed
        assertThat(Files.exists(shared.resolve("nobodys"))).isFalse();

        runAsNobody("touch", shared.resolve("nobodys2").toString()).assertOk();
        run("rm", shared.resolve("nobodys2").toString()).assertOk(); // root: allowed
        run("rm", rootFile.toString()).assertOk();
        try (var s = Files.list(shared)) {
            assertThat(s.toList()).isEmpty();
        }
    }
}
