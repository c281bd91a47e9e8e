package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.OpenFlags;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** Journal and retry behaviour of {@link CachedUploadFs}, called directly (no mount). */
class CachedUploadFsJournalTest {
    private static final int O_WRONLY = 1;

    @TempDir
    Path tmp;

    private static void writeFile(CachedUploadFs fs, String path, String text) throws java.io.IOException {
        long fh = fs.create(path, 0644, OpenFlags.of(O_WRONLY));
        fs.write(path, fh, ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)), 0);
        fs.release(path, fh, OpenFlags.of(O_WRONLY));
    }

    /** The pending uploads and deletes the journal on disk holds (what a start would resume). */
    private static long journalEntries(Path cache) throws Exception {
        return CachedUploadFs.journaledPaths(cache).size();
    }

    @Test
    void pendingUploadSurvivesARestart() throws Exception {
        Path cache = tmp.resolve("cache");
        DirectoryBackend store = new DirectoryBackend(tmp.resolve("backend"));
        FaultInjectingBackend backend = new FaultInjectingBackend(store);
        backend.faults().stallUploads(true);
        CachedUploadFs first = new CachedUploadFs(cache, backend);
        writeFile(first, "/a.txt", "alpha");
        await().atMost(Duration.ofSeconds(5)).until(() -> backend.faults().stalledUploads() == 1);
        assertThat(journalEntries(cache)).isEqualTo(1);
        first.close(); // interrupts the stalled upload: the entry stays
        assertThat(journalEntries(cache)).isEqualTo(1);
        assertThat(store.root().resolve("a.txt")).doesNotExist();

        backend.faults().stallUploads(false);
        try (CachedUploadFs second = new CachedUploadFs(cache, backend)) {
            assertThat(second.awaitIdle(Duration.ofSeconds(10))).isTrue();
        }
        assertThat(Files.readString(store.root().resolve("a.txt"))).isEqualTo("alpha");
        assertThat(journalEntries(cache)).isZero();
    }

    @Test
    void exhaustedAttemptsParkThePathUntilRetried() throws Exception {
        DirectoryBackend store = new DirectoryBackend(tmp.resolve("backend"));
        FaultInjectingBackend backend = new FaultInjectingBackend(store);
        backend.faults().failAll(true);
        try (CachedUploadFs fs = new CachedUploadFs(tmp.resolve("cache"), backend, CachedUploadFs.Settings
                .defaults().withMaxAttempts(3).withBackoff(Duration.ofMillis(10), Duration.ofMillis(40)))) {
            writeFile(fs, "/p.txt", "parked");
            await().atMost(Duration.ofSeconds(5)).until(() -> fs.parkedPaths().contains("/p.txt"));
            assertThat(fs.failedAttempts()).isEqualTo(3);
            assertThat(fs.pendingPaths()).containsExactly("/p.txt");
            backend.faults().failAll(false);
            fs.retryPending();
            assertThat(fs.awaitIdle(Duration.ofSeconds(5))).isTrue();
            assertThat(Files.readString(store.root().resolve("p.txt"))).isEqualTo("parked");
        }
    }

    @Test
    void deleteHidesTheBackendCopyUntilDone() throws Exception {
        DirectoryBackend store = new DirectoryBackend(tmp.resolve("backend"));
        FaultInjectingBackend backend = new FaultInjectingBackend(store);
        Files.writeString(store.root().resolve("gone.txt"), "x");
        try (CachedUploadFs fs = new CachedUploadFs(tmp.resolve("cache"), backend)) {
            backend.faults().failNext(1000);
            fs.unlink("/gone.txt");
            await().atMost(Duration.ofSeconds(5)).until(() -> fs.failedAttempts() > 0);
            // still in the backend (delete failed), but hidden from the namespace
            assertThat(store.root().resolve("gone.txt")).exists();
            try {
                fs.getattr("/gone.txt");
                throw new AssertionError("still visible");
            } catch (ErrnoException e) {
                assertThat(e.errno()).isEqualTo(io.fuseguard.api.Errno.ENOENT);
            }
            backend.faults().failNext(0);
            fs.retryPending();
            assertThat(fs.awaitIdle(Duration.ofSeconds(5))).isTrue();
            assertThat(store.root().resolve("gone.txt")).doesNotExist();
        }
    }

    @Test
    void aFailedFsyncAndUploadsPendingAtShutdownAreLoggedAtWarnWithTheirPaths() throws Exception {
        ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory
                .getLogger("io.fuseguard.examples.upload");
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> seen =
                new ch.qos.logback.core.read.ListAppender<>();
        seen.start();
        logger.addAppender(seen);
        try {
            FaultInjectingBackend backend = new FaultInjectingBackend(new DirectoryBackend(tmp.resolve("backend")));
            backend.faults().failUploads(true);
            CachedUploadFs fs = new CachedUploadFs(tmp.resolve("cache"), backend);
            long fh = fs.create("/synced.txt", 0644, OpenFlags.of(O_WRONLY));
            fs.write("/synced.txt", fh, ByteBuffer.wrap(new byte[] {1}), 0);
            try {
                fs.fsync("/synced.txt", fh, false);
                throw new AssertionError("fsync succeeded with the backend refusing uploads");
            } catch (ErrnoException e) {
                assertThat(e.errno()).isEqualTo(Errno.EIO);
            }
            fs.release("/synced.txt", fh, OpenFlags.of(O_WRONLY));
            writeFile(fs, "/other.txt", "x");
            fs.close();
            java.util.List<String> warnings = seen.list.stream()
                    .filter(e -> e.getLevel() == ch.qos.logback.classic.Level.WARN)
                    .map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage).toList();
            assertThat(warnings).anySatisfy(w -> assertThat(w).startsWith("fsync of /synced.txt failed"));
            assertThat(warnings).anySatisfy(w -> assertThat(w)
                    .contains("2 backend operation(s) still pending at shutdown")
                    .contains("/synced.txt").contains("/other.txt"));
        } finally {
            logger.detachAppender(seen);
        }
    }

    @Test
    void journalEntryIsCommittedBeforeTheFirstWrite() throws Exception {
        Path cache = tmp.resolve("cache");
        DirectoryBackend store = new DirectoryBackend(tmp.resolve("backend"));
        FaultInjectingBackend backend = new FaultInjectingBackend(store);
        try (CachedUploadFs fs = new CachedUploadFs(cache, backend)) {
            long fh = fs.create("/open.txt", 0644, OpenFlags.of(O_WRONLY));
            fs.write("/open.txt", fh, ByteBuffer.wrap(new byte[]{1, 2, 3}), 0);
            // still open: nothing uploaded, but a crash now would find the entry
            assertThat(journalEntries(cache)).isEqualTo(1);
            assertThat(store.root().resolve("open.txt")).doesNotExist();
            fs.release("/open.txt", fh, OpenFlags.of(O_WRONLY));
            assertThat(fs.awaitIdle(Duration.ofSeconds(5))).isTrue();
            assertThat(Files.readAllBytes(store.root().resolve("open.txt"))).containsExactly(1, 2, 3);
        }
    }

    /**
     * A cache file removed from outside (the cache directory lost or cleaned while mounted) loses what was written
     * since its last upload, but never the backend's confirmed copy: the upload fails (fsync answers EIO), the entry
     * stays pending, and nothing is deleted from the backend (it used to be: a vanished cache file was taken for a
     * file that did not exist).
     */
    @Test
    void aCacheFileRemovedFromOutsideNeverDeletesTheBackendsCopy() throws Exception {
        Path cache = tmp.resolve("cache");
        DirectoryBackend store = new DirectoryBackend(tmp.resolve("backend"));
        try (CachedUploadFs fs = new CachedUploadFs(cache, store, CachedUploadFs.Settings.defaults()
                .withBackoff(Duration.ofMillis(20), Duration.ofMillis(50)).withMaxAttempts(3))) {
            writeFile(fs, "/keep.txt", "confirmed");
            assertThat(fs.awaitIdle(Duration.ofSeconds(10))).isTrue();
            assertThat(Files.readString(store.root().resolve("keep.txt"))).isEqualTo("confirmed");

            long fh = fs.open("/keep.txt", OpenFlags.of(O_WRONLY));
            fs.write("/keep.txt", fh, ByteBuffer.wrap("newer".getBytes(StandardCharsets.UTF_8)), 0);
            Files.delete(cache.resolve("data").resolve("keep.txt")); // from outside the filesystem
            assertThatThrownBy(() -> fs.fsync("/keep.txt", fh, false)).isInstanceOf(ErrnoException.class)
                    .satisfies(e -> assertThat(((ErrnoException) e).errno()).isEqualTo(Errno.EIO));
            fs.release("/keep.txt", fh, OpenFlags.of(O_WRONLY)); // schedules the upload: it fails, retried, parked
            Thread.sleep(500);
            assertThat(store.root().resolve("keep.txt")).as("the backend keeps its confirmed copy").exists();
            assertThat(Files.readString(store.root().resolve("keep.txt"))).isEqualTo("confirmed");
        }
    }
}
