package io.fuseguard.cli;

import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.testkit.Child;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code fuseguard mount upload} refuses a layout that cannot work (issue 17) with one line and exit code 2,
 * before it creates anything: the mount point stays empty (a later mount works), no cache directory appears,
 * and a mistyped backend directory is not created unless {@code --create-backend} asks for it.
 */
class MountUploadLayoutTest {
    @TempDir
    Path tmp;

    private static Child.Result fuseguard(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-cp", System.getProperty("java.class.path"), FuseguardCommand.class.getName()));
        cmd.addAll(List.of(args));
        Child.Result r = Child.run(Duration.ofSeconds(60), cmd);
        assertThat(r.timedOut()).isFalse();
        return r;
    }

    private long entries(Path dir) throws Exception {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.count();
        }
    }

    @Test
    void badLayoutsExitWithCode2AndCreateNothing() throws Exception {
        FuseAvailability.assumeUsable();
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        Path backend = Files.createDirectory(tmp.resolve("backend"));
        String[][] cases = {
                {"is inside the mount point", "--cache", mnt.resolve("cache").toString(), "--backend",
                        backend.toString()},
                {"is the same directory as --backend", "--cache", backend.toString(), "--backend",
                        backend.toString()},
                {"is inside --backend", "--cache", backend.resolve("cache").toString(), "--backend",
                        backend.toString()},
                {"does not exist", "--cache", tmp.resolve("cache").toString(), "--backend",
                        tmp.resolve("bakend").toString()},
                {"--create-backend only applies to a directory backend", "--cache", tmp.resolve("cache").toString(),
                        "--backend", "s3://bucket", "--create-backend"},
        };
        long before = entries(tmp);
        for (String[] c : cases) {
            List<String> args = new ArrayList<>(List.of("mount", "upload", mnt.toString()));
            args.addAll(List.of(c).subList(1, c.length));
            Child.Result r = fuseguard(args.toArray(String[]::new));
            assertThat(r.exit()).as("exit code of %s", args).isEqualTo(2);
            assertThat(r.err()).as("stderr of %s", args).contains("fuseguard: ").contains(c[0]);
            assertThat(r.err().lines().filter(l -> l.startsWith("fuseguard: ")).count()).isEqualTo(1);
            assertThat(entries(tmp)).as("nothing created by %s", args).isEqualTo(before);
        }
        assertThat(MountTable.load().findByMountPoint(mnt.toRealPath())).isEmpty();
    }

    /**
     * The layouts of the review of issue 17 (finding 6) that used to mount: a mount point that is a symbolic link
     * into the cache or into the backend, and a backend that is the cache seen through a bind mount.
     */
    @Test
    void linksAndBindMountsAreSeenThrough() throws Exception {
        FuseAvailability.assumeUsable();
        Path cache = tmp.resolve("cache");
        Path inner = Files.createDirectories(cache.resolve("data").resolve("inner"));
        Path backend = Files.createDirectory(tmp.resolve("backend"));
        Path backendInner = Files.createDirectory(backend.resolve("inner"));
        Path intoCache = Files.createSymbolicLink(tmp.resolve("mp-cache"), inner);
        Path intoBackend = Files.createSymbolicLink(tmp.resolve("mp-backend"), backendInner);
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        Path base = Files.createDirectory(tmp.resolve("base"));
        Path c3 = Files.createDirectory(base.resolve("c3"));
        Path alias = Files.createDirectory(tmp.resolve("alias"));
        Child.runOk("mount", "--bind", base.toString(), alias.toString());
        try {
            String[][] cases = {
                    {"is inside --cache", intoCache.toString(), "--cache", cache.toString(), "--backend",
                            tmp.resolve("backend2").toString(), "--create-backend"},
                    {"is inside --backend", intoBackend.toString(), "--cache", tmp.resolve("cache2").toString(),
                            "--backend", backend.toString()},
                    {"is the same directory as --backend", mnt.toString(), "--cache", c3.toString(), "--backend",
                            alias.resolve("c3").toString()},
            };
            for (String[] c : cases) {
                List<String> args = new ArrayList<>(List.of("mount", "upload"));
                args.addAll(List.of(c).subList(1, c.length));
                Child.Result r = fuseguard(args.toArray(String[]::new));
                assertThat(r.exit()).as("exit code of %s: %s", args, r.err()).isEqualTo(2);
                assertThat(r.err()).as("stderr of %s", args).contains("fuseguard: ").contains(c[0]);
            }
            assertThat(MountTable.load().findByMountPoint(inner.toRealPath())).isEmpty();
            assertThat(MountTable.load().findByMountPoint(backendInner.toRealPath())).isEmpty();
            assertThat(MountTable.load().findByMountPoint(mnt.toRealPath())).isEmpty();
        } finally {
            Child.run(Duration.ofSeconds(20), "umount", "-l", alias.toString());
        }
    }
}
