package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.OpenFlags;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code fsync(2)} of a directory (review of issue 17, finding 4): it answered 0 and made nothing durable. Now
 * {@link CachedUploadFs#fsyncdir} answers 0 only when the backend has the directory's name changes: a file
 * renamed into it (the atomic save: write a temp file, rename it over the document, fsync the directory), an
 * unlink (sqlite's commit of a rollback journal), a directory renamed in or removed with what it holds; other
 * directories' changes wait for their uploader. Called directly here ({@link CachedUploadFsFsyncDirMountTest}
 * sends a real {@code fsync(2)} of a directory through a mount). The uploads are 1 h away, so only the fsync can
 * have put anything in the backend.
 */
class CachedUploadFsFsyncDirTest {
    @TempDir
    Path tmp;

    private static void write(CachedUploadFs fs, String path, String content) throws Exception {
        long fh = fs.create(path, 0644, OpenFlags.of(1));
        fs.write(path, fh, ByteBuffer.wrap(content.getBytes(StandardCharsets.UTF_8)), 0);
        fs.release(path, fh, OpenFlags.of(1));
    }

    private static CachedUploadFs.Settings later() {
        return CachedUploadFs.Settings.defaults().withUploadDelay(Duration.ofHours(1));
    }

    @Test
    void anFsyncOfADirectoryPutsItsNameChangesInTheBackend() throws Exception {
        DirectoryBackend store = new DirectoryBackend(tmp.resolve("backend"));
        Path b = store.root();
        try (CachedUploadFs fs = new CachedUploadFs(tmp.resolve("cache"), store, later())) {
            fs.mkdir("/d", 0755);
            fs.mkdir("/other", 0755);
            write(fs, "/other/x", "x");
            write(fs, "/d/doc.tmp", "version 1");
            fs.rename("/d/doc.tmp", "/d/doc");
            assertThat(b.resolve("d/doc")).doesNotExist();
            fs.fsyncdir("/d", false);
            assertThat(b.resolve("d/doc")).hasContent("version 1");
            assertThat(b.resolve("d/doc.tmp")).doesNotExist();
            assertThat(b.resolve("other/x")).as("another directory's names wait for the uploader").doesNotExist();

            write(fs, "/d/doc-journal", "rollback");
            fs.fsyncdir("/d", false);
            assertThat(b.resolve("d/doc-journal")).exists();
            fs.unlink("/d/doc-journal"); // sqlite's commit
            fs.fsyncdir("/d", false);
            assertThat(b.resolve("d/doc-journal")).doesNotExist();

            // a directory renamed in: its name exists in the backend only with its files
            fs.mkdir("/src", 0755);
            fs.mkdir("/src/sub", 0755);
            fs.mkdir("/src/sub/deep", 0755);
            write(fs, "/src/sub/deep/f", "deep");
            fs.fsyncdir("/src", false);
            assertThat(b.resolve("src/sub/deep/f")).hasContent("deep");
            fs.rename("/src/sub", "/d/sub");
            fs.fsyncdir("/d", false);
            assertThat(b.resolve("d/sub/deep/f")).hasContent("deep");
            assertThat(b.resolve("src/sub/deep/f")).as("the old name is /src's to sync").exists();
            fs.fsyncdir("/src", false);
            assertThat(b.resolve("src/sub")).doesNotExist();

            // a directory removed with what it holds (rm -rf)
            fs.unlink("/d/sub/deep/f");
            fs.rmdir("/d/sub/deep");
            fs.rmdir("/d/sub");
            fs.fsyncdir("/d", false);
            assertThat(b.resolve("d/sub")).doesNotExist();
            assertThat(b.resolve("d/doc")).hasContent("version 1");
            assertThat(fs.pendingPaths()).containsExactly("/other/x");
        }
    }

    @Test
    void aBackendThatFailsIsEioAndTheChangesStayPending() throws Exception {
        ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory
                .getLogger("io.fuseguard.examples.upload");
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> seen =
                new ch.qos.logback.core.read.ListAppender<>();
        seen.start();
        logger.addAppender(seen);
        FaultInjectingBackend backend = new FaultInjectingBackend(new DirectoryBackend(tmp.resolve("backend")));
        try (CachedUploadFs fs = new CachedUploadFs(tmp.resolve("cache"), backend, later())) {
            fs.mkdir("/d", 0755);
            write(fs, "/d/a", "a");
            backend.faults().failUploads(true);
            assertThatThrownBy(() -> fs.fsyncdir("/d", false)).isInstanceOf(ErrnoException.class)
                    .satisfies(e -> assertThat(((ErrnoException) e).errno()).isEqualTo(Errno.EIO));
            assertThat(fs.pendingPaths()).containsExactly("/d/a");
            assertThat(seen.list).anySatisfy(e -> {
                assertThat(e.getLevel()).isEqualTo(ch.qos.logback.classic.Level.WARN);
                assertThat(e.getFormattedMessage()).startsWith("fsync of the directory /d failed");
            });
            backend.faults().failUploads(false);
            fs.fsyncdir("/d", false);
            assertThat(fs.pendingPaths()).isEmpty();
        } finally {
            logger.detachAppender(seen);
        }
    }
}
