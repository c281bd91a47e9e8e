package io.fuseguard.examples.upload;

import org.jclouds.blobstore.domain.StorageMetadata;
import org.jclouds.blobstore.options.ListContainerOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The {@link Backend} contract on an {@link S3Backend} against S3Proxy on 127.0.0.1, with a key prefix and a
 * multipart threshold lowered to 5 MiB (parts of 5 MiB, the least S3 and S3Proxy accept), so the large upload
 * is a 3-part multipart upload.
 */
class S3BackendContractTest extends BackendContractTest {
    static final String PREFIX = "tenant/drive";
    static S3ProxyServer server;
    static final AtomicInteger buckets = new AtomicInteger();
    String bucket;

    @BeforeAll
    static void startServer() throws Exception {
        server = S3ProxyServer.start();
    }

    @AfterAll
    static void stopServer() throws Exception {
        server.close();
    }

    @Override
    Backend newBackend() {
        bucket = "contract-" + buckets.incrementAndGet();
        server.createBucket(bucket);
        return server.backend(new S3Location(bucket, PREFIX)).multipartThreshold(5 << 20).partSize(5 << 20)
                .build();
    }

    @Override
    void assertNoUploadLeftBehind() {
        // aborts run in the background: give them a moment
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() ->
                assertThat(server.blobStore().listMultipartUploads(bucket)).isEmpty());
    }

    @Test
    void filesAreKeptUnderThePrefixAndOtherKeysAreNotSeen() throws Exception {
        put("/d/f.txt", "x".getBytes(StandardCharsets.UTF_8));
        server.blobStore().putBlob(bucket, server.blobStore().blobBuilder("elsewhere/g.txt").payload("g").build());
        server.blobStore().putBlob(bucket, server.blobStore().blobBuilder("tenant/driveX").payload("h").build());
        assertThat(server.blobStore().list(bucket, ListContainerOptions.Builder.recursive()))
                .extracting(StorageMetadata::getName)
                .contains("tenant/drive/d/f.txt");
        assertThat(backend.list("/")).extracting(BackendEntry::name).containsExactly("d");
        assertThat(backend.stat("/elsewhere")).isEmpty();
    }

    @Test
    void largeUploadIsMultipart() throws Exception {
        byte[] content = random(LARGE, 11);
        put("/big.bin", content);
        // a multipart object's ETag is "md5-of-part-md5s-N"
        String etag = server.blobStore().blobMetadata(bucket, PREFIX + "/big.bin").getETag();
        assertThat(etag.replace("\"", "")).as("ETag of a multipart upload").endsWith("-3");
        assertThat(get("/big.bin")).isEqualTo(content);
    }

    @Test
    void aFileWithoutItsDirectoryIsAnImplicitDirectoryFromOtherTools() throws Exception {
        // objects made by other tools: a key with no parent "directory" object, and a zero-byte "dir/" marker
        server.blobStore().putBlob(bucket, server.blobStore().blobBuilder(PREFIX + "/x/y/z.txt").payload("z").build());
        server.blobStore().putBlob(bucket, server.blobStore().blobBuilder(PREFIX + "/marked/").payload(new byte[0])
                .build());
        assertThat(backend.list("/x")).extracting(BackendEntry::name).containsExactly("y");
        assertThat(backend.stat("/x/y")).hasValueSatisfying(e -> assertThat(e.directory()).isTrue());
        assertThat(backend.list("/marked")).isEmpty();
        assertThat(backend.stat("/marked")).hasValueSatisfying(e -> assertThat(e.directory()).isTrue());
    }

    @Test
    void checkBucketTellsAMissingBucketRefusedCredentialsAndADeadEndpoint() throws Exception {
        ((S3Backend) backend).checkBucket();
        try (S3Backend missing = server.backend(S3Location.parse("s3://no-such-bucket")).build()) {
            assertThatThrownBy(missing::checkBucket).isInstanceOf(IOException.class)
                    .hasMessageContaining("bucket 'no-such-bucket' does not exist");
        }
        try (S3Backend refused = S3Backend.builder(new S3Location(bucket, "")).endpoint(server.endpoint())
                .credentials(S3ProxyServer.ACCESS_KEY, "wrong-secret").build()) {
            assertThatThrownBy(refused::checkBucket).isInstanceOf(IOException.class)
                    .hasMessageContaining("denied").hasMessageContaining("check the credentials");
        }
        int deadPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            deadPort = s.getLocalPort();
        }
        try (S3Backend dead = S3Backend.builder(new S3Location(bucket, ""))
                .endpoint(URI.create("http://127.0.0.1:" + deadPort))
                .credentials(S3ProxyServer.ACCESS_KEY, S3ProxyServer.SECRET_KEY).build()) {
            long t0 = System.nanoTime();
            assertThatThrownBy(dead::checkBucket).isInstanceOf(IOException.class)
                    .hasMessageContaining("cannot reach http://127.0.0.1:" + deadPort);
            System.out.printf("checkBucket against a closed port failed after %d ms%n",
                    (System.nanoTime() - t0) / 1_000_000);
        }
    }

    @Test
    void aCallToAStoreThatNeverAnswersReturnsAtOnceWhenInterrupted() throws Exception {
        // a "store" that accepts connections and then says nothing: the SDK's socket read would wait 20 s
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
             S3Backend hung = S3Backend.builder(new S3Location(bucket, "")).maxAttempts(1)
                     .endpoint(URI.create("http://127.0.0.1:" + silent.getLocalPort()))
                     .credentials(S3ProxyServer.ACCESS_KEY, S3ProxyServer.SECRET_KEY).build()) {
            List<Socket> accepted = new CopyOnWriteArrayList<>();
            Thread acceptor = new Thread(() -> {
                try {
                    while (true) {
                        accepted.add(silent.accept());
                    }
                } catch (IOException closed) {
                    // test over
                }
            });
            acceptor.setDaemon(true);
            acceptor.start();
            CompletableFuture<Throwable> outcome = new CompletableFuture<>();
            Thread caller = new Thread(() -> {
                try {
                    hung.stat("/x");
                    outcome.complete(null);
                } catch (Throwable t) {
                    outcome.complete(t);
                }
            });
            caller.start();
            await().atMost(Duration.ofSeconds(10)).until(() -> !accepted.isEmpty());
            Thread.sleep(200); // the request is sent and its thread waits for the answer
            long t0 = System.nanoTime();
            caller.interrupt();
            Throwable t = outcome.get(2, TimeUnit.SECONDS);
            System.out.printf("HeadObject to a silent store: the interrupted caller returned in %.1f ms%n",
                    (System.nanoTime() - t0) / 1e6);
            assertThat(t).isInstanceOf(InterruptedIOException.class);
            for (Socket a : accepted) {
                a.close();
            }
        }
    }

    @Test
    void aDownloadReadSlowerThanTheCallTimeoutIsNotCutOff() throws Exception {
        // the call timeout bounds the request up to its response headers; a large object's body may take longer
        byte[] content = random(4 << 20, 12);
        put("/slow.bin", content);
        try (S3Backend quick = server.backend(new S3Location(bucket, PREFIX)).callTimeout(Duration.ofMillis(500))
                .build();
             java.io.InputStream in = quick.get("/slow.bin")) {
            byte[] head = in.readNBytes(1 << 20);
            Thread.sleep(1500);
            byte[] rest = in.readAllBytes();
            byte[] all = java.util.Arrays.copyOf(head, head.length + rest.length);
            System.arraycopy(rest, 0, all, head.length, rest.length);
            assertThat(all).isEqualTo(content);
        }
    }
}
