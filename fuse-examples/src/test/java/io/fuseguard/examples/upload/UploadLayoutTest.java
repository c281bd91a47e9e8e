package io.fuseguard.examples.upload;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@link UploadLayout} refuses every layout issue 17 lists, with one line, before anything is created. */
class UploadLayoutTest {
    @TempDir
    Path tmp;

    private void refused(Path mnt, Path cache, Path backend, boolean create, String reason) throws Exception {
        long before = count();
        assertThatThrownBy(() -> UploadLayout.check(mnt, cache, backend, create))
                .isInstanceOf(UploadLayout.BadLayoutException.class)
                .hasMessageContaining(reason)
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        assertThat(count()).as("nothing created").isEqualTo(before);
    }

    private long count() throws Exception {
        try (Stream<Path> s = Files.walk(tmp)) {
            return s.count();
        }
    }

    @Test
    void badLayoutsAreRefusedWithOneLine() throws Exception {
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        Path backend = Files.createDirectory(tmp.resolve("backend"));
        Path cache = tmp.resolve("cache");
        refused(mnt, mnt.resolve("cache"), backend, false, "is inside the mount point");
        refused(mnt, mnt, backend, false, "is the same directory as the mount point");
        refused(mnt, backend, backend, false, "is the same directory as --backend");
        refused(mnt, backend.resolve("c"), backend, false, "is inside --backend");
        refused(mnt, cache, cache.resolve("store"), true, "is inside --cache");
        refused(mnt, cache, mnt.resolve("store"), true, "the mount point");
        refused(backend.resolve("m"), cache, backend, false, "the mount point " + backend.resolve("m")
                + " is inside --backend");
        refused(mnt, cache, tmp.resolve("bakcend"), false, "does not exist");
        refused(cache.resolve("m"), cache, backend, false, "is inside --cache");
        // a symbolic link to the mount point is the mount point
        Path link = Files.createSymbolicLink(tmp.resolve("link"), mnt);
        refused(mnt, link.resolve("cache"), backend, false, "is inside the mount point");
        Path file = Files.writeString(tmp.resolve("file"), "x");
        refused(mnt, cache, file, false, "is not a directory");
        refused(mnt, file, backend, false, "is not a directory");
    }

    /**
     * Review of issue 17, finding 6: a mount point given as a symbolic link into the cache or into the backend
     * was taken for the link's own place (the filesystem then showed itself, or uploaded into itself).
     */
    @Test
    void aMountPointThatIsASymbolicLinkIsWhereItLeads() throws Exception {
        Path cache = Files.createDirectories(tmp.resolve("cache").resolve("data").resolve("inner"))
                .getParent().getParent();
        Path backend = Files.createDirectories(tmp.resolve("backend").resolve("inner")).getParent();
        Path intoCache = Files.createSymbolicLink(tmp.resolve("mp-cache"), cache.resolve("data/inner"));
        refused(intoCache, cache, tmp.resolve("backend2"), true, "the mount point " + intoCache
                + " is inside --cache");
        Path intoBackend = Files.createSymbolicLink(tmp.resolve("mp-backend"), backend.resolve("inner"));
        refused(intoBackend, tmp.resolve("cache2"), backend, false, "the mount point " + intoBackend
                + " is inside --backend");
        // a link to a link: followed to the end
        Path twice = Files.createSymbolicLink(tmp.resolve("mp-twice"), intoCache);
        refused(twice, cache, tmp.resolve("backend2"), true, "is inside --cache");
        // a link elsewhere is fine
        Path elsewhere = Files.createSymbolicLink(tmp.resolve("mp-ok"), Files.createDirectory(tmp.resolve("mnt")));
        assertThatCode(() -> UploadLayout.check(elsewhere, cache, backend, false)).doesNotThrowAnyException();
    }

    /**
     * Review of issue 17, finding 6: a bind mount shows a directory under a second name; the cache seen through
     * one as the backend (or as a directory holding it) was not caught by comparing names.
     */
    @Test
    void aBackendThatIsTheCacheThroughABindMountIsRefused() throws Exception {
        io.fuseguard.testkit.Edges.assumeFuseAndRoot();
        Path base = Files.createDirectory(tmp.resolve("base"));
        Path alias = Files.createDirectory(tmp.resolve("alias"));
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        Path cache = Files.createDirectory(base.resolve("cache"));
        io.fuseguard.testkit.Child.runOk("mount", "--bind", base.toString(), alias.toString());
        try {
            refused(mnt, cache, alias.resolve("cache"), false, "is the same directory as --backend");
            refused(mnt, cache, alias, false, "is inside --backend");
            refused(mnt, base.resolve("new-cache"), alias.resolve("new-cache"), true,
                    "is the same directory as --backend"); // neither exists yet
            refused(mnt, cache, alias.resolve("cache").resolve("store"), true, "is inside --cache");
            refused(alias.resolve("cache").resolve("m"), cache, tmp.resolve("backend"), true, "is inside --cache");
            DirectoryBackend backend = new DirectoryBackend(alias.resolve("cache"));
            assertThatThrownBy(() -> new CachedUploadFs(cache, backend))
                    .isInstanceOf(UploadLayout.BadLayoutException.class).hasMessageContaining("overlap");
            backend.close();
        } finally {
            io.fuseguard.testkit.Child.run(java.time.Duration.ofSeconds(20), "umount", "-l", alias.toString());
        }
    }

    @Test
    void goodLayoutsPass() {
        Path mnt = tmp.resolve("mnt");
        assertThatCode(() -> UploadLayout.check(mnt, tmp.resolve("cache"), tmp.resolve("backend"), true))
                .doesNotThrowAnyException();
        assertThatCode(() -> UploadLayout.check(mnt, tmp.resolve("cache"), null, false))
                .doesNotThrowAnyException(); // S3: no backend directory
    }

    @Test
    void theFilesystemRefusesACacheInsideItsDirectoryBackend() throws Exception {
        DirectoryBackend backend = new DirectoryBackend(tmp.resolve("backend"));
        assertThatThrownBy(() -> new CachedUploadFs(tmp.resolve("backend").resolve("cache"), backend))
                .isInstanceOf(UploadLayout.BadLayoutException.class).hasMessageContaining("overlap");
        assertThat(tmp.resolve("backend").resolve("cache")).doesNotExist();
        assertThatThrownBy(() -> new CachedUploadFs(tmp.resolve("backend"), new FaultInjectingBackend(backend)))
                .isInstanceOf(UploadLayout.BadLayoutException.class);
    }
}
