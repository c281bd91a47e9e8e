package io.fuseguard.cli;

import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.testkit.Child;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStore;
import org.jclouds.blobstore.BlobStoreContext;
import org.jclouds.blobstore.domain.Blob;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code fuseguard mount upload --backend s3://...} run as operators run it (a child process) against S3Proxy on
 * 127.0.0.1: it serves and uploads, the fault options work on S3, and bad input or an unusable store ends it
 * at once with one clear line.
 */
class MountUploadS3Test {
    static final String ACCESS_KEY = "cli-test";
    static final String SECRET_KEY = "cli-test-secret";
    static BlobStoreContext store;
    static S3Proxy proxy;
    static String endpoint;

    @TempDir
    Path tmp;

    @BeforeAll
    static void startS3Proxy() throws Exception {
        store = ContextBuilder.newBuilder("transient").credentials("identity", "credential")
                .build(BlobStoreContext.class);
        proxy = S3Proxy.builder().blobStore(store.getBlobStore()).endpoint(URI.create("http://127.0.0.1:0"))
                .awsAuthentication(AuthenticationType.AWS_V2_OR_V4, ACCESS_KEY, SECRET_KEY).build();
        proxy.start();
        await().atMost(Duration.ofSeconds(10)).until(() -> "STARTED".equals(proxy.getState()));
        endpoint = "http://127.0.0.1:" + proxy.getPort();
        store.getBlobStore().createContainerInLocation(null, "drive");
    }

    @AfterAll
    static void stopS3Proxy() throws Exception {
        proxy.stop();
        store.close();
    }

    @BeforeEach
    void needsFuse() {
        FuseAvailability.assumeUsable();
    }

    /**
     * The command line; credentials come from system properties, the first source of the SDK's default chain
     * (so it never asks an instance metadata service).
     */
    private static List<String> fuseguard(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Daws.accessKeyId=" + ACCESS_KEY, "-Daws.secretAccessKey=" + SECRET_KEY,
                "-Daws.disableEc2Metadata=true",
                "-cp", System.getProperty("java.class.path"), FuseguardCommand.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static Child.Result run(String... args) throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(60), fuseguard(args));
        assertThat(r.timedOut()).as("fuseguard %s finished in 60 s", String.join(" ", args)).isFalse();
        return r;
    }

    private static byte[] stored(String key) throws IOException {
        Blob b = store.getBlobStore().getBlob("drive", key);
        if (b == null) {
            return null;
        }
        try (InputStream in = b.getPayload().openStream()) {
            return in.readAllBytes();
        }
    }

    /** Starts the daemon and waits until it says it serves. */
    private Process serve(Path mp, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("mount", "upload", mp.toString(), "--cache",
                tmp.resolve("cache").toString(), "--backend", "s3://drive/cli", "--endpoint", endpoint));
        args.addAll(List.of(extra));
        Process p = new ProcessBuilder(fuseguard(args.toArray(String[]::new)))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
        CompletableFuture<String> ready = CompletableFuture.supplyAsync(() -> {
            try {
                String l;
                while ((l = err.readLine()) != null) {
                    if (l.contains("Serving upload")) {
                        return l;
                    }
                }
                return null;
            } catch (IOException e) {
                return null;
            }
        });
        assertThat(ready.get(30, TimeUnit.SECONDS)).as("the daemon says it serves").isNotNull();
        return p;
    }

    private static long stop(Process p, Path mp) throws Exception {
        long t0 = System.nanoTime();
        new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
        assertThat(p.waitFor(15, TimeUnit.SECONDS)).as("SIGTERM stops the daemon").isTrue();
        assertThat(MountTable.load().findByMountPoint(mp)).as("unmounted").isEmpty();
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    private static void cleanUp(Process p, Path mp) throws Exception {
        p.destroyForcibly();
        p.waitFor(10, TimeUnit.SECONDS);
        if (MountTable.load().findByMountPoint(mp).isPresent()) {
            new ProcessBuilder("umount", "-l", mp.toString()).start().waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void mountUploadOnS3UploadsAfterCloseAndStopsOnSigterm() throws Exception {
        Path mp = Files.createDirectory(tmp.resolve("mnt"));
        Process p = serve(mp, "--s3-call-timeout", "20s", "--s3-min-rate", "1M"); // accepted with a real store
        try {
            Child.runOk("sh", "-c", "mkdir -p " + mp.resolve("a") + " && printf via-cli > " + mp.resolve("a/f.txt"));
            await().atMost(Duration.ofSeconds(15)).until(() -> stored("cli/a/f.txt") != null);
            assertThat(new String(stored("cli/a/f.txt"), StandardCharsets.UTF_8)).isEqualTo("via-cli");
            System.out.printf("fuseguard mount upload (S3) stopped %d ms after SIGTERM%n", stop(p, mp));
        } finally {
            cleanUp(p, mp);
        }
    }

    @Test
    void backendStallWorksOnS3AndDoesNotHoldTheStop() throws Exception {
        Path mp = Files.createDirectory(tmp.resolve("mnt"));
        Process p = serve(mp, "--backend-stall");
        try {
            long t0 = System.nanoTime();
            Child.runOk("sh", "-c", "printf stalled > " + mp.resolve("s.txt"));
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            Thread.sleep(1000);
            assertThat(stored("cli/s.txt")).as("the stalled upload did not reach S3").isNull();
            assertThat(Child.runOk("cat", mp.resolve("s.txt").toString())).isEqualTo("stalled");
            long stopMs = stop(p, mp);
            System.out.printf("--backend-stall on S3: write+close %d ms; stop with a stalled upload %d ms%n", ms,
                    stopMs);
            assertThat(stopMs).isLessThan(10_000);
        } finally {
            cleanUp(p, mp);
        }
    }

    @Test
    void badS3InputExitsTwoWithOneLine() throws Exception {
        Path mp = Files.createDirectory(tmp.resolve("mnt"));
        String cache = tmp.resolve("cache").toString();
        String[][] cases = {
                {"no bucket in 's3://'", "--backend", "s3://"},
                {"not a valid S3 bucket name", "--backend", "s3://Not_A_Bucket/x"},
                {"--endpoint needs an S3 backend", "--backend", tmp.resolve("dir").toString(), "--endpoint", endpoint},
                {"--region needs an S3 backend", "--backend", tmp.resolve("dir").toString(), "--region", "eu-west-1"},
                {"is not an http:// or https:// URL", "--backend", "s3://drive", "--endpoint", "ftp://127.0.0.1/"},
                {"is not a URL", "--backend", "s3://drive", "--endpoint", "http://bad host:1"},
                {"--s3-call-timeout needs an S3 backend", "--backend", tmp.resolve("dir").toString(),
                        "--s3-call-timeout", "5s"},
                {"must be positive", "--backend", "s3://drive", "--endpoint", endpoint, "--s3-min-rate", "0k"},
        };
        for (String[] c : cases) {
            List<String> args = new ArrayList<>(List.of("mount", "upload", mp.toString(), "--cache", cache));
            args.addAll(List.of(c).subList(1, c.length));
            Child.Result r = run(args.toArray(String[]::new));
            assertThat(r.exit()).as("exit code of %s", args).isEqualTo(2);
            assertThat(r.err()).as("stderr of %s", args).contains("fuseguard: ").contains(c[0]);
            assertThat(r.err().lines().filter(l -> l.startsWith("fuseguard: ")).count()).isEqualTo(1);
        }
        Child.Result r = run("mount", "memory", mp.toString(), "--endpoint", endpoint);
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("--endpoint is an option of 'mount upload', not of 'mount memory'");
        assertThat(MountTable.load().findByMountPoint(mp)).isEmpty();
    }

    @Test
    void missingCredentialsAreOneShortLine() throws Exception {
        Path mp = Files.createDirectory(tmp.resolve("mnt"));
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Daws.disableEc2Metadata=true", "-cp", System.getProperty("java.class.path"),
                FuseguardCommand.class.getName(), "mount", "upload", mp.toString(), "--cache",
                tmp.resolve("cache").toString(), "--backend", "s3://drive/x", "--endpoint", endpoint);
        pb.environment().keySet().removeIf(k -> k.startsWith("AWS_"));
        pb.environment().put("AWS_EC2_METADATA_DISABLED", "true");
        pb.environment().put("AWS_SHARED_CREDENTIALS_FILE", tmp.resolve("no-credentials").toString());
        pb.environment().put("AWS_CONFIG_FILE", tmp.resolve("no-config").toString());
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        Process p = pb.start();
        String err;
        try {
            err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        } finally {
            cleanUp(p, mp);
        }
        System.out.printf("missing credentials: exit %d: %s%n", p.exitValue(), err.trim());
        assertThat(p.exitValue()).isEqualTo(1);
        List<String> lines = err.lines().filter(l -> l.startsWith("fuseguard: ")).toList();
        assertThat(lines).hasSize(1);
        assertThat(lines.get(0)).contains("no AWS credentials found").hasSizeLessThan(UserFacing.LIMIT + 20);
    }

    @Test
    void missingBucketOrDeadEndpointFailsFastBeforeMounting() throws Exception {
        Path mp = Files.createDirectory(tmp.resolve("mnt"));
        String cache = tmp.resolve("cache").toString();
        Child.Result missing = run("mount", "upload", mp.toString(), "--cache", cache, "--backend", "s3://nope",
                "--endpoint", endpoint);
        System.out.printf("missing bucket: exit %d after %d ms: %s%n", missing.exit(), missing.millis(),
                missing.err().trim());
        assertThat(missing.exit()).isEqualTo(1);
        assertThat(missing.err()).contains("fuseguard: --backend s3://nope: bucket 'nope' does not exist at "
                + endpoint);

        int deadPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            deadPort = s.getLocalPort();
        }
        Child.Result dead = run("mount", "upload", mp.toString(), "--cache", cache, "--backend", "s3://drive",
                "--endpoint", "http://127.0.0.1:" + deadPort);
        System.out.printf("dead endpoint: exit %d after %d ms: %s%n", dead.exit(), dead.millis(), dead.err().trim());
        assertThat(dead.exit()).isEqualTo(1);
        assertThat(dead.err()).contains("cannot reach http://127.0.0.1:" + deadPort);
        assertThat(dead.millis()).isLessThan(20_000);
        assertThat(MountTable.load().findByMountPoint(mp)).isEmpty();
    }

    @Test
    void helpNamesTheS3Options() throws Exception {
        Child.Result h = run("mount", "upload", "--help");
        assertThat(h.exit()).isZero();
        assertThat(h.out()).contains("--backend=DIR|s3://BUCKET[/PREFIX]").contains("--endpoint=URL")
                .contains("--region=REGION").contains("S3").contains("--s3-call-timeout=TIME")
                .contains("--s3-min-rate=SIZE");
        Child.Result memory = run("mount", "memory", "--help");
        assertThat(memory.out()).as("each kind lists its own options").contains("--capacity=SIZE")
                .doesNotContain("--endpoint").doesNotContain("--backend");
    }
}
