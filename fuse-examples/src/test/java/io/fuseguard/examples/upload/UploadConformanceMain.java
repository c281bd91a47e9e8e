package io.fuseguard.examples.upload;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.mount.FuseMount;

import java.nio.file.Path;

/**
 * Mounts a {@link CachedUploadFs} over a {@link DirectoryBackend} for an external POSIX conformance suite
 * (pjdfstest) and serves it until the process is killed; SIGTERM unmounts cleanly through the shutdown hook.
 *
 * <pre>{@code
 * java -cp TEST_CLASSPATH io.fuseguard.examples.upload.UploadConformanceMain /mnt/u /var/tmp/u-cache /var/tmp/u-backend
 * cd /mnt/u && prove -r /path/to/pjdfstest/tests
 * }</pre>
 *
 * The options are those of {@code MemoryFsConformanceMain}: {@code allowOther} (which adds
 * {@code default_permissions}, so the kernel checks access), a refused self-access, {@code use_ino} and zero
 * cache timeouts so every stat sees the filesystem's current answer. The suite's symlink, link, mknod and
 * mkfifo files fail by design: they are outside the filesystem's supported subset (see docs/upload-example.md).
 */
public final class UploadConformanceMain {
    private UploadConformanceMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: UploadConformanceMain MOUNTPOINT CACHE_DIR BACKEND_DIR");
            System.exit(2);
        }
        FuseguardConfig config = FuseguardConfig.builder()
                .fsName("uploadfs")
                .allowOther(true)
                .mountOption("use_ino")
                .mountOption("attr_timeout=0")
                .mountOption("entry_timeout=0")
                .mountOption("negative_timeout=0")
                .selfAccessPolicy(SelfAccessPolicy.REFUSE)
                .build();
        CachedUploadFs fs = new CachedUploadFs(Path.of(args[1]), new DirectoryBackend(Path.of(args[2])));
        try (FuseMount mount = FuseMount.mount(fs, Path.of(args[0]), config)) {
            System.out.println("mounted " + args[0]);
            mount.awaitUnmount();
        } finally {
            fs.close();
        }
    }
}
