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
}
