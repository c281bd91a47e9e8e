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
