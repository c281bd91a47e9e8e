package io.fuseguard.examples.upload;

import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.PutObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.model.ServerSideEncryption;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.file.NoSuchFileException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A {@link Backend} in an S3 bucket (AWS S3, MinIO, S3Proxy, ...), on the AWS SDK for Java v2's synchronous
 * client over the JDK's HTTP client. A file {@code /dir/file} is the object {@code prefix + "dir/file"};
 * directories are implicit (common prefixes), as the {@link Backend} contract expects.
 *
 * <pre>{@code
 * S3Backend backend = S3Backend.builder(S3Location.parse("s3://my-bucket/ndrive"))
 *         .endpoint(URI.create("http://127.0.0.1:9000"))        // MinIO, S3Proxy: path-style access
 *         .build();
 * backend.checkBucket();                                          // fail fast: endpoint down, bucket missing
 * }</pre>
 *
 * <ul>
 *   <li>{@link #put}: up to {@link Builder#multipartThreshold} bytes a single {@code PutObject}, above it a
 *       multipart upload in parts of {@link Builder#partSize} bytes, aborted on failure or interruption. Each
 *       request carries {@code Content-MD5}, so a corrupted transfer is refused by the store; a single-part
 *       upload's ETag is compared with the local MD5 too. The object appears atomically when complete.</li>
 *   <li>{@link #list}: {@code ListObjectsV2} with delimiter {@code /}, following continuation tokens.</li>
 *   <li>{@link #stat}: {@code HeadObject}, then a one-key listing of {@code path/} for an implicit
 *       directory.</li>
 *   <li>{@link #get}: {@code GetObject}, streamed to the caller.</li>
 * </ul>
 *
 * <p>Requests run on this backend's own threads while the caller waits ({@link S3Calls}): an interrupted
 * caller (an fsync past its deadline, the filesystem closing) returns at once with an
 * {@link InterruptedIOException}. The SDK makes at most {@link Builder#maxAttempts} attempts per request
 * (default 3) with its backoff, all of them within the request's call timeout: {@link Builder#callTimeout}
 * (default 15 s) plus its body at {@link Builder#minTransferRate} (default 512 KiB/s; an 8 MiB part gets 31 s).
 * Past it the SDK aborts the request and the caller stops waiting ({@link S3Calls}), so a store that accepts a
 * connection and stops reading fails an upload with an {@link IOException} instead of holding its thread for
 * good. Everything else is left to {@link CachedUploadFs}'s own retries, so an {@code fsync} stays within its
 * deadline. A multipart upload uses parts large enough for S3's 10,000-part limit ({@link #partSizeFor}). The SDK's flexible checksums are requested only where an operation
 * requires them, which keeps S3-compatible stores without CRC support working; Content-MD5 covers the data.
 */
public final class S3Backend implements Backend {
    /** Default size above which a put is a multipart upload. */
    public static final long DEFAULT_MULTIPART_THRESHOLD = 16L << 20;
    /** Largest single-part upload: it is held in memory, so it must fit in an array. */
    static final long MAX_SINGLE_PART = Integer.MAX_VALUE - 16;
    /** Default part size of a multipart upload (S3's minimum is 5 MiB for every part but the last). */
    public static final int DEFAULT_PART_SIZE = 8 << 20;
    /** S3's limit on the parts of one multipart upload. */
    static final int MAX_PARTS = 10_000;
    /** S3's limit on the length of a key, in UTF-8 bytes. */
    static final int MAX_KEY_BYTES = 1024;
    /** Default time every request gets, whatever its size. */
    public static final Duration DEFAULT_CALL_TIMEOUT = Duration.ofSeconds(15);
    /** Default slowest transfer rate a request with a body is allowed (512 KiB/s, a poor uplink). */
    public static final long DEFAULT_MIN_RATE = 512 << 10;

    private final S3Client s3;
    private final AwsCredentialsProvider credentials;
    private final S3Location location;
    private final URI endpoint;
    private final long multipartThreshold;
    private final int partSize;
    private final Duration callTimeout;
    private final long minRate;
    private final S3Calls calls = new S3Calls();

    private S3Backend(Builder b) {
        this.location = b.location;
        this.endpoint = b.endpoint;
        this.multipartThreshold = b.multipartThreshold;
        this.partSize = b.partSize;
        this.callTimeout = b.callTimeout;
        this.minRate = b.minRate;
        this.credentials = b.credentials != null ? b.credentials : DefaultCredentialsProvider.builder().build();
        S3ClientBuilder cb = S3Client.builder()
                .region(Region.of(b.region))
                .credentialsProvider(credentials)
                .httpClientBuilder(UrlConnectionHttpClient.builder()
                        .connectionTimeout(b.connectTimeout)
                        .socketTimeout(b.socketTimeout))
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                // every attempt, and all attempts together, within the call timeout: the socket timeout alone
                // let a silent store hold a request for attempts x 30 s, and never bounds a blocked write.
                // Requests with a body override both with a timeout scaled to its size.
                .overrideConfiguration(o -> o.retryStrategy(r -> r.maxAttempts(b.maxAttempts))
                        .apiCallTimeout(b.callTimeout).apiCallAttemptTimeout(b.callTimeout));
        if (b.endpoint != null) {
            // Self-hosted stores rarely have a DNS name per bucket.
            cb.endpointOverride(b.endpoint).forcePathStyle(true);
        }
        this.s3 = cb.build();
    }

    /** A builder for a backend at {@code location}. */
    public static Builder builder(S3Location location) {
        return new Builder(location);
    }

    /** Where the files are kept. */
    public S3Location location() {
        return location;
    }

    /**
     * Checks that the endpoint answers and the bucket exists and is accessible ({@code HeadBucket}, one
     * attempt), so a misconfigured daemon fails at start instead of at its first upload.
     *
     * @throws IOException with a message naming the missing credentials, the endpoint problem or the missing
     *                     bucket
     */
    public void checkBucket() throws IOException {
        String where = endpoint != null ? endpoint.toString() : "AWS S3";
        // first on its own: the SDK reports a chain that found nothing as a client error, which would read
        // "cannot reach <endpoint>" below although no request was sent
        try {
            calls.call("resolving AWS credentials", callTimeout, credentials::resolveCredentials);
        } catch (InterruptedIOException e) {
            throw e;
        } catch (IOException e) {
            throw new IOException("no AWS credentials found (environment, ~/.aws, instance profile): "
                    + rootMessage(e.getCause() != null ? e.getCause() : e), e);
        }
        try {
            calls.call("HeadBucket " + location.bucket(), callTimeout, () -> s3.headBucket(r -> r
                    .bucket(location.bucket())));
        } catch (NoSuchFileException e) {
            throw new IOException("bucket '" + location.bucket() + "' does not exist at " + where, e);
        } catch (InterruptedIOException e) {
            throw e;
        } catch (IOException e) {
            Throwable c = e.getCause();
            if (c instanceof S3Exception s && (s.statusCode() == 403 || s.statusCode() == 401)) {
                throw new IOException("access to bucket '" + location.bucket() + "' at " + where
                        + " denied (HTTP " + s.statusCode() + "): check the credentials", e);
            }
            if (c instanceof SdkClientException) {
                throw new IOException("cannot reach " + where + ": " + rootMessage(c), e);
            }
            throw e;
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable r = t;
        while (r.getCause() != null && r.getCause() != r) {
            r = r.getCause();
        }
        return r == t ? String.valueOf(t.getMessage()) : r.getClass().getSimpleName() + ": " + r.getMessage();
    }

    @Override
    public void put(String path, InputStream data, long size) throws IOException {
        String key = location.keyOf(path);
        if (key.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_KEY_BYTES) {
            // CachedUploadFs refuses such paths up front (maxPathLength); this is for other callers
            throw new IOException("key of " + path + " is longer than S3's " + MAX_KEY_BYTES + " bytes");
        }
        if (size <= multipartThreshold) {
            byte[] body = readExactly(data, (int) size, path);
            requireEnd(data, path, size);
            byte[] md5 = md5(body, body.length);
            Duration timeout = timeoutFor(body.length);
            PutObjectResponse put = calls.call("PutObject " + key, timeout, () -> s3.putObject(r -> r
                    .bucket(location.bucket()).key(key).contentLength((long) body.length).contentMD5(base64(md5))
                    .overrideConfiguration(o -> o.apiCallTimeout(timeout).apiCallAttemptTimeout(timeout)),
                    RequestBody.fromBytes(body)));
            requireMd5ETag(path, put, md5);
            return;
        }
        multipartPut(path, key, data, size);
    }

    /**
     * A plain single-part object's ETag is its MD5: a mismatch means other bytes were stored. Objects encrypted
     * otherwise than SSE-S3 (KMS, customer keys) have other ETags; Content-MD5 alone vouches for them.
     */
    private static void requireMd5ETag(String path, PutObjectResponse put, byte[] md5) throws IOException {
        String etag = put.eTag();
        ServerSideEncryption sse = put.serverSideEncryption();
        if (etag == null || put.sseCustomerAlgorithm() != null || (sse != null && sse != ServerSideEncryption.AES256)) {
            return;
        }
        String local = HexFormat.of().formatHex(md5);
        if (!unquote(etag).equalsIgnoreCase(local)) {
            throw new IOException("upload of " + path + " stored other bytes: ETag " + etag + ", local MD5 "
                    + local);
        }
    }

    private void multipartPut(String path, String key, InputStream data, long size) throws IOException {
        int partSize = partSizeFor(size, this.partSize);
        String uploadId = calls.call("CreateMultipartUpload " + key, callTimeout, () -> s3.createMultipartUpload(
                r -> r.bucket(location.bucket()).key(key))).uploadId();
        boolean done = false;
        try {
            List<CompletedPart> parts = new ArrayList<>();
            byte[] buf = new byte[(int) Math.min(partSize, size)];
            long sent = 0;
            for (int number = 1; sent < size; number++) {
                int len = (int) Math.min(partSize, size - sent);
                readExactly(data, buf, len, path, sent);
                String md5 = base64(md5(buf, len));
                int part = number;
                RequestBody body = RequestBody.fromBytes(len == buf.length ? buf : Arrays.copyOf(buf, len));
                Duration timeout = timeoutFor(len);
                String etag = calls.call("UploadPart " + part + " of " + key, timeout, () -> s3.uploadPart(r -> r
                        .bucket(location.bucket()).key(key).uploadId(uploadId).partNumber(part)
                        .contentLength((long) len).contentMD5(md5)
                        .overrideConfiguration(o -> o.apiCallTimeout(timeout).apiCallAttemptTimeout(timeout)),
                        body)).eTag();
                parts.add(CompletedPart.builder().partNumber(part).eTag(etag).build());
                sent += len;
            }
            requireEnd(data, path, size);
            // S3 may take minutes to assemble a large object: a second per GiB on top of the floor
            Duration complete = callTimeout.plusSeconds(size >> 30);
            calls.call("CompleteMultipartUpload " + key, complete, () -> s3.completeMultipartUpload(r -> r
                    .bucket(location.bucket()).key(key).uploadId(uploadId)
                    .multipartUpload(m -> m.parts(parts))
                    .overrideConfiguration(o -> o.apiCallTimeout(complete).apiCallAttemptTimeout(complete))));
            done = true;
        } finally {
            if (!done) {
                abort(key, uploadId);
            }
        }
    }

    /** Aborts a multipart upload in the background: the caller may be interrupted, and must not wait. */
    private void abort(String key, String uploadId) {
        calls.background(() -> {
            try {
                s3.abortMultipartUpload(r -> r.bucket(location.bucket()).key(key).uploadId(uploadId));
            } catch (SdkException e) {
                // the bucket's lifecycle rule for incomplete uploads cleans up what this could not
            }
        });
    }

    /** S3's 1024 bytes of key, less the prefix. */
    @Override
    public int maxPathLength() {
        return location.maxPathBytes();
    }

    @Override
    public InputStream get(String path) throws IOException {
        String key = location.keyOf(path);
        return calls.call("GetObject " + key, callTimeout, () -> s3.getObject(r -> r.bucket(location.bucket()).key(key)));
    }

    @Override
    public List<BackendEntry> list(String dir) throws IOException {
        String prefix = location.dirPrefixOf(dir);
        List<BackendEntry> out = new ArrayList<>();
        String token = null;
        do {
            String t = token;
            ListObjectsV2Response page = calls.call("ListObjectsV2 " + prefix, callTimeout, () -> s3.listObjectsV2(
                    ListObjectsV2Request.builder().bucket(location.bucket()).prefix(prefix).delimiter("/")
                            .continuationToken(t).build()));
            for (S3Object o : page.contents()) {
                String name = o.key().substring(prefix.length());
                if (!name.isEmpty()) { // a zero-byte "dir/" marker made by another tool is the directory itself
                    out.add(new BackendEntry(name, false, o.size(), o.lastModified()));
                }
            }
            for (CommonPrefix p : page.commonPrefixes()) {
                String name = p.prefix().substring(prefix.length(), p.prefix().length() - 1);
                if (!name.isEmpty()) {
                    out.add(new BackendEntry(name, true, 0, Instant.EPOCH));
                }
            }
            token = Boolean.TRUE.equals(page.isTruncated()) ? page.nextContinuationToken() : null;
        } while (token != null);
        out.sort(Comparator.comparing(BackendEntry::name));
        return out;
    }

    @Override
    public void delete(String path) throws IOException {
        if (path.equals("/")) {
            return;
        }
        String key = location.keyOf(path);
        // A missing key is no error for S3; an implicit directory disappears with its last file.
        calls.call("DeleteObject " + key, callTimeout, () -> s3.deleteObject(r -> r.bucket(location.bucket()).key(key)));
    }

    @Override
    public Optional<BackendEntry> stat(String path) throws IOException {
        if (path.equals("/")) {
            return Optional.of(new BackendEntry("/", true, 0, Instant.EPOCH));
        }
        String key = location.keyOf(path);
        String name = key.substring(key.lastIndexOf('/') + 1);
        try {
            HeadObjectResponse h = calls.call("HeadObject " + key, callTimeout, () -> s3.headObject(r -> r
                    .bucket(location.bucket()).key(key)));
            return Optional.of(new BackendEntry(name, false, h.contentLength(), h.lastModified()));
        } catch (NoSuchFileException e) {
            String dirPrefix = key + "/";
            ListObjectsV2Response page = calls.call("ListObjectsV2 " + dirPrefix, callTimeout, () -> s3.listObjectsV2(r -> r
                    .bucket(location.bucket()).prefix(dirPrefix).maxKeys(1)));
            return page.contents().isEmpty() ? Optional.empty()
                    : Optional.of(new BackendEntry(name, true, 0, Instant.EPOCH));
        }
    }

    /**
     * Stops the request threads and closes the client. Aborts of multipart uploads still queued (the
     * filesystem interrupts its uploads when it closes) get up to 2 s to reach the store.
     */
    @Override
    public void close() {
        calls.close();
        s3.close();
    }

    @Override
    public String toString() {
        return location.toString();
    }

    /**
     * The time one request carrying {@code bodyBytes} gets, all its attempts included: the floor plus the body
     * at the slowest acceptable rate. A store that stops reading (or answering) fails the request then, and
     * the uploader retries it later.
     */
    Duration timeoutFor(long bodyBytes) {
        return timeoutFor(bodyBytes, callTimeout, minRate);
    }

    static Duration timeoutFor(long bodyBytes, Duration floor, long minRate) {
        return floor.plusMillis(Math.multiplyExact(bodyBytes, 1000L) / minRate);
    }

    /**
     * The part size of a multipart upload of {@code size} bytes: the configured one, or more when the file
     * would otherwise need more than {@link #MAX_PARTS} parts (S3 refuses part 10,001 after everything before
     * it was sent: 8 MiB parts end at 78 GiB), rounded up to a whole MiB.
     *
     * @throws IOException when the parts would not fit in memory (over 20 TiB; S3 takes at most 5 TiB)
     */
    static int partSizeFor(long size, int configured) throws IOException {
        long least = (size + MAX_PARTS - 1) / MAX_PARTS;
        long mib = 1L << 20;
        least = (least + mib - 1) / mib * mib;
        long part = Math.max(configured, least);
        if (part > MAX_SINGLE_PART) {
            throw new IOException("file of " + size + " bytes is too large for a multipart upload");
        }
        return (int) part;
    }

    private static byte[] readExactly(InputStream in, int size, String path) throws IOException {
        byte[] b = new byte[size];
        readExactly(in, b, size, path, 0);
        return b;
    }

    private static void readExactly(InputStream in, byte[] buf, int len, String path, long offset)
            throws IOException {
        int got = in.readNBytes(buf, 0, len);
        if (got != len) {
            throw new IOException("short upload of " + path + ": " + (offset + got) + " bytes, expected more");
        }
    }

    /** The data must end where its size says: a file grown meanwhile is uploaded again by its next close. */
    private static void requireEnd(InputStream in, String path, long size) throws IOException {
        if (in.read() >= 0) {
            throw new IOException("upload of " + path + " has more than " + size + " bytes");
        }
    }

    private static byte[] md5(byte[] b, int len) {
        try {
            MessageDigest d = MessageDigest.getInstance("MD5");
            d.update(b, 0, len);
            return d.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has MD5", e);
        }
    }

    private static String base64(byte[] b) {
        return Base64.getEncoder().encodeToString(b);
    }

    private static String unquote(String etag) {
        return etag.startsWith("\"") && etag.endsWith("\"") && etag.length() >= 2
                ? etag.substring(1, etag.length() - 1) : etag;
    }

    /** Settings of an {@link S3Backend}. */
    public static final class Builder {
        private final S3Location location;
        private URI endpoint;
        private String region = "us-east-1";
        private AwsCredentialsProvider credentials;
        private long multipartThreshold = DEFAULT_MULTIPART_THRESHOLD;
        private int partSize = DEFAULT_PART_SIZE;
        private int maxAttempts = 3;
        private Duration connectTimeout = Duration.ofSeconds(5);
        private Duration socketTimeout = Duration.ofSeconds(30);
        private Duration callTimeout = DEFAULT_CALL_TIMEOUT;
        private long minRate = DEFAULT_MIN_RATE;

        private Builder(S3Location location) {
            this.location = Objects.requireNonNull(location, "location");
        }

        /** An S3-compatible endpoint ({@code http://127.0.0.1:9000}); buckets are then addressed path-style. */
        public Builder endpoint(URI endpoint) {
            this.endpoint = endpoint;
            return this;
        }

        /** The region requests are signed for (default {@code us-east-1}). */
        public Builder region(String region) {
            this.region = Objects.requireNonNull(region, "region");
            return this;
        }

        /** Credentials; by default the SDK's chain (environment, system properties, profile, container, IMDS). */
        public Builder credentials(AwsCredentialsProvider credentials) {
            this.credentials = credentials;
            return this;
        }

        /** Fixed credentials. */
        public Builder credentials(String accessKeyId, String secretAccessKey) {
            return credentials(StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKeyId,
                    secretAccessKey)));
        }

        /** Size above which a put is a multipart upload (default 16 MiB). */
        public Builder multipartThreshold(long bytes) {
            if (bytes < 0 || bytes > MAX_SINGLE_PART) {
                throw new IllegalArgumentException("multipart threshold must be between 0 and " + MAX_SINGLE_PART);
            }
            this.multipartThreshold = bytes;
            return this;
        }

        /** Part size of multipart uploads (default 8 MiB; S3 needs at least 5 MiB, S3Proxy accepts less). */
        public Builder partSize(int bytes) {
            if (bytes < 1) {
                throw new IllegalArgumentException("part size must be positive");
            }
            this.partSize = bytes;
            return this;
        }

        /** Attempts per request, the first included (default 3): few, so fsync stays within its deadline. */
        public Builder maxAttempts(int attempts) {
            if (attempts < 1) {
                throw new IllegalArgumentException("at least one attempt");
            }
            this.maxAttempts = attempts;
            return this;
        }

        /** TCP connect timeout (default 5 s). */
        public Builder connectTimeout(Duration timeout) {
            this.connectTimeout = Objects.requireNonNull(timeout);
            return this;
        }

        /** Longest silence on a connection while a request is under way (default 30 s). */
        public Builder socketTimeout(Duration timeout) {
            this.socketTimeout = Objects.requireNonNull(timeout);
            return this;
        }

        /**
         * The time every request gets, whatever its size, all attempts included (default 15 s); a request
         * with a body gets {@link #minTransferRate its size at the slowest rate} more. Past it the request is
         * aborted and fails with an {@link IOException} the uploader retries.
         */
        public Builder callTimeout(Duration timeout) {
            if (timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("call timeout must be positive");
            }
            this.callTimeout = timeout;
            return this;
        }

        /** The slowest transfer rate a request's body is allowed, in bytes per second (default 512 KiB/s). */
        public Builder minTransferRate(long bytesPerSecond) {
            if (bytesPerSecond < 1) {
                throw new IllegalArgumentException("rate must be positive");
            }
            this.minRate = bytesPerSecond;
            return this;
        }

        /** The backend; its client is closed by {@link S3Backend#close()}. */
        public S3Backend build() {
            return new S3Backend(this);
        }
    }
}
