package io.fuseguard.examples.upload;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;

import java.nio.file.Path;

/**
 * A stand-alone CachedUploadFs daemon for crash drills: {@code UploadDaemonMain <mountpoint> <cache dir>
 * <backend dir> <stall uploads: true|false>}. Prints {@code READY <pid>} on stdout once mounted.
 */
public final class UploadDaemonMain {
    private UploadDaemonMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: UploadDaemonMain <mountpoint> <cache dir> <backend dir> <stall>");
            System.exit(2);
        }
        FaultInjectingBackend backend = new FaultInjectingBackend(new DirectoryBackend(Path.of(args[2])));
        backend.faults().stallUploads(Boolean.parseBoolean(args[3]));
        CachedUploadFs fs = new CachedUploadFs(Path.of(args[1]), backend);
        FuseguardConfig config = FuseguardConfig.builder().fsName("upload-daemon").build();
        try (FuseMount m = FuseMount.mount(fs, Path.of(args[0]), config)) {
            System.out.println("READY " + ProcessHandle.current().pid());
            System.out.flush();
            m.awaitUnmount();
        } finally {
            fs.close();
        }
    }
}
