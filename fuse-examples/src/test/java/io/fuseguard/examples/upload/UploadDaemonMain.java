package io.fuseguard.examples.upload;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;

import java.nio.file.Path;
import java.time.Duration;

/**
 * A stand-alone CachedUploadFs daemon for crash drills: {@code UploadDaemonMain <mountpoint> <cache dir>
 * <backend dir> <stall uploads: true|false> [<backend latency ms> [<upload delay ms>]]}. Prints
 * {@code READY <pid>} on stdout once mounted. A crash point is armed with {@code -D}{@value CrashPoints#PROPERTY}
 * (see {@link CrashPoints}); SIGTERM unmounts and stops the filesystem.
 */
public final class UploadDaemonMain {
    private UploadDaemonMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4 || args.length > 6) {
            System.err.println("usage: UploadDaemonMain <mountpoint> <cache dir> <backend dir> <stall> "
                    + "[<latency ms> [<upload delay ms>]]");
            System.exit(2);
        }
        FaultInjectingBackend backend = new FaultInjectingBackend(new DirectoryBackend(Path.of(args[2])));
        backend.faults().stallUploads(Boolean.parseBoolean(args[3]));
        if (args.length > 4) {
            backend.faults().latency(Duration.ofMillis(Long.parseLong(args[4])));
        }
        CachedUploadFs.Settings settings = CachedUploadFs.Settings.defaults();
        if (args.length > 5) {
            settings = settings.withUploadDelay(Duration.ofMillis(Long.parseLong(args[5])));
        }
        CachedUploadFs fs = new CachedUploadFs(Path.of(args[1]), backend, settings);
        FuseguardConfig config = FuseguardConfig.builder().fsName("upload-daemon").build();
        FuseMount m = FuseMount.mount(fs, Path.of(args[0]), config);
        // The filesystem stops after the unmount, in the same shutdown hook (SIGTERM), so its clean stop is
        // recorded before the JVM exits.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            m.close();
            fs.close();
        }, "upload-daemon-stop"));
        System.out.println("READY " + ProcessHandle.current().pid());
        System.out.flush();
        m.awaitUnmount();
    }
}
