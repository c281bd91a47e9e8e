package io.fuseguard.examples.upload;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * An {@link S3Backend}'s requests end within their call timeout against a store that misbehaves at the TCP
 * level: one that accepts a connection and never reads it (a blocked socket write has no timeout of its own),
 * and one that reads the request and never answers (the socket timeout alone allowed attempts x 30 s).
 */
class S3BackendTimeoutTest {
    private final List<Socket> accepted = new CopyOnWriteArrayList<>();
    private ServerSocket store;

    /** A "store" on 127.0.0.1 that accepts connections, with tiny receive buffers, and then does nothing. */
    private URI deafStore(boolean drainRequests) throws IOException {
        store = new ServerSocket();
        store.setReceiveBufferSize(4096); // inherited by accepted sockets: the client's write blocks sooner
        store.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        Thread acceptor = new Thread(() -> {
            try {
                while (true) {
                    Socket s = store.accept();
                    accepted.add(s);
                    if (drainRequests) {
                        Thread reader = new Thread(() -> {
                            try {
                                s.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
                            } catch (IOException closed) {
                                // test over
                            }
                        });
                        reader.setDaemon(true);
                        reader.start();
                    }
                }
            } catch (IOException closed) {
                // test over
            }
        }, "deaf-store");
        acceptor.setDaemon(true);
        acceptor.start();
        return URI.create("http://127.0.0.1:" + store.getLocalPort());
    }

    @AfterEach
    void close() throws IOException {
        if (store != null) {
            store.close();
        }
        for (Socket s : accepted) {
            s.close();
        }
    }

    private static S3Backend backendAt(URI endpoint, Duration callTimeout, long minRate) {
        return S3Backend.builder(new S3Location("timeouts", "")).endpoint(endpoint)
                .credentials(S3ProxyServer.ACCESS_KEY, S3ProxyServer.SECRET_KEY)
                .callTimeout(callTimeout).minTransferRate(minRate).build();
    }

    /** Threads of the backend still inside a socket write. */
    private static long threadsWritingToASocket() {
        return Thread.getAllStackTraces().entrySet().stream()
                .filter(e -> e.getKey().getName().startsWith("s3-backend-"))
                .filter(e -> Arrays.stream(e.getValue()).anyMatch(f -> f.getMethodName().contains("write")
                        && (f.getClassName().contains("Socket") || f.getClassName().contains("Nio"))))
                .count();
    }

    @Test
    void aPutToAStoreThatStopsReadingFailsWithinItsCallTimeoutAndFreesItsThreads() throws Exception {
        URI endpoint = deafStore(false);
        byte[] body = new byte[4 << 20]; // one PutObject: below the multipart threshold
        // 1 s + 4 MiB at 16 MiB/s = 1.25 s
        try (S3Backend backend = backendAt(endpoint, Duration.ofSeconds(1), 16 << 20)) {
            assertThat(backend.timeoutFor(body.length)).isEqualTo(Duration.ofMillis(1250));
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> backend.put("/big.bin", new ByteArrayInputStream(body), body.length))
                    .isInstanceOf(IOException.class).isNotInstanceOf(InterruptedIOException.class);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.printf("PutObject of 4 MiB to a store that never reads: failed after %d ms "
                    + "(call timeout 1250 ms)%n", ms);
            assertThat(accepted).isNotEmpty();
            assertThat(ms).isLessThan(1250 + S3Calls.GRACE.toMillis() + 1000);
            // the request's own thread is not left blocked in the write either
            await().atMost(Duration.ofSeconds(5)).until(() -> threadsWritingToASocket() == 0);
            assertThat(Thread.currentThread().isInterrupted()).isFalse();
        }
    }

    @Test
    void aPutToAStoreThatNeverAnswersIsBoundedByTheCallTimeoutNotAttemptsTimesTheSocketTimeout() throws Exception {
        URI endpoint = deafStore(true);
        byte[] body = new byte[1000];
        try (S3Backend backend = backendAt(endpoint, Duration.ofSeconds(2), S3Backend.DEFAULT_MIN_RATE)) {
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> backend.put("/small.bin", new ByteArrayInputStream(body), body.length))
                    .isInstanceOf(IOException.class).isNotInstanceOf(InterruptedIOException.class);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.printf("PutObject of 1000 bytes to a store that never answers (3 attempts, socket timeout "
                    + "30 s): failed after %d ms (call timeout %d ms)%n", ms, backend.timeoutFor(1000).toMillis());
            assertThat(ms).isLessThan(backend.timeoutFor(1000).plus(S3Calls.GRACE).toMillis() + 1000);
        }
    }

    @Test
    void aCallTheSdkDoesNotEndIsAbandonedPastItsTimeoutPlusTheGrace() throws Exception {
        try (S3Calls calls = new S3Calls()) {
            long t0 = System.nanoTime();
            // a request stuck where interrupts do not reach (as a blocked socket write)
            assertThatThrownBy(() -> calls.call("stuck", Duration.ofMillis(200), () -> {
                long end = System.nanoTime() + 5_000_000_000L;
                while (System.nanoTime() < end) {
                    Thread.onSpinWait();
                }
                return null;
            })).isInstanceOf(IOException.class).isNotInstanceOf(InterruptedIOException.class)
                    .hasMessageContaining("abandoned");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertThat(ms).isBetween(1200L, 2500L);
        }
    }

    @Test
    void callTimeoutIsTheFloorPlusTheBodyAtTheSlowestRate() {
        assertThat(S3Backend.timeoutFor(0, Duration.ofSeconds(15), 512 << 10)).isEqualTo(Duration.ofSeconds(15));
        assertThat(S3Backend.timeoutFor(8 << 20, Duration.ofSeconds(15), 512 << 10))
                .isEqualTo(Duration.ofSeconds(31));
        assertThat(S3Backend.timeoutFor(1000, Duration.ofSeconds(15), 1000)).isEqualTo(Duration.ofSeconds(16));
    }

    @Test
    void partSizeGrowsSoThatNoUploadNeedsMoreThan10000Parts() throws Exception {
        int mib = 1 << 20;
        int conf = S3Backend.DEFAULT_PART_SIZE;
        // up to 10,000 x 8 MiB the configured size is kept
        assertThat(S3Backend.partSizeFor(16L * mib, conf)).isEqualTo(conf);
        assertThat(S3Backend.partSizeFor(10_000L * conf, conf)).isEqualTo(conf);
        // one byte more needs 8 MiB + 1 byte per part: rounded up to 9 MiB
        assertThat(S3Backend.partSizeFor(10_000L * conf + 1, conf)).isEqualTo(9 * mib);
        // 100 GiB: ceil(100 GiB / 10,000) = 10,737,419 bytes, rounded up to 11 MiB
        long size = 100L << 30;
        int part = S3Backend.partSizeFor(size, conf);
        assertThat(part).isEqualTo(11 * mib);
        assertThat((size + part - 1) / part).isLessThanOrEqualTo(S3Backend.MAX_PARTS);
        // S3's largest object, 5 TiB: 525 MiB parts, 9,987 of them
        long max = 5L << 40;
        int p = S3Backend.partSizeFor(max, conf);
        assertThat(p).isEqualTo(525 * mib);
        assertThat((max + p - 1) / p).isEqualTo(9987);
        // a larger configured size is kept, not rounded
        assertThat(S3Backend.partSizeFor(size, 64 * mib + 1)).isEqualTo(64 * mib + 1);
        assertThatThrownBy(() -> S3Backend.partSizeFor(Long.MAX_VALUE / 2, conf)).isInstanceOf(IOException.class);
    }
}
