package io.fuseguard.examples.upload;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The supported subset of {@link CachedUploadFs} through the kernel, mounted as the conformance run mounts it
 * ({@code allowOther}, so the kernel checks permissions): links and special files are refused with EPERM;
 * modes, owners and set-group-ID directories behave as POSIX says and survive a daemon restart.
 */
class CachedUploadFsSubsetTest {
    private static final Duration LIMIT = Duration.ofSeconds(20);
    private static final String NOBODY = "65534";

    final Path work = createWork();
    final DirectoryBackend backend = newBackend(work.resolve("backend"));
    CachedUploadFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false).allowOther(true)
            .mountOption("attr_timeout=0").mountOption("entry_timeout=0").fsName("upload-subset").build());

    private static Path createWork() {
        return FuseTestSupport.newTempDir("upload-subset-", "rwx------");
    }

    private static DirectoryBackend newBackend(Path dir) {
        try {
            return new DirectoryBackend(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private CachedUploadFs newFs() {
        try {
            fs = new CachedUploadFs(work.resolve("cache"), backend);
            return fs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        if (fs != null) {
            fs.close();
        }
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(20, TimeUnit.SECONDS);
    }

    private Path mnt() {
        return fuse.mountPoint();
    }

    private static Child.Result run(String... cmd) throws Exception {
        return Child.run(LIMIT, cmd);
    }

    /** Runs a command as user and group 65534 (nobody), without supplementary groups. */
    private static Child.Result asNobody(String... cmd) throws Exception {
        String[] full = new String[cmd.length + 4];
        full[0] = "setpriv";
        full[1] = "--reuid=" + NOBODY;
        full[2] = "--regid=" + NOBODY;
        full[3] = "--clear-groups";
        System.arraycopy(cmd, 0, full, 4, cmd.length);
        return run(full);
    }

    private static Object attr(Path p, String name) throws IOException {
        return Files.getAttribute(p, "unix:" + name, LinkOption.NOFOLLOW_LINKS);
    }

    @Test
    void linksAndSpecialFilesAreRefusedWithEperm() throws Exception {
        Path file = Files.writeString(mnt().resolve("file"), "x");
        assertThatThrownBy(() -> Files.createSymbolicLink(mnt().resolve("sym"), file))
                .isInstanceOf(FileSystemException.class).hasMessageContaining("Operation not permitted");
        assertThatThrownBy(() -> Files.createLink(mnt().resolve("hard"), file))
                .isInstanceOf(FileSystemException.class).hasMessageContaining("Operation not permitted");
        for (String[] cmd : new String[][] {
                {"mkfifo", mnt().resolve("fifo").toString()},
                {"mknod", mnt().resolve("chr").toString(), "c", "1", "3"},
                {"mknod", mnt().resolve("blk").toString(), "b", "7", "0"},
                {"python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])",
                        mnt().resolve("sock").toString()}}) {
            Child.Result r = run(cmd);
            assertThat(r.exit()).as("%s", String.join(" ", cmd)).isNotZero();
            assertThat(r.err()).as("%s", String.join(" ", cmd)).contains("Operation not permitted");
        }
        // nothing was left behind, and readlink of a plain file is EINVAL, not ENOSYS
        assertThat(Child.runOk("ls", "-A", mnt().toString()).trim()).isEqualTo("file");
        Child.Result readlink = run("readlink", "-v", file.toString());
        assertThat(readlink.exit()).isNotZero();
        assertThat(readlink.err()).contains("Invalid argument");
    }

    /**
     * The directory backend's {@code /.incoming} (its uploads in progress) is a name the mount neither shows nor
     * lets anyone create (review of issue 17, finding 8): creating it answered EIO, every look-up of it logged an
     * ERROR, and files put there were never uploaded. Now it is EPERM to create or rename to, ENOENT to look up,
     * also when a cache written before holds it.
     */
    @Test
    void theBackendsReservedNameIsHiddenAndRefusedWithEperm() throws Exception {
        Child.Result mkdir = run("mkdir", mnt().resolve(".incoming").toString());
        assertThat(mkdir.exit()).isNotZero();
        assertThat(mkdir.err()).contains("Operation not permitted");
        Child.runOk("mkdir", mnt().resolve("d").toString());
        Child.Result mv = run("mv", "-T", mnt().resolve("d").toString(), mnt().resolve(".incoming").toString());
        assertThat(mv.exit()).isNotZero();
        assertThat(mv.err()).contains("Operation not permitted");
        Child.Result touch = run("touch", mnt().resolve(".incoming").toString());
        assertThat(touch.exit()).isNotZero();
        assertThat(touch.err()).contains("Operation not permitted");
        // a cache that holds the name already (written before it was refused): hidden
        Files.createDirectories(fs.cacheFileOf("/.incoming"));
        Files.writeString(fs.cacheFileOf("/.incoming").resolve("old"), "old");
        assertThat(Child.runOk("ls", "-A", mnt().toString()).trim()).isEqualTo("d");
        Child.Result stat = run("stat", mnt().resolve(".incoming").toString());
        assertThat(stat.err()).contains("No such file or directory");
        assertThat(backend.root().resolve(".incoming")).isEmptyDirectory();
    }

    @Test
    void mknodOfARegularFileIsInsideTheSubsetAndUploaded() throws Exception {
        Path f = mnt().resolve("made-by-mknod");
        Child.runOk("python3", "-c", "import os,stat,sys; os.mknod(sys.argv[1], stat.S_IFREG | 0o640)",
                f.toString());
        assertThat(Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)).isTrue();
        assertThat((Integer) attr(f, "mode") & 07777).isEqualTo(0640);
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.pendingPaths().isEmpty());
        assertThat(backend.root().resolve("made-by-mknod")).exists().isEmptyFile();
        Child.Result again = run("python3", "-c", "import os,stat,sys; os.mknod(sys.argv[1], stat.S_IFREG | 0o640)",
                f.toString());
        assertThat(again.err()).contains("File exists");
    }

    @Test
    void modeAndOwnerAreVisibleAndSurviveARestartButNotTheBackend() throws Exception {
        Path f = mnt().resolve("owned.txt");
        Child.runOk("sh", "-c", "printf data > " + f);
        Child.runOk("chown", "1234:5678", f.toString());
        Child.runOk("chmod", "4750", f.toString());
        assertThat(attr(f, "uid")).isEqualTo(1234);
        assertThat(attr(f, "gid")).isEqualTo(5678);
        assertThat((Integer) attr(f, "mode") & 07777).isEqualTo(04750);
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.pendingPaths().isEmpty());
        assertThat(Files.readString(backend.root().resolve("owned.txt"))).isEqualTo("data");

        // a second daemon on the same cache (the first one stopped) shows the same metadata
        fs.close();
        try (CachedUploadFs second = new CachedUploadFs(work.resolve("cache"), backend)) {
            FileAttributes a = second.getattr("/owned.txt");
            assertThat(a.uid()).isEqualTo(1234);
            assertThat(a.gid()).isEqualTo(5678);
            assertThat(a.permissions()).isEqualTo(04750);
        }
        // the backend keeps content only: its copy is the store's own file, not the cache's owner or mode
        assertThat(Files.getAttribute(backend.root().resolve("owned.txt"), "unix:uid")).isNotEqualTo(1234);
        fs = null; // closed above; the extension unmounts
    }

    @Test
    void newEntriesBelongToTheCallerAndTheKernelEnforcesPermissions() throws Exception {
        Child.runOk("chmod", "1777", mnt().toString());
        asNobody("sh", "-c", "printf mine > " + mnt().resolve("nobody.txt")).assertOk();
        asNobody("mkdir", mnt().resolve("nobody-dir").toString()).assertOk();
        for (String name : new String[] {"nobody.txt", "nobody-dir"}) {
            assertThat(attr(mnt().resolve(name), "uid")).as(name).isEqualTo(65534);
            assertThat(attr(mnt().resolve(name), "gid")).as(name).isEqualTo(65534);
        }
        Files.writeString(mnt().resolve("roots.txt"), "root's");
        Child.runOk("chmod", "0600", mnt().resolve("roots.txt").toString());
        assertThat(asNobody("cat", mnt().resolve("roots.txt").toString()).err()).contains("Permission denied");
        assertThat(asNobody("chmod", "0666", mnt().resolve("roots.txt").toString()).err())
                .contains("Operation not permitted");
        // the sticky root: nobody may not remove root's file, root may remove nobody's
        assertThat(asNobody("rm", "-f", mnt().resolve("roots.txt").toString()).err())
                .contains("Operation not permitted");
        Child.runOk("rm", mnt().resolve("nobody.txt").toString());
    }

    @Test
    void aSetGroupIdDirectoryPassesItsGroupOn() throws Exception {
        Path dir = mnt().resolve("shared");
        Child.runOk("mkdir", dir.toString());
        Child.runOk("chown", "0:4321", dir.toString());
        Child.runOk("chmod", "2777", dir.toString());
        asNobody("sh", "-c", "printf x > " + dir.resolve("file")).assertOk();
        asNobody("mkdir", dir.resolve("sub").toString()).assertOk();
        assertThat(attr(dir.resolve("file"), "uid")).isEqualTo(65534);
        assertThat(attr(dir.resolve("file"), "gid")).isEqualTo(4321);
        assertThat(attr(dir.resolve("sub"), "gid")).isEqualTo(4321);
        assertThat((Integer) attr(dir.resolve("sub"), "mode") & 02000).as("set-group-ID inherited").isNotZero();
    }
}
