package io.fuseguard.examples.upload;

import io.fuseguard.examples.upload.Journal.Entry;
import io.fuseguard.examples.upload.Journal.Op;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The journal's log: what a replay reads back, a torn last record, and the start after a crash of the machine. */
class JournalTest {
    @TempDir
    Path tmp;

    @Test
    void aReplayReadsBackTheLastStateOfEveryPathAndTheOpenRename() throws Exception {
        Journal j = Journal.open(tmp.resolve("journal"));
        j.compact(List.of());
        j.set(new Entry(Op.PUT, "/a", 1));
        j.set(new Entry(Op.PUT, "/b", 2));
        j.clear("/a");
        j.set(new Entry(Op.LOCAL, "/.fuse_hidden1", 3));
        j.intent(new Journal.Intent(1, "/b", "/c", false));
        j.done(1, List.of(new Entry(Op.PUT, "/c", 4), new Entry(Op.DELETE, "/b", 5)));
        j.intent(new Journal.Intent(2, "/d", "/e", true));
        j.failed(2);
        j.intent(new Journal.Intent(3, "/c", "/f", false)); // the daemon stops here
        Journal.Replay r = Journal.readDir(tmp.resolve("journal"));
        assertThat(r.entries().values()).containsExactly(new Entry(Op.LOCAL, "/.fuse_hidden1", 3),
                new Entry(Op.PUT, "/c", 4), new Entry(Op.DELETE, "/b", 5));
        assertThat(r.openIntent()).isEqualTo(new Journal.Intent(3, "/c", "/f", false));
        assertThat(r.maxVersion()).isEqualTo(5);
        assertThat(r.clean()).isFalse();
        assertThat(r.damaged()).isZero();
        j.close();
    }

    @Test
    void aTornLastRecordIsIgnoredAndTheRecordsBeforeItAreKept() throws Exception {
        Journal j = Journal.open(tmp.resolve("journal"));
        j.compact(List.of());
        j.set(new Entry(Op.PUT, "/kept", 1));
        j.set(new Entry(Op.PUT, "/torn", 2));
        j.close();
        Path log = tmp.resolve("journal").resolve("log");
        try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "rw")) {
            f.setLength(f.length() - 3); // a crash of the machine cut the last record
        }
        Journal.Replay r = Journal.readDir(tmp.resolve("journal"));
        assertThat(r.entries().keySet()).containsExactly("/kept");
        assertThat(r.damaged()).isPositive();
    }

    /** Writes {@code content} to {@code path} through the filesystem and closes it. */
    private static void write(CachedUploadFs fs, String path, String content) throws Exception {
        long fh = fs.create(path, 0644, io.fuseguard.api.OpenFlags.of(1));
        fs.write(path, fh, java.nio.ByteBuffer.wrap(content.getBytes(java.nio.charset.StandardCharsets.UTF_8)), 0);
        fs.release(path, fh, io.fuseguard.api.OpenFlags.of(1));
    }

    /** The offset and length of every record of a log (frame: length, CRC-32C, payload), and its payload's type. */
    private static List<long[]> records(byte[] log) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(log).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        List<long[]> out = new java.util.ArrayList<>();
        for (int off = 4; off + 8 <= log.length; ) {
            int len = b.getInt(off);
            out.add(new long[] {off, len, log[off + 8]});
            off += 8 + len;
        }
        return out;
    }

    /**
     * A damaged end of the log (review of issue 17, finding 7): the record of a file cut in the middle, as disk
     * damage or a crash of the machine leaves it. The file is in the cache and shown by the mount, so the next start
     * must upload it: it did not (only a WARN "unreadable bytes"), and the start after compacted it away for good.
     */
    @Test
    void aFileWhoseRecordWasTornIsUploadedByTheNextStart() throws Exception {
        Path cache = tmp.resolve("cache");
        Path backendDir = tmp.resolve("backend");
        FaultInjectingBackend stalled = new FaultInjectingBackend(new DirectoryBackend(backendDir));
        stalled.faults().stallUploads(true);
        CachedUploadFs first = new CachedUploadFs(cache, stalled);
        for (int i = 1; i <= 3; i++) {
            write(first, "/f" + i, "file " + i);
        }
        first.close(); // the uploads stall and stay pending
        Path log = cache.resolve("journal").resolve("log");
        byte[] bytes = Files.readAllBytes(log);
        long[] lastSet = records(bytes).stream().filter(r -> r[2] == 2).reduce((a, b) -> b).orElseThrow();
        try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "rw")) {
            f.setLength(lastSet[0] + 8 + lastSet[1] / 2); // the record of /f3 cut in two, and what followed it
        }
        assertThat(CachedUploadFs.journaledPaths(cache)).containsExactly("/f1", "/f2");

        long tornSize = Files.size(log);
        ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory
                .getLogger(Uploader.class);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> seen =
                new ch.qos.logback.core.read.ListAppender<>();
        seen.start();
        logger.addAppender(seen);
        try (CachedUploadFs second = new CachedUploadFs(cache, new DirectoryBackend(backendDir))) {
            assertThat(second.awaitIdle(Duration.ofSeconds(10))).as("pending %s", second.pendingPaths()).isTrue();
        } finally {
            logger.detachAppender(seen);
        }
        for (int i = 1; i <= 3; i++) {
            assertThat(backendDir.resolve("f" + i)).as("f%d in the backend", i).hasContent("file " + i);
        }
        // what was done is said, and the damaged log is kept as it was for a look by hand
        List<String> warnings = seen.list.stream().filter(e -> e.getLevel() == ch.qos.logback.classic.Level.WARN)
                .map(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage).toList();
        assertThat(warnings).anySatisfy(w -> assertThat(w).contains("unreadable byte(s)")
                .contains("1 cache file(s) changed since the journal's last flush").contains("are uploaded again"));
        List<Path> kept;
        try (java.util.stream.Stream<Path> files = Files.list(log.getParent())) {
            kept = files.filter(f -> f.getFileName().toString().startsWith("log.damaged-")).toList();
        }
        assertThat(kept).hasSize(1);
        assertThat(Files.size(kept.get(0))).isEqualTo(tornSize);
        assertThat(warnings).anySatisfy(w -> assertThat(w).contains("the damaged log is kept as " + kept.get(0)));
    }

    /** A log whose first bytes are damaged has no readable record: every cache file is uploaded again. */
    @Test
    void aLogWithNoReadableRecordHasEveryCacheFileUploadedAgain() throws Exception {
        Path cache = tmp.resolve("cache");
        Path backendDir = tmp.resolve("backend");
        FaultInjectingBackend stalled = new FaultInjectingBackend(new DirectoryBackend(backendDir));
        stalled.faults().stallUploads(true);
        CachedUploadFs first = new CachedUploadFs(cache, stalled);
        write(first, "/a", "alpha");
        first.mkdir("/dir", 0755);
        write(first, "/dir/b", "beta");
        first.close();
        Path log = cache.resolve("journal").resolve("log");
        try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "rw")) {
            f.write(new byte[] {0, 0, 0, 0}); // the magic
        }
        assertThat(CachedUploadFs.journaledPaths(cache)).isEmpty();
        try (CachedUploadFs second = new CachedUploadFs(cache, new DirectoryBackend(backendDir))) {
            assertThat(second.awaitIdle(Duration.ofSeconds(10))).isTrue();
        }
        assertThat(backendDir.resolve("a")).hasContent("alpha");
        assertThat(backendDir.resolve("dir").resolve("b")).hasContent("beta");
    }

    /**
     * A cache written before the backend's reserved names were refused may hold one ({@code /.incoming} of a
     * directory backend) with its upload pending: never uploadable. The start drops the entry (WARN) and the
     * mount hides the name.
     */
    @Test
    void pendingEntriesOnAReservedNameAreDroppedAndTheNameIsHidden() throws Exception {
        Path cache = tmp.resolve("cache");
        Journal old = Journal.open(cache.resolve("journal"));
        old.compact(List.of(new Entry(Op.PUT, "/.incoming/x", 1), new Entry(Op.PUT, "/kept", 2)));
        old.close();
        Files.createDirectories(cache.resolve("data").resolve(".incoming"));
        Files.writeString(cache.resolve("data").resolve(".incoming").resolve("x"), "stuck");
        Files.writeString(cache.resolve("data").resolve("kept"), "kept");
        FaultInjectingBackend backend = new FaultInjectingBackend(new DirectoryBackend(tmp.resolve("backend")));
        backend.faults().stallUploads(true);
        try (CachedUploadFs fs = new CachedUploadFs(cache, backend)) {
            assertThat(fs.pendingPaths()).containsExactly("/kept");
            java.util.List<String> names = new java.util.ArrayList<>();
            fs.readdir("/", new io.fuseguard.api.DirectorySink() {
                @Override
                public void add(String name) {
                    names.add(name);
                }

                @Override
                public void add(String name, io.fuseguard.api.FileAttributes attributes) {
                    names.add(name);
                }
            });
            assertThat(names).containsExactly("kept");
            assertThatThrownBy(() -> fs.getattr("/.incoming")).isInstanceOf(io.fuseguard.api.ErrnoException.class)
                    .satisfies(e -> assertThat(((io.fuseguard.api.ErrnoException) e).errno())
                            .isEqualTo(io.fuseguard.api.Errno.ENOENT));
            assertThatThrownBy(() -> fs.mkdir("/.incoming", 0755))
                    .satisfies(e -> assertThat(((io.fuseguard.api.ErrnoException) e).errno())
                            .isEqualTo(io.fuseguard.api.Errno.EPERM));
        }
    }

    @Test
    void pendingEntriesOfThePreviousJournalFormatAreTakenOver() throws Exception {
        Path cache = tmp.resolve("cache");
        Path journal = Files.createDirectories(cache.resolve("journal"));
        Files.createDirectories(cache.resolve("data"));
        Files.writeString(cache.resolve("data").resolve("left.txt"), "pending before the upgrade");
        // what the journal before issue 17 wrote for "/left.txt pending upload" (one file per path)
        Files.writeString(journal.resolve("0123456789abcdef0123456789abcdef.entry"),
                "fuseguard-upload-journal 1\nop PUT\nversion 1733000000000\npath "
                        + java.util.Base64.getUrlEncoder().encodeToString("/left.txt".getBytes()) + "\n");
        assertThat(CachedUploadFs.journaledPaths(cache)).containsExactly("/left.txt");
        Path backendDir = tmp.resolve("backend");
        try (CachedUploadFs fs = new CachedUploadFs(cache, new DirectoryBackend(backendDir))) {
            assertThat(fs.awaitIdle(Duration.ofSeconds(10))).isTrue();
        }
        assertThat(Files.readString(backendDir.resolve("left.txt"))).isEqualTo("pending before the upgrade");
        try (var s = Files.list(journal)) {
            assertThat(s.map(p -> p.getFileName().toString())).containsExactly("log");
        }
    }

    @Test
    void afterACrashOfTheMachineFilesChangedSinceTheLastFlushAreUploadedAgain() throws Exception {
        Path cache = tmp.resolve("cache");
        Path backendDir = tmp.resolve("backend");
        // a previous run on another boot that never stopped cleanly, and a cache file written after its flush
        Journal old = Journal.open(cache.resolve("journal"), "an-earlier-boot");
        old.compact(List.of());
        old.close();
        Files.createDirectories(cache.resolve("data"));
        Files.writeString(cache.resolve("data").resolve("unjournaled.txt"), "written, record lost");
        try (CachedUploadFs fs = new CachedUploadFs(cache, new DirectoryBackend(backendDir))) {
            assertThat(fs.awaitIdle(Duration.ofSeconds(10))).isTrue();
        }
        assertThat(Files.readString(backendDir.resolve("unjournaled.txt"))).isEqualTo("written, record lost");

        // the same after a crash of the daemon only (same boot): the journal is trusted, nothing is rescanned
        Path cache2 = tmp.resolve("cache2");
        Journal same = Journal.open(cache2.resolve("journal"));
        same.compact(List.of());
        same.close();
        Files.createDirectories(cache2.resolve("data"));
        Files.writeString(cache2.resolve("data").resolve("local.txt"), "not announced");
        Path backend2 = tmp.resolve("backend2");
        try (CachedUploadFs fs = new CachedUploadFs(cache2, new DirectoryBackend(backend2))) {
            assertThat(fs.pendingPaths()).isEmpty();
        }
        assertThat(backend2.resolve("local.txt")).doesNotExist();
    }
}
