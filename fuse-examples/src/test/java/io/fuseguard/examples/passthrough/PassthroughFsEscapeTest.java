package io.fuseguard.examples.passthrough;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileType;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.XattrMode;
import io.fuseguard.examples.host.BeneathResolver;
import io.fuseguard.examples.host.Entry;
import io.fuseguard.examples.host.Host;
import io.fuseguard.examples.host.HostStat;
import org.junit.jupiter.api.AfterEach;
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

    @AfterEach
    void closeFs() {
        fs.close();
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

    @Test
    void aParentSwappedForASymlinkAfterResolutionIsNotFollowed() throws Exception {
        int rootFd = Host.check(Host.LIBC.openat(Host.AT_FDCWD, root.toString(),
                Host.O_PATH | Host.O_DIRECTORY | Host.O_CLOEXEC, 0), "open root");
        try (Entry e = new BeneathResolver(rootFd).resolve("/a/made-later")) {
            // a host process swaps the checked directory for a symlink to the outside (the old TOCTOU window)
            Files.move(root.resolve("a"), root.resolve("a-old"));
            Files.createSymbolicLink(root.resolve("a"), outside);
            Host.check(Host.LIBC.mkdirat(e.dirfd(), e.name(), 0755), "mkdir");
        } finally {
            Host.close(rootFd);
        }
        assertThat(root.resolve("a-old/made-later")).isDirectory();
        try (var s = Files.list(outside)) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactly("secret");
        }
    }

    @Test
    void withoutOpenat2EachComponentIsCheckedTheSameWay() throws Exception {
        Files.createDirectories(root.resolve("a/b"));
        Files.writeString(root.resolve("a/b/c"), "c");
        int rootFd = Host.check(Host.LIBC.openat(Host.AT_FDCWD, root.toString(),
                Host.O_PATH | Host.O_DIRECTORY | Host.O_CLOEXEC, 0), "open root");
        try {
            BeneathResolver walk = new BeneathResolver(rootFd, false);
            assertThat(errnoOf(() -> walk.resolve("/etc/passwd").close())).isEqualTo(Errno.ELOOP);
            assertThat(errnoOf(() -> walk.resolve("/up/secret").close())).isEqualTo(Errno.ELOOP);
            assertThat(errnoOf(() -> walk.resolve("/f/x").close())).isEqualTo(Errno.ENOTDIR);
            assertThat(errnoOf(() -> walk.resolve("/nope/x").close())).isEqualTo(Errno.ENOENT);
            assertThat(errnoOf(() -> walk.resolve("/a/../f").close())).isEqualTo(Errno.EINVAL);
            try (Entry e = walk.resolve("/a/b/c")) {
                assertThat(HostStat.of(e.dirfd(), e.name(), e.atFlags()).size()).isEqualTo(1);
            }
        } finally {
            Host.close(rootFd);
        }
    }

    @Test
    void pathsLongerThanPathMaxResolveInSteps() throws Exception {
        String name = "n".repeat(250);
        StringBuilder path = new StringBuilder();
        for (int i = 0; i < 20; i++) { // 20 * 251 bytes: beyond PATH_MAX (4096)
            path.append('/').append(name);
            fs.mkdir(path.toString(), 0755);
        }
        assertThat(path.length()).isGreaterThan(4096);
        long fh = fs.create(path + "/leaf", 0600, OpenFlags.of(O_RDWR));
        fs.write(path + "/leaf", fh, ByteBuffer.wrap("deep".getBytes(StandardCharsets.UTF_8)), 0);
        fs.release(path + "/leaf", fh, OpenFlags.of(0));
        assertThat(fs.getattr(path + "/leaf").size()).isEqualTo(4);
        assertThat(fs.getattr(path + "/leaf").permissions()).isEqualTo(0600);
        fs.symlink("/etc", path + "/etc");
        assertThat(errnoOf(() -> fs.getattr(path + "/etc/passwd"))).isEqualTo(Errno.ELOOP);
        // rm walks it relatively; @TempDir's cleanup would fail on a path beyond PATH_MAX
        io.fuseguard.testkit.Child.runOk("rm", "-rf", root.resolve(name).toString());
    }

    @Test
    void readsAndWritesHonourBufferPositions() throws Exception {
        long fh = fs.create("/pos", 0644, OpenFlags.of(O_RDWR));
        ByteBuffer src = ByteBuffer.allocateDirect(16).put("xxhello".getBytes(StandardCharsets.UTF_8)).flip();
        src.position(2);
        assertThat(fs.write("/pos", fh, src.asReadOnlyBuffer(), 3)).isEqualTo(5);
        ByteBuffer dst = ByteBuffer.allocateDirect(16).position(4);
        assertThat(fs.read("/pos", fh, dst, 3)).isEqualTo(5);
        byte[] got = new byte[5];
        dst.flip().position(4);
        dst.get(got);
        assertThat(new String(got, StandardCharsets.UTF_8)).isEqualTo("hello");
        fs.release("/pos", fh, OpenFlags.of(0));
        assertThat(Files.readAllBytes(root.resolve("pos"))).isEqualTo(new byte[]{0, 0, 0, 'h', 'e', 'l', 'l', 'o'});
    }
}
