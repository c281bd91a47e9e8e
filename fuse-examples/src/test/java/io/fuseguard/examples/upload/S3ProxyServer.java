package io.fuseguard.examples.upload;

import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;

import java.net.URI;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * An S3 API server in this JVM (S3Proxy over jclouds' in-memory "transient" blob store), listening on
 * 127.0.0.1 on an ephemeral port, with fixed V4 credentials. Tests read what was stored through
 * {@link #blobStore()}, beside the S3 API.
 */
final class S3ProxyServer implements AutoCloseable {
    static final String ACCESS_KEY = "fuseguard-test";
    static final String SECRET_KEY = "fuseguard-test-secret";

    private final BlobStoreContext context;
    private final S3Proxy proxy;

    private S3ProxyServer(BlobStoreContext context, S3Proxy proxy) {
        this.context = context;
        this.proxy = proxy;
    }

    /** Starts a server with an empty store; waits until it listens. */
    static S3ProxyServer start() throws Exception {
        BlobStoreContext context = ContextBuilder.newBuilder("transient").credentials("identity", "credential")
                .build(BlobStoreContext.class);
        S3Proxy proxy = S3Proxy.builder().blobStore(context.getBlobStore())
                .endpoint(URI.create("http://127.0.0.1:0"))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY)
                .build();
        proxy.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!"STARTED".equals(proxy.getState())) {
            if (System.nanoTime() > deadline) {
                proxy.stop();
                context.close();
                throw new IllegalStateException("S3Proxy did not start in 10 s: " + proxy.getState());
            }
            Thread.sleep(5);
        }
        return new S3ProxyServer(context, proxy);
    }

    /** The endpoint, {@code http://127.0.0.1:PORT}. */
    URI endpoint() {
        return URI.create("http://127.0.0.1:" + proxy.getPort());
    }

    /** The store behind the S3 API. */
    BlobStore blobStore() {
        return context.getBlobStore();
    }

    /** Creates a bucket. */
    void createBucket(String name) {
        blobStore().createContainerInLocation(null, name);
    }

    /** A backend on {@code location} of this server (few attempts, short timeouts: tests fail fast). */
    S3Backend.Builder backend(S3Location location) {
        return S3Backend.builder(location).endpoint(endpoint()).credentials(ACCESS_KEY, SECRET_KEY)
                .socketTimeout(Duration.ofSeconds(20));
    }

    @Override
    public void close() {
        try {
            proxy.stop();
        } catch (Exception e) {
            throw new IllegalStateException("stopping S3Proxy", e);
        } finally {
            context.close();
        }
    }
}
