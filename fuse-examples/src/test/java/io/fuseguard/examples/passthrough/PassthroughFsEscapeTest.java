package io.fuseguard.examples.passthrough;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileType;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.XattrMode;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Confinement of {@link PassthroughFs} at the Java API level: the kernel resolves symlinks and {@code ..} on the
 * client side, so these are the paths only a buggy kernel, a race or a direct caller could hand the daemon.
 * Whatever it gets, the daemon must never touch anything outside its root.
 */
class PassthroughFsEscapeTest {
    private static final int O_WRONLY = 1;
    private static final int O_RDWR = 2;

    @TempDir
    Path tmp;
    Path root;
    Path outside;
    Path secret;
    PassthroughFs fs;

    @BeforeEach
    void setUp() throws Exception {
        root = Files.createDirectories(tmp.resolve("root"));
        outside = Files.createDirectories(tmp.resolve("outside"));
        secret = Files.writeString(outside.resolve("secret"), "top secret\n");
        Files.createSymbolicLink(root.resolve("etc"), Path.of("/etc"));
        Files.createSymbolicLink(root.resolve("out"), outside);
        Files.createSymbolicLink(root.resolve("secret-link"), secret);
        Files.createSymbolicLink(root.resolve("up"), Path.of("../outside"));
        Files.createDirectories(root.resolve("a"));
        Files.writeString(root.resolve("f"), "inside\n");
        fs = new PassthroughFs(root);
    }

    /** A call of the filesystem that may throw what a handler may. */
    private interface FsCall {
        void run() throws IOException;
    }

    /** The errno the kernel would get for the call: as fuseguard converts what a handler throws. */
    private static Errno errnoOf(FsCall r) {
        try {
            r.run();
        } catch (ErrnoException e) {
            return e.errno();
        } catch (IOException e) {
            Errno errno = Errno.of(e);
            return errno == null ? Errno.EIO : errno;
        }
        return null;
    }

    @Test
    void symlinkInTheMiddleOfAPathIsNeverFollowed() throws Exception {
        assertThat(errnoOf(() -> fs.getattr("/etc/passwd"))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.open("/etc/passwd", OpenFlags.of(0)))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.getattr("/out/secret"))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.open("/up/secret", OpenFlags.of(0)))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.readlink("/out/secret"))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.getxattr("/out/secret", "user.x"))).isEqualTo(Errno.ELOOP);
        assertThat(fs.openHandles()).isZero();
    }

    @Test
    void finalSymlinkIsReportedNotFollowed() throws Exception {
        var a = fs.getattr("/etc");
        assertThat(a.type()).isEqualTo(FileType.SYMLINK);
        assertThat(a.size()).isEqualTo("/etc".length());
        assertThat(fs.readlink("/etc")).isEqualTo("/etc");
        assertThat(fs.readlink("/up")).isEqualTo("../outside");
        assertThat(fs.getattr("/secret-link").type()).isEqualTo(FileType.SYMLINK);
        // O_NOFOLLOW: the daemon refuses to open through the link
        assertThat(errnoOf(() -> fs.open("/secret-link", OpenFlags.of(0)))).isEqualTo(Errno.ELOOP);
        List<String> names = new ArrayList<>();
        assertThat(errnoOf(() -> fs.readdir("/etc", new io.fuseguard.api.DirectorySink() {
            @Override
            public void add(String name) {
                names.add(name);
            }

            @Override
            public void add(String name, io.fuseguard.api.FileAttributes attributes) {
                names.add(name);
            }
        }))).isEqualTo(Errno.ELOOP);
        assertThat(names).isEmpty();
    }

    @Test
    void writesThroughSymlinksNeverLandOutside() throws Exception {
        assertThat(errnoOf(() -> fs.create("/out/evil", 0644, OpenFlags.of(O_WRONLY)))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.open("/secret-link", OpenFlags.of(O_RDWR)))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.open("/out/secret", OpenFlags.of(O_RDWR)))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.truncate("/secret-link", 0))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.truncate("/out/secret", 0))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.mkdir("/out/d", 0755))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.symlink("/etc/shadow", "/out/l"))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.rename("/f", "/out/f"))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.link("/f", "/out/h"))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.unlink("/out/secret"))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.chmod("/out/secret", 0777))).isEqualTo(Errno.ELOOP);
        assertThat(errnoOf(() -> fs.chmod("/secret-link", 0777))).isNotNull();
        assertThat(errnoOf(() -> fs.setxattr("/secret-link", "user.x", new byte[]{1}, XattrMode.SET))).isNotNull();
        assertThat(errnoOf(() -> fs.utimens("/out/secret", Optional.of(java.time.Instant.EPOCH), Optional.of(java.time.Instant.EPOCH))))
                .isEqualTo(Errno.ELOOP);

        try (var s = Files.list(outside)) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactly("secret");
        }
        assertThat(Files.readString(secret)).isEqualTo("top secret\n");
        assertThat(Integer.toOctalString((Integer) Files.getAttribute(secret, "unix:mode") & 0777))
                .isEqualTo("644");
        assertThat(Files.getLastModifiedTime(secret).toInstant()).isAfter(java.time.Instant.EPOCH);
        UserDefinedFileAttributeView x = Files.getFileAttributeView(secret, UserDefinedFileAttributeView.class);
        assertThat(x.list()).isEmpty();
    }

    @Test
    void lchownChangesTheLinkNotItsTarget() throws Exception {
        int targetUid = (Integer) Files.getAttribute(secret, "unix:uid");
        fs.chown("/secret-link", OptionalLong.of(4321), OptionalLong.of(4321));
        assertThat(Files.getAttribute(root.resolve("secret-link"), "unix:uid", LinkOption.NOFOLLOW_LINKS))
                .isEqualTo(4321);
        assertThat(Files.getAttribute(secret, "unix:uid")).isEqualTo(targetUid);
    }

    @Test
    void dotDotAndOddComponentsAreRefused() throws Exception {
        assertThat(errnoOf(() -> fs.create("/a/../../x", 0644, OpenFlags.of(O_WRONLY)))).isEqualTo(Errno.EINVAL);
        assertThat(errnoOf(() -> fs.getattr("/../outside/secret"))).isEqualTo(Errno.EINVAL);
        assertThat(errnoOf(() -> fs.mkdir("/a/./b", 0755))).isEqualTo(Errno.EINVAL);
        assertThat(errnoOf(() -> fs.getattr("//f"))).isEqualTo(Errno.EINVAL);
        assertThat(errnoOf(() -> fs.getattr("relative"))).isEqualTo(Errno.EINVAL);
        assertThat(errnoOf(() -> fs.rename("/f", "/a/../../f2"))).isEqualTo(Errno.EINVAL);
        assertThat(Files.exists(tmp.resolve("x"))).isFalse();
        assertThat(Files.exists(tmp.resolve("f2"))).isFalse();
        assertThat(Files.exists(root.resolve("f"))).isTrue();
    }

    @Test
    void symlinkTargetsAreStoredVerbatimAndMayPointOutside() throws Exception {
        fs.symlink("../../../../etc/shadow", "/a/sneaky");
        fs.symlink("x//y/", "/a/odd");
        assertThat(Files.readSymbolicLink(root.resolve("a/sneaky")).toString()).isEqualTo("../../../../etc/shadow");
        assertThat(Files.readSymbolicLink(root.resolve("a/odd")).toString()).isEqualTo("x//y/");
        assertThat(fs.readlink("/a/odd")).isEqualTo("x//y/");
        assertThat(errnoOf(() -> fs.open("/a/sneaky", OpenFlags.of(0)))).isEqualTo(Errno.ELOOP);
        assertThat(fs.getattr("/a/sneaky").type()).isEqualTo(FileType.SYMLINK);
    }

    @Test
    void ordinaryFilesWork() throws Exception {
        long fh = fs.create("/a/new", 0640, OpenFlags.of(O_RDWR));
        fs.write("/a/new", fh, ByteBuffer.wrap("hello".getBytes(StandardCharsets.UTF_8)), 0);
        ByteBuffer dst = ByteBuffer.allocate(16);
        assertThat(fs.read("/a/new", fh, dst, 0)).isEqualTo(5);
        fs.release("/a/new", fh, OpenFlags.of(0));
        assertThat(fs.getattr("/a/new").permissions()).isEqualTo(0640);
        assertThat(fs.getattr("/a/new").size()).isEqualTo(5);
        assertThat(fs.openHandles()).isZero();
    }
}
