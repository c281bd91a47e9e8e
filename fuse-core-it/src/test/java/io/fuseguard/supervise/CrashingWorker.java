package io.fuseguard.supervise;

import io.fuseguard.api.FileType;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.RenameMode;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.passthrough.PassthroughFs;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.Supervisor;
import io.fuseguard.testkit.DelegatingFs;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A supervised worker that dies (as kill -9 would: no cleanup) at a named point of one operation, once per name:
 * PassthroughFs of {@code args[0]} at {@code args[1]}; a file name {@code crash-before-OP-...} makes the worker die
 * as operation OP starts, {@code crash-after-OP-...} right after the filesystem made the change, before fuseguard
 * recorded or answered it. A marker in {@code args[2]} makes each name crash only the first worker that sees it.
 */
public final class CrashingWorker extends DelegatingFs {
    private final Path markers;

    private CrashingWorker(Path source, Path markers) throws IOException {
        super(new PassthroughFs(source));
        this.markers = markers;
    }

    public static void main(String[] args) throws Exception {
        Supervisor.awaitTurn();
        FuseMount m = FuseMount.mount(new CrashingWorker(Path.of(args[0]), Path.of(args[2])), Path.of(args[1]),
                FuseguardConfig.builder().fsName("crashing").build());
        m.awaitUnmount();
    }

    /** Dies here if {@code path}'s name asks for it at this point of {@code op} (once per name). */
    private void point(String when, String op, String path) throws IOException {
        String name = path.substring(path.lastIndexOf('/') + 1);
        if (!name.startsWith("crash-" + when + "-" + op + "-")) {
            return;
        }
        Path marker = markers.resolve(name);
        if (Files.exists(marker)) {
            return;
        }
        Files.createFile(marker);
        Runtime.getRuntime().halt(137); // as SIGKILL: no shutdown hook, nothing answered, nothing recorded
    }

    @Override
    public void mkdir(String path, int mode) throws IOException {
        point("before", "mkdir", path);
        super.mkdir(path, mode);
        point("after", "mkdir", path);
    }

    @Override
    public void rmdir(String path) throws IOException {
        point("before", "rmdir", path);
        super.rmdir(path);
        point("after", "rmdir", path);
    }

    @Override
    public void unlink(String path) throws IOException {
        point("before", "unlink", path);
        super.unlink(path);
        point("after", "unlink", path);
    }

    @Override
    public void symlink(String target, String linkPath) throws IOException {
        point("before", "symlink", linkPath);
        super.symlink(target, linkPath);
        point("after", "symlink", linkPath);
    }

    @Override
    public void link(String existing, String newPath) throws IOException {
        point("before", "link", newPath);
        super.link(existing, newPath);
        point("after", "link", newPath);
    }

    @Override
    public void mknod(String path, FileType type, int permissions, long rdev) throws IOException {
        point("before", "mknod", path);
        super.mknod(path, type, permissions, rdev);
        point("after", "mknod", path);
    }

    @Override
    public long create(String path, int mode, OpenFlags flags) throws IOException {
        point("before", "create", path);
        long fh = super.create(path, mode, flags);
        point("after", "create", path);
        return fh;
    }

    @Override
    public void rename(String from, String to, RenameMode mode) throws IOException {
        point("before", "rename", to);
        super.rename(from, to, mode);
        point("after", "rename", to);
    }

    @Override
    public void rename(String from, String to) throws IOException {
        point("before", "rename", to);
        super.rename(from, to);
        point("after", "rename", to);
    }
}
