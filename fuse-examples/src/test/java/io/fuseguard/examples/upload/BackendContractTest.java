package io.fuseguard.examples.upload;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The {@link Backend} contract, run against every implementation by a subclass: round trips, replacement,
 * missing keys, implicit directories, listings, deletes, large (multipart) uploads, atomic visibility when an
 * upload fails or is interrupted, and fault injection through {@link FaultInjectingBackend}.
 */
abstract class BackendContractTest {
    /** Size of the "large" upload: above the backend's multipart threshold where it has one. */
    static final int LARGE = 11 * 1024 * 1024 + 12345;

    Backend backend;

    /** A new, empty backend; closed after each test. */
    abstract Backend newBackend() throws Exception;

    @BeforeEach
    void open() throws Exception {
        backend = newBackend();
    }

    @AfterEach
    void closeBackend() throws Exception {
        if (backend != null) {
            backend.close();
        }
    }

    static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    void put(String path, byte[] content) throws IOException {
        backend.put(path, new ByteArrayInputStream(content), content.length);
    }

    byte[] get(String path) throws IOException {
        try (InputStream in = backend.get(path)) {
            return in.readAllBytes();
        }
    }

    @Test
    void putThenGetReturnsTheSameBytes() throws Exception {
        byte[] content = random(200_000, 1);
        put("/a.bin", content);
        assertThat(get("/a.bin")).isEqualTo(content);
        put("/empty", new byte[0]);
        assertThat(get("/empty")).isEmpty();
        assertThat(backend.stat("/empty")).hasValueSatisfying(e -> {
            assertThat(e.directory()).isFalse();
            assertThat(e.size()).isZero();
        });
    }

    @Test
    void putReplacesAndRepeatingItIsHarmless() throws Exception {
        put("/f.txt", "one".getBytes(StandardCharsets.UTF_8));
        put("/f.txt", "two, longer".getBytes(StandardCharsets.UTF_8));
        put("/f.txt", "two, longer".getBytes(StandardCharsets.UTF_8)); // a retried upload
        assertThat(new String(get("/f.txt"), StandardCharsets.UTF_8)).isEqualTo("two, longer");
        assertThat(backend.list("/")).extracting(BackendEntry::name).containsExactly("f.txt");
    }

    @Test
    void missingKeysAreNoSuchFileOrEmpty() throws Exception {
        assertThatThrownBy(() -> backend.get("/nope")).isInstanceOf(NoSuchFileException.class);
        assertThatThrownBy(() -> backend.get("/no/such/dir/file")).isInstanceOf(NoSuchFileException.class);
        assertThat(backend.stat("/nope")).isEmpty();
        assertThat(backend.list("/nope")).isEmpty();
        assertThat(backend.list("/")).isEmpty();
        backend.delete("/nope"); // succeeds when nothing is there
    }

    @Test
    void directoriesAreImplicitAndListedWithTheirFiles() throws Exception {
        put("/top.txt", "t".getBytes(StandardCharsets.UTF_8));
        put("/d/one.txt", "1".getBytes(StandardCharsets.UTF_8));
        put("/d/two.txt", "22".getBytes(StandardCharsets.UTF_8));
        put("/d/sub/deep.txt", "333".getBytes(StandardCharsets.UTF_8));
        put("/dz", "not inside d".getBytes(StandardCharsets.UTF_8)); // shares the prefix "d" only

        assertThat(backend.list("/")).extracting(BackendEntry::name, BackendEntry::directory)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("d", true),
                        org.assertj.core.groups.Tuple.tuple("dz", false),
                        org.assertj.core.groups.Tuple.tuple("top.txt", false));
        List<BackendEntry> d = backend.list("/d");
        assertThat(d).extracting(BackendEntry::name).containsExactly("one.txt", "sub", "two.txt");
        assertThat(d).filteredOn(e -> e.name().equals("two.txt")).singleElement()
                .satisfies(e -> assertThat(e.size()).isEqualTo(2));
        assertThat(backend.list("/d/sub")).extracting(BackendEntry::name).containsExactly("deep.txt");

        assertThat(backend.stat("/")).hasValueSatisfying(e -> assertThat(e.directory()).isTrue());
        assertThat(backend.stat("/d")).hasValueSatisfying(e -> {
            assertThat(e.directory()).isTrue();
            assertThat(e.name()).isEqualTo("d");
        });
        assertThat(backend.stat("/d/sub")).hasValueSatisfying(e -> assertThat(e.directory()).isTrue());
        assertThat(backend.stat("/d/one.txt")).hasValueSatisfying(e -> {
            assertThat(e.directory()).isFalse();
            assertThat(e.name()).isEqualTo("one.txt");
            assertThat(e.size()).isEqualTo(1);
        });
    }

    @Test
    void deletingTheLastFileOfADirectoryRemovesTheDirectory() throws Exception {
        put("/d/sub/only.txt", "x".getBytes(StandardCharsets.UTF_8));
        put("/keep.txt", "k".getBytes(StandardCharsets.UTF_8));
        backend.delete("/d/sub/only.txt");
        backend.delete("/d/sub/only.txt"); // again: harmless
        assertThat(backend.stat("/d/sub/only.txt")).isEmpty();
        assertThat(backend.stat("/d/sub")).isEmpty();
        assertThat(backend.stat("/d")).isEmpty();
        assertThat(backend.list("/")).extracting(BackendEntry::name).containsExactly("keep.txt");
    }

    @Test
    void largeUploadRoundTrips() throws Exception {
        byte[] content = random(LARGE, 7);
        long t0 = System.nanoTime();
        put("/big/large.bin", content);
        long putMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(get("/big/large.bin")).isEqualTo(content);
        assertThat(backend.stat("/big/large.bin")).hasValueSatisfying(e -> assertThat(e.size()).isEqualTo(LARGE));
        System.out.printf("%s: put of %d bytes took %d ms%n", getClass().getSimpleName(), LARGE, putMs);
    }

    @Test
    void failedUploadLeavesThePreviousContentVisible() throws Exception {
        put("/f.bin", "old".getBytes(StandardCharsets.UTF_8));
        InputStream broken = new InputStream() {
            private int left = LARGE / 2;

            @Override
            public int read() throws IOException {
                if (left-- <= 0) {
                    throw new IOException("the cache file went away");
                }
                return 'x';
            }
        };
        assertThatThrownBy(() -> backend.put("/f.bin", broken, LARGE)).isInstanceOf(IOException.class);
        assertThat(new String(get("/f.bin"), StandardCharsets.UTF_8)).isEqualTo("old");
        // data shorter than announced is refused too
        assertThatThrownBy(() -> backend.put("/short.bin", new ByteArrayInputStream(new byte[10]), 20))
                .isInstanceOf(IOException.class);
        assertThat(backend.stat("/short.bin")).isEmpty();
        assertThat(backend.list("/")).extracting(BackendEntry::name).containsExactly("f.bin");
        assertNoUploadLeftBehind();
    }

    /** Nothing of an aborted upload is kept (temp files, incomplete multipart uploads). */
    abstract void assertNoUploadLeftBehind() throws Exception;

    @Test
    void stalledUploadIsInFlightUntilReleasedAndInterruptible() throws Exception {
        FaultInjectingBackend faulty = new FaultInjectingBackend(backend);
        faulty.faults().stallUploads(true);
        byte[] content = random(LARGE, 3);
        AtomicReference<Thread> uploader = new AtomicReference<>();
        CompletableFuture<Void> first = CompletableFuture.runAsync(() -> {
            uploader.set(Thread.currentThread());
            try {
                faulty.put("/stalled.bin", new ByteArrayInputStream(content), content.length);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        await().atMost(Duration.ofSeconds(10)).until(() -> faulty.faults().stalledUploads() == 1);
        assertThat(backend.stat("/stalled.bin")).isEmpty(); // not visible while in flight
        long t0 = System.nanoTime();
        uploader.get().interrupt();
        assertThatThrownBy(() -> first.get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(java.io.UncheckedIOException.class)
                .hasRootCauseInstanceOf(InterruptedIOException.class);
        System.out.printf("%s: stalled put interrupted, returned in %.1f ms%n", getClass().getSimpleName(),
                (System.nanoTime() - t0) / 1e6);
        assertThat(backend.stat("/stalled.bin")).isEmpty();

        // released, the same upload goes through
        CompletableFuture<Void> second = CompletableFuture.runAsync(() -> {
            try {
                faulty.put("/stalled.bin", new ByteArrayInputStream(content), content.length);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        await().atMost(Duration.ofSeconds(10)).until(() -> faulty.faults().stalledUploads() == 1);
        faulty.faults().stallUploads(false);
        second.get(20, TimeUnit.SECONDS);
        assertThat(get("/stalled.bin")).isEqualTo(content);
    }

    @Test
    void injectedFailuresAndLatencyApplyToAnyBackend() throws Exception {
        FaultInjectingBackend faulty = new FaultInjectingBackend(backend);
        faulty.faults().failNext(2);
        byte[] one = "1".getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> faulty.put("/x", new ByteArrayInputStream(one), 1)).hasMessageContaining("injected");
        assertThatThrownBy(() -> faulty.delete("/x")).hasMessageContaining("injected");
        faulty.put("/x", new ByteArrayInputStream(one), 1);
        assertThat(faulty.faults().injectedFailures()).isEqualTo(2);

        faulty.faults().failUploads(true);
        assertThatThrownBy(() -> faulty.put("/y", new ByteArrayInputStream(one), 1)).hasMessageContaining("refused");
        assertThat(faulty.list("/")).extracting(BackendEntry::name).containsExactly("x"); // reads still work
        faulty.faults().failUploads(false).failAll(true);
        assertThatThrownBy(() -> faulty.stat("/x")).hasMessageContaining("backend down");
        faulty.faults().reset().latency(Duration.ofMillis(100));
        long t0 = System.nanoTime();
        assertThat(faulty.stat("/x")).isPresent();
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isGreaterThanOrEqualTo(100);
    }
}
