package io.fuseguard.examples.passthrough;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** {@link PassthroughFs} through the kernel, driven by child processes (and the test JVM itself). */
class PassthroughFsMountTest {
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    final Path root = createRoot();
    PassthroughFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false)
            .mountOption("use_ino").fsName("passthrough-test").build());

    private static Path createRoot() {
        return FuseTestSupport.newTempDir("passthrough-root-", "rwx------");
    }

    private PassthroughFs newFs() {
        try {
            fs = new PassthroughFs(root);
            return fs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterEach
    void cleanRoot() throws Exception {
        if (fs != null) {
            fs.close();
        }
        Child.runOk("rm", "-rf", root.toString());
    }

    Path mnt() {
        return fuse.mountPoint();
    }


    @Test
    void mirrorsBothWays() throws Exception {
        Child.runOk("sh", "-c", "printf 'via mount' > " + mnt().resolve("a.txt"));
        assertThat(Files.readString(root.resolve("a.txt"))).isEqualTo("via mount");

        Files.createDirectories(root.resolve("d/e"));
        Files.writeString(root.resolve("d/e/b.txt"), "via host");
        assertThat(Child.runOk("cat", mnt().resolve("d/e/b.txt").toString())).isEqualTo("via host");
        assertThat(Child.runOk("ls", mnt().resolve("d").toString()).trim()).isEqualTo("e");

        Child.runOk("mkdir", "-p", mnt().resolve("x/y").toString());
        Child.runOk("mv", mnt().resolve("a.txt").toString(), mnt().resolve("x/y/moved.txt").toString());
        assertThat(Files.readString(root.resolve("x/y/moved.txt"))).isEqualTo("via mount");
        assertThat(root.resolve("a.txt")).doesNotExist();
        Child.runOk("rm", "-r", mnt().resolve("x").toString());
        assertThat(root.resolve("x")).doesNotExist();

        // a bigger file with random content, copied in and out
        byte[] big = new byte[3 << 20];
        new java.util.Random(7).nextBytes(big);
        Path src = Files.write(root.getParent().resolve(root.getFileName() + "-src.bin"), big);
        try {
            Child.runOk("cp", src.toString(), mnt().resolve("big.bin").toString());
            assertThat(Files.readAllBytes(root.resolve("big.bin"))).isEqualTo(big);
            Child.runOk("dd", "if=/dev/zero", "of=" + mnt().resolve("big.bin"), "bs=1", "count=0", "seek=1000");
            assertThat(Files.size(root.resolve("big.bin"))).isEqualTo(1000);
        } finally {
            Files.deleteIfExists(src);
        }
    }

    @Test
    void preservesModesOwnersTimesAndLinks() throws Exception {
        Path f = mnt().resolve("f");
        Child.runOk("sh", "-c", "umask 022; echo data > " + f);
        Child.runOk("chmod", "4751", f.toString());
        assertThat((Integer) Files.getAttribute(root.resolve("f"), "unix:mode") & 07777).isEqualTo(04751);
        Child.runOk("chown", "1234:2345", f.toString());
        assertThat(Files.getAttribute(root.resolve("f"), "unix:uid")).isEqualTo(1234);
        assertThat(Files.getAttribute(root.resolve("f"), "unix:gid")).isEqualTo(2345);
        // both times: libfuse 2.9 drops a change of only one of them unless the filesystem sets the
        // operations flag utime_omit_ok (a fuse-core matter)
        Child.runOk("touch", "-d", "2001-02-03T04:05:06Z", f.toString());
        assertThat(Files.getLastModifiedTime(root.resolve("f")).toInstant())
                .isEqualTo(Instant.parse("2001-02-03T04:05:06Z"));

        // host-side changes show through the mount
        Files.setAttribute(root.resolve("f"), "unix:mode", 0640);
        Files.setLastModifiedTime(root.resolve("f"), FileTime.from(Instant.parse("1999-12-31T23:59:59Z")));
        // (after the kernel's attribute cache expired: attr_timeout is 1 s by default)
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(
                Child.runOk("stat", "-c", "%a %u %g %Y", f.toString()).trim())
                .isEqualTo("640 1234 2345 " + Instant.parse("1999-12-31T23:59:59Z").getEpochSecond()));

        Child.runOk("ln", f.toString(), mnt().resolve("hard").toString());
        assertThat(Files.getAttribute(root.resolve("f"), "unix:nlink")).isEqualTo(2);
        assertThat(Files.getAttribute(root.resolve("hard"), "unix:ino"))
                .isEqualTo(Files.getAttribute(root.resolve("f"), "unix:ino"));
        assertThat(Child.runOk("stat", "-c", "%h %i", mnt().resolve("hard").toString()).trim())
                .isEqualTo("2 " + Files.getAttribute(root.resolve("f"), "unix:ino"));
    }

    @Test
    void symlinksAreMirroredVerbatimAndTheDaemonNeverFollowsThem() throws Exception {
        Child.runOk("ln", "-s", "/etc", mnt().resolve("etc-link").toString());
        assertThat(Files.isSymbolicLink(root.resolve("etc-link"))).isTrue();
        assertThat(Files.readSymbolicLink(root.resolve("etc-link")).toString()).isEqualTo("/etc");
        assertThat(Child.runOk("readlink", mnt().resolve("etc-link").toString()).trim()).isEqualTo("/etc");
        Child.runOk("ln", "-s", "some//odd/target/", mnt().resolve("odd").toString());
        assertThat(Files.readSymbolicLink(root.resolve("odd")).toString()).isEqualTo("some//odd/target/");

        // a link created on the host that points out of the root: reported as a link, never resolved by the
        // daemon (a client's kernel resolves it against the client's own view)
        Files.createSymbolicLink(root.resolve("passwd-link"), Path.of("/etc/passwd"));
        assertThat(Child.runOk("stat", "-c", "%F", mnt().resolve("passwd-link").toString()).trim())
                .isEqualTo("symbolic link");
        assertThat(Files.readSymbolicLink(mnt().resolve("passwd-link")).toString()).isEqualTo("/etc/passwd");
        // the daemon's own view of the same paths
        assertThat(fs.getattr("/passwd-link").size()).isEqualTo("/etc/passwd".length());
        assertThat(fs.getattr("/passwd-link").type()).isEqualTo(io.fuseguard.api.FileType.SYMLINK);
    }

    @Test
    void extendedAttributesAndStatfs() throws Exception {
        Path f = Files.writeString(mnt().resolve("x"), "x");
        UserDefinedFileAttributeView host = Files.getFileAttributeView(root.resolve("x"),
                UserDefinedFileAttributeView.class);
        try {
            host.list();
        } catch (IOException e) {
            Assumptions.abort("host filesystem has no user xattrs: " + e);
        }
        UserDefinedFileAttributeView v = Files.getFileAttributeView(f, UserDefinedFileAttributeView.class);
        v.write("color", ByteBuffer.wrap("blue".getBytes(StandardCharsets.UTF_8)));
        assertThat(host.list()).containsExactly("color");
        ByteBuffer b = ByteBuffer.allocate(host.size("color"));
        host.read("color", b);
        assertThat(new String(b.array(), StandardCharsets.UTF_8)).isEqualTo("blue");
        host.write("shape", ByteBuffer.wrap("round".getBytes(StandardCharsets.UTF_8)));
        assertThat(v.list()).containsExactlyInAnyOrder("color", "shape");
        v.delete("color");
        assertThat(host.list()).containsExactly("shape");

        FileStore viaMount = Files.getFileStore(mnt());
        FileStore hostStore = Files.getFileStore(root);
        assertThat(viaMount.getTotalSpace()).isEqualTo(hostStore.getTotalSpace());
        List<String> df = List.of(Child.runOk("stat", "-f", "-c", "%c %d", mnt().toString()).trim().split(" "));
        assertThat(Long.parseLong(df.get(0))).as("total inodes").isPositive();
    }

    @Test
    void namesNotValidUtf8AreLeftOutOfListingsAndReportedOncePerDirectory() throws Exception {
        // made directly on the source: two names that a lossy decoding would both show as "bad", two U+FFFD, "name"
        Child.runOk(Edges.python(), "-c", """
                import os, sys
                d = sys.argv[1].encode()
                for n in [b"bad\\xff\\xfename", b"bad\\xfd\\xfename", "good-\\u00fcn\\u00efcode".encode(), b"good"]:
                    os.close(os.open(d + b"/" + n, os.O_CREAT | os.O_WRONLY, 0o644))
                """, root.toString());
        Logger log = (Logger) LoggerFactory.getLogger(PassthroughFs.class);
        ListAppender<ILoggingEvent> events = new ListAppender<>();
        events.start();
        log.addAppender(events);
        try {
            String list = "import os, sys; print(sorted(os.listdir(sys.argv[1].encode())))";
            String expected = "[b'good', b'good-\\xc3\\xbcn\\xc3\\xafcode']";
            assertThat(Child.runOk(Edges.python(), "-c", list, mnt().toString()).trim()).isEqualTo(expected);
            assertThat(Child.runOk(Edges.python(), "-c", list, mnt().toString()).trim()).isEqualTo(expected);
        } finally {
            log.detachAppender(events);
        }
        assertThat(events.list).hasSize(1);
        ILoggingEvent warning = events.list.get(0);
        assertThat(warning.getLevel()).isEqualTo(Level.WARN);
        assertThat(warning.getFormattedMessage()).contains("/: 2 name(s) not valid UTF-8", "bad\\xff\\xfename",
                "bad\\xfd\\xfename");
    }
}
