package io.fuseguard.examples.upload;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link CachedUploadFs} serves a tree deeper than PATH_MAX, as any filesystem may hold: through a real mount a
 * script walks 25 levels of 200-character names one relative step at a time (the path of the leaf is over
 * 5000 bytes, and the cache directory comes in front of it on the host) and creates, writes, reads, chmods,
 * renames, unlinks and removes there. The file is uploaded under its full path, and a second daemon on the same
 * cache (with an empty backend, so the cache alone answers) reads it back with its mode.
 *
 * <p>The backend is a {@link DirectoryBackend}, which reaches its own tree with descriptors as well (an S3
 * backend could not hold such a path: its keys stop at 1024 bytes).
 */
class CachedUploadFsDeepPathTest {
    private static final String LEVEL = "d".repeat(200);
    private static final int LEVELS = 25;
    private static final String SCRIPT = """
            import errno, os, sys, time
            os.umask(0o022)
            os.chdir(sys.argv[1])
            os.mkdir("deep")
            os.chdir("deep")
            for i in range(%d):
                os.mkdir("%s")
                os.chdir("%s")
            def step(name, fn):
                try:
                    r = fn()
                    print(name + ": ok" + ("" if r is None else " " + str(r)), flush=True)
                except OSError as e:
                    print(name + ": " + errno.errorcode.get(e.errno, str(e.errno)), flush=True)
            def create():
                fd = os.open("leaf", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                os.write(fd, b"hello deep")
                os.close(fd)
            step("create", create)
            step("read", lambda: open("leaf").read())
            step("chmod", lambda: os.chmod("leaf", 0o640))
            step("mode", lambda: oct(os.stat("leaf").st_mode & 0o7777))
            step("mkdir", lambda: os.mkdir("sub"))
            step("rename", lambda: os.rename("leaf", "sub/leaf2"))
            step("old-name", lambda: os.stat("leaf"))
            step("read-renamed", lambda: open("sub/leaf2").read())
            step("create-doomed", lambda: open("doomed", "w").write("x"))
            step("unlink", lambda: os.unlink("doomed"))
            step("unlinked", lambda: os.stat("doomed"))
            step("mkdir-empty", lambda: os.mkdir("empty"))
            step("rmdir", lambda: os.rmdir("empty"))
            def listing():
                # The kernel sends a closed file's RELEASE in the background: an unlink that overtakes it finds
                # the file still open and hides it (.fuse_hidden*, as libfuse does) until the release arrives.
                for _ in range(100):
                    names = sorted(os.listdir("."))
                    if not any(n.startswith(".fuse_hidden") for n in names):
                        break
                    time.sleep(0.05)
                return names
            step("listing", listing)
            """.formatted(LEVELS, LEVEL, LEVEL);

    final Path work = createWork();
    final DirectoryBackend backend = newBackend(work.resolve("backend"));
    CachedUploadFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false)
            .mountOption("attr_timeout=0").mountOption("entry_timeout=0").fsName("upload-deep").build());

    private static Path createWork() {
        return FuseTestSupport.newTempDir("upload-deep-", "rwx------");
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
        // rm -rf walks with relative steps itself, so it removes a tree deeper than PATH_MAX
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(20, TimeUnit.SECONDS);
    }

    @Test
    void aTreeDeeperThanPathMaxWorksIsUploadedAndIsReadBackAfterARestart() throws Exception {
        String dir = "/deep" + ("/" + LEVEL).repeat(LEVELS);
        String leaf = dir + "/sub/leaf2";
        assertThat(fuse.mountPoint().toString().length() + leaf.length()).isGreaterThan(4096);

        Child.Result r = Child.run(Duration.ofSeconds(60), "python3", "-c", SCRIPT, fuse.mountPoint().toString())
                .assertOk();
        assertThat(r.out().lines().toList()).containsExactly(
                "create: ok",
                "read: ok hello deep",
                "chmod: ok",
                "mode: ok 0o640",
                "mkdir: ok",
                "rename: ok",
                "old-name: ENOENT",
                "read-renamed: ok hello deep",
                "create-doomed: ok 1",
                "unlink: ok",
                "unlinked: ENOENT",
                "mkdir-empty: ok",
                "rmdir: ok",
                "listing: ok ['sub']");

        // uploaded under its full path; the old name and the unlinked file are gone from the backend
        assertThat(fs.awaitIdle(Duration.ofSeconds(20))).as("pending: %s", fs.pendingPaths()).isTrue();
        try (InputStream in = backend.get(leaf)) {
            assertThat(new String(in.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("hello deep");
        }
        assertThat(backend.list(dir)).extracting(BackendEntry::name).containsExactly("sub");
        assertThat(backend.stat(dir + "/leaf")).isEmpty();
        assertThat(backend.stat(dir + "/doomed")).isEmpty();

        // a second daemon on the same cache, with an empty backend: the cache alone has content and mode
        fs.close();
        fs = null; // closed; the extension unmounts
        try (CachedUploadFs second = new CachedUploadFs(work.resolve("cache"),
                newBackend(work.resolve("empty-backend")))) {
            FileAttributes a = second.getattr(leaf);
            assertThat(a.type()).isEqualTo(FileType.REGULAR);
            assertThat(a.permissions()).isEqualTo(0640);
            assertThat(a.size()).isEqualTo(10);
            long fh = second.open(leaf, OpenFlags.of(0));
            ByteBuffer buf = ByteBuffer.allocate(64);
            int n = second.read(leaf, fh, buf, 0);
            second.release(leaf, fh, OpenFlags.of(0));
            assertThat(new String(buf.array(), 0, n, StandardCharsets.UTF_8)).isEqualTo("hello deep");
            List<String> names = new ArrayList<>();
            second.readdir(dir, new DirectorySink() {
                @Override
                public void add(String name) {
                    names.add(name);
                }

                @Override
                public void add(String name, FileAttributes attributes) {
                    names.add(name);
                }
            });
            assertThat(names).containsExactly("sub");
        }
    }
}
