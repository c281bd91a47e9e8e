package io.fuseguard.examples.upload;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Uploads are coalesced per file: a client writes a temp file and renames it over a target 500 times, as an
 * editor or a package manager saves; with the default upload delay (100 ms after the close) the target is
 * uploaded a few times, not 500, the temp names never (each is renamed away before its upload starts), and
 * the backend ends with the last content.
 */
class CachedUploadFsCoalesceTest {
    private static final int SAVES = 500;

    final Path work = FuseTestSupport.newTempDir("upload-coalesce-", "rwx------");
    final DirectoryBackend backend = newBackend(work.resolve("backend"));
    CachedUploadFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .shutdownHook(false).fsName("upload-coalesce").build());

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
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(30, TimeUnit.SECONDS);
    }

    @Test
    void aFileSavedOverAndOverIsUploadedAFewTimesWithItsLastContent() throws Exception {
        long t0 = System.nanoTime();
        Child.runOk("python3", "-c", """
                import os, sys
                d, n = sys.argv[1], int(sys.argv[2])
                for i in range(n):
                    tmp = os.path.join(d, "doc.txt.tmp%d" % (i % 7))
                    with open(tmp, "w") as f:
                        f.write("version %d" % i)
                    os.rename(tmp, os.path.join(d, "doc.txt"))
                """, fuse.mountPoint().toString(), Integer.toString(SAVES));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(fs.awaitIdle(Duration.ofSeconds(30))).isTrue();
        long puts = backend.completedPuts();
        System.out.printf("%d saves (write a temp file, rename it over doc.txt) in %d ms: %d uploads%n", SAVES, ms,
                puts);
        assertThat(Files.readString(backend.root().resolve("doc.txt"))).isEqualTo("version " + (SAVES - 1));
        try (var s = Files.list(backend.root())) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("doc.txt",
                    DirectoryBackend.INCOMING);
        }
        // one per upload delay at most while the saves run, and one at the end
        assertThat(puts).isLessThanOrEqualTo(ms / 100 + 2).isLessThan(SAVES / 5);
    }
}
