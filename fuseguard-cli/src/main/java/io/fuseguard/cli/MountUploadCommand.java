package io.fuseguard.cli;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.examples.upload.Backend;
import io.fuseguard.examples.upload.CacheLock;
import io.fuseguard.examples.upload.CachedUploadFs;
import io.fuseguard.examples.upload.DirectoryBackend;
import io.fuseguard.examples.upload.FaultInjectingBackend;
import io.fuseguard.examples.upload.S3Backend;
import io.fuseguard.examples.upload.S3Location;
import io.fuseguard.examples.upload.UploadLayout;
import io.fuseguard.internal.log.Log;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/** {@code fuseguard mount upload}: ndrive-style, a local cache uploaded after close to a directory or S3. */
@Command(name = "upload", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {"Mounts the upload example (a local cache, uploaded after close to a directory or S3) and "
                + "serves it until Ctrl-C or SIGTERM.",
                "ndrive-style: files live in the cache and are uploaded after their last close. The backend is a "
                + "directory or an S3 bucket (--backend s3://BUCKET[/PREFIX], --endpoint URL for MinIO/S3Proxy; AWS "
                + "credentials from the environment, ~/.aws or the instance). Regular files and directories only: "
                + "symlinks, hard links, FIFOs, sockets and devices are refused with EPERM. Mode, owner and times "
                + "live in the cache (kept across restarts), not in the backend."})
final class MountUploadCommand extends MountSubcommand {
    private static final Log LOG = Log.of(MountUploadCommand.class);

    // ---- the upload example's options (one block: the backend, S3, then the drills' fault options) ----------

    @Option(names = "--cache", paramLabel = "DIR", required = true, description = "local cache directory")
    Path cache;

    @Option(names = "--backend", paramLabel = "DIR|s3://BUCKET[/PREFIX]", required = true,
            description = "backend directory, or an S3 bucket and optional key prefix")
    String backend;

    @Option(names = "--create-backend", description = "create the --backend directory if it does not exist "
            + "(without it a missing directory is refused: a mistyped store would start empty)")
    boolean createBackend;

    @Option(names = "--endpoint", paramLabel = "URL", description = "s3: S3-compatible endpoint such as "
            + "http://127.0.0.1:9000 (path-style access; default: AWS S3)")
    String endpoint;

    @Option(names = "--region", paramLabel = "REGION", description = "s3: signing region (default us-east-1)")
    String region;

    @Option(names = "--s3-call-timeout", paramLabel = "TIME", converter = DurationConverter.class,
            description = "s3: time every S3 request gets, retries included, before its body (default 15s); past it"
                    + " the request is aborted and the upload retried later")
    Duration s3CallTimeout;

    @Option(names = "--s3-min-rate", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "s3: slowest transfer rate per second a request body is given time for (default 512k)")
    Long s3MinRate;

    @Option(names = "--backend-latency", paramLabel = "TIME", converter = DurationConverter.class,
            description = "latency added to every backend call (drills)")
    Duration backendLatency;

    @Option(names = "--backend-stall", description = "uploads stall after their first chunk until the daemon stops "
            + "(drills)")
    boolean backendStall;

    @Option(names = "--backend-fail", description = "every upload fails: retried, then parked (drills)")
    boolean backendFail;

    // -------------------------------------------------------------------------------------------------------------

    /** The filesystem's backend: closed after the filesystem, which does not own it. */
    private Backend uploadBackend;

    @Override
    String kind() {
        return "upload";
    }

    @Override
    void warmUp() {
        for (String c : new String[] {"io.fuseguard.examples.upload.CachedUploadFs", "io.fuseguard.examples.host.Host", "io.fuseguard.examples.host.HostStat"}) {
            try {
                Class.forName(c, true, getClass().getClassLoader()); // the host bindings are generated here
            } catch (ClassNotFoundException | LinkageError e) {
                // loaded when needed
            }
        }
    }

    /** Bad input found before anything is made: options of the other backend kind, a layout that cannot work. */
    @Override
    void check() {
        if (!S3Location.isS3(backend)) {
            String s3Only = endpoint != null ? "--endpoint" : region != null ? "--region"
                    : s3CallTimeout != null ? "--s3-call-timeout" : s3MinRate != null ? "--s3-min-rate" : null;
            if (s3Only != null) {
                throw new FuseguardCommand.BadInputException(s3Only
                        + " needs an S3 backend (--backend s3://BUCKET[/PREFIX])");
            }
            checkLayout(Path.of(backend));
        } else {
            if (createBackend) {
                throw new FuseguardCommand.BadInputException("--create-backend only applies to a directory backend");
            }
            checkLayout(null);
        }
    }

    /**
     * Refuses a layout that cannot work before anything is created (a cache made in the mount point would make it
     * non-empty for good); {@code dir} is the directory backend, null for S3.
     */
    private void checkLayout(Path dir) {
        try {
            UploadLayout.check(mountPoint(), cache, dir, createBackend);
            CacheLock.probe(cache); // a second daemon on one cache would lose the first one's uploads
        } catch (UploadLayout.BadLayoutException | CacheLock.InUseException e) {
            throw new FuseguardCommand.BadInputException(e.getMessage());
        }
    }

    @Override
    FuseFileSystem fileSystem() throws IOException {
        Backend be = withFaults(uploadBackend());
        uploadBackend = be;
        Files.createDirectories(cache);
        try {
            return new CachedUploadFs(cache, be);
        } catch (CacheLock.InUseException e) {
            throw new FuseguardCommand.BadInputException(e.getMessage());
        }
    }

    @Override
    void mounted(FuseFileSystem fs, io.fuseguard.mount.FuseMount mount) {
        ((CachedUploadFs) fs).notifyKernel(mount.notifier()); // downloads change attributes the kernel caches
    }

    @Override
    void closeResources() {
        if (uploadBackend != null) {
            try {
                uploadBackend.close();
            } catch (IOException | RuntimeException e) {
                LOG.warn("closing the backend failed: {}", e.getMessage());
            }
        }
    }

    /** The backend named by --backend: a directory, or an S3 bucket checked before anything is mounted. */
    private Backend uploadBackend() throws IOException {
        check();
        if (!S3Location.isS3(backend)) {
            Path dir = Path.of(backend);
            Files.createDirectories(dir);
            return new DirectoryBackend(dir);
        }
        S3Location location;
        try {
            location = S3Location.parse(backend);
        } catch (IllegalArgumentException e) {
            throw new FuseguardCommand.BadInputException("--backend " + backend + ": " + e.getMessage());
        }
        S3Backend.Builder b = S3Backend.builder(location);
        if (endpoint != null) {
            b.endpoint(endpointUri());
        }
        if (s3CallTimeout != null) {
            b.callTimeout(s3CallTimeout);
        }
        if (s3MinRate != null) {
            b.minTransferRate(s3MinRate);
        }
        if (region != null) {
            if (!region.matches("[a-z0-9-]+")) {
                throw new FuseguardCommand.BadInputException("--region '" + region + "' is not a region name");
            }
            b.region(region);
        }
        S3Backend s3 = b.build();
        try {
            s3.checkBucket(); // a wrong endpoint or bucket fails now, not at the first upload
        } catch (IOException e) {
            s3.close();
            throw new IOException("--backend " + location + ": " + e.getMessage(), e);
        }
        LOG.info("Backend {} at {}", location, endpoint != null ? endpoint : "AWS S3");
        return s3;
    }

    private URI endpointUri() {
        try {
            URI u = new URI(endpoint);
            if (u.getScheme() == null || !(u.getScheme().equals("http") || u.getScheme().equals("https"))
                    || u.getHost() == null) {
                throw new FuseguardCommand.BadInputException("--endpoint '" + endpoint + "' is not an http:// or "
                        + "https:// URL with a host");
            }
            return u;
        } catch (URISyntaxException e) {
            throw new FuseguardCommand.BadInputException("--endpoint '" + endpoint + "' is not a URL: "
                    + e.getReason());
        }
    }

    /** The --backend-* fault options, for drills: any backend, directory or S3, can be made slow or broken. */
    private Backend withFaults(Backend be) {
        if (backendLatency == null && !backendStall && !backendFail) {
            return be;
        }
        FaultInjectingBackend f = new FaultInjectingBackend(be);
        f.faults().latency(backendLatency).stallUploads(backendStall).failUploads(backendFail);
        return f;
    }
}
