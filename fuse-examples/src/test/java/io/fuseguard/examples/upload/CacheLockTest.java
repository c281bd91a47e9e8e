package io.fuseguard.examples.upload;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import io.fuseguard.api.OpenFlags;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * One cache, one filesystem (review of issue 17, finding 1): a second {@link CachedUploadFs} on a cache in use is
 * refused before it touches anything (it used to rewrite the first one's journal, whose later records then went to
 * an unlinked file and whose files were never uploaded); the refusal names the holder's pid; the lock goes with
 * the holder, also when its process is killed with SIGKILL.
 */
class CacheLockTest {
    @TempDir
    Path tmp;

    @Test
    void aSecondFilesystemOnTheSameCacheIsRefusedAndTheFirstOneKeepsItsJournal() throws Exception {
        Path cache = tmp.resolve("cache");
        FaultInjectingBackend backend = new FaultInjectingBackend(new DirectoryBackend(tmp.resolve("backend")));
        backend.faults().stallUploads(true);
        try (CachedUploadFs first = new CachedUploadFs(cache, backend)) {
            long pid = ProcessHandle.current().pid();
            assertThatThrownBy(() -> new CachedUploadFs(cache, backend))
                    .isInstanceOf(CacheLock.InUseException.class)
                    .hasMessageContaining("the cache " + cache + " is in use by process " + pid + " (")
                    .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
            assertThatThrownBy(() -> CacheLock.probe(cache)).isInstanceOf(CacheLock.InUseException.class)
                    .hasMessageContaining("process " + pid);
            // the refused one changed nothing: the first one's records still reach the journal a start reads
            long fh = first.create("/acked.txt", 0644, OpenFlags.of(1));
            first.write("/acked.txt", fh, ByteBuffer.wrap("kept".getBytes()), 0);
            first.release("/acked.txt", fh, OpenFlags.of(1));
            assertThat(CachedUploadFs.journaledPaths(cache)).containsExactly("/acked.txt");
        }
        // closed: free again, and the next one finds what the first left pending
        assertThatCode(() -> CacheLock.probe(cache)).doesNotThrowAnyException();
        backend.faults().stallUploads(false);
        try (CachedUploadFs next = new CachedUploadFs(cache, backend)) {
            assertThat(next.awaitIdle(Duration.ofSeconds(10))).isTrue();
        }
        assertThat(Files.readString(tmp.resolve("backend").resolve("acked.txt"))).isEqualTo("kept");
    }

    @Test
    void theLockOfAKilledProcessIsFreeAtOnce() throws Exception {
        Path cache = tmp.resolve("cache");
        Files.createDirectories(cache);
        // another process holds the lock file as the filesystem does (flock, exclusive), until it is killed
        Process holder = new ProcessBuilder("flock", "--exclusive", "--close",
                cache.resolve(CacheLock.NAME).toString(), "sleep", "300").start();
        try {
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!heldByAnother(cache) && System.nanoTime() < until) {
                Thread.sleep(20);
            }
            assertThat(heldByAnother(cache)).as("flock(1) took the lock").isTrue();
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> new CachedUploadFs(cache, new DirectoryBackend(tmp.resolve("backend"))))
                    .isInstanceOf(CacheLock.InUseException.class);
            long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            System.out.println("refused after " + waitedMs + " ms");
            assertThat(waitedMs).as("a refusal is quick").isLessThan(10_000);
            try (Stream<Path> s = Files.list(cache)) {
                assertThat(s.map(p -> p.getFileName().toString()).toList())
                        .as("the refused filesystem created nothing in the cache").isEqualTo(List.of(CacheLock.NAME));
            }
            List<ProcessHandle> sleeper = holder.descendants().toList(); // an orphan once flock(1) is gone
            holder.destroyForcibly(); // SIGKILL: the kernel drops its lock with its descriptors
            assertThat(holder.waitFor(10, TimeUnit.SECONDS)).isTrue();
            sleeper.forEach(ProcessHandle::destroyForcibly);
        } finally {
            holder.descendants().forEach(ProcessHandle::destroyForcibly);
            holder.destroyForcibly();
            holder.waitFor(10, TimeUnit.SECONDS);
        }
        try (CachedUploadFs fs = new CachedUploadFs(cache, new DirectoryBackend(tmp.resolve("backend")))) {
            assertThat(fs.pendingPaths()).isEmpty();
        }
    }

    private static boolean heldByAnother(Path cache) {
        try {
            CacheLock.probe(cache);
            return false;
        } catch (CacheLock.InUseException e) {
            return true;
        }
    }
}
