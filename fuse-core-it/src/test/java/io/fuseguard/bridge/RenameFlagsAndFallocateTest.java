package io.fuseguard.bridge;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.migration.JnrMapFs;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What filesystems that do not implement {@code renameat2}'s flags or {@code fallocate} answer through the kernel
 * (renameat2's EINVAL, fallocate's EOPNOTSUPP), and that a migrated jnr-fuse filesystem's own {@code fallocate}
 * is called.
 */
class RenameFlagsAndFallocateTest {
    @TempDir
    Path mp;

    private static final String SCRIPT = """
            import ctypes, errno, os, sys
            os.chdir(sys.argv[1])
            libc = ctypes.CDLL(None, use_errno=True)
            def call(name, rc):
                print(name, "ok" if rc == 0 else errno.errorcode[ctypes.get_errno()])
            # The kernel answers NOREPLACE onto an existing name and EXCHANGE with a missing one itself:
            # these calls reach the filesystem.
            with open("a", "w") as f: f.write("A")
            with open("x", "w") as f: f.write("X")
            call("noreplace", libc.renameat2(-100, b"a", -100, b"b", 1))
            call("exchange", libc.renameat2(-100, b"a", -100, b"x", 2))
            call("plain", libc.renameat2(-100, b"a", -100, b"b", 0))
            fd = os.open("b", os.O_RDWR)
            call("fallocate", libc.fallocate(fd, 0, ctypes.c_long(0), ctypes.c_long(4096)))
            os.close(fd)
            """;

    private static String run(Path dir) throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(30), "python3", "-c", SCRIPT, dir.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        return r.out();
    }

    @Test
    void aJavaFilesystemWithoutThemAnswersWhatTheSyscallsDocument() throws Exception {
        FuseAvailability.assumeUsable();
        try (FuseMount m = FuseMount.mount(new SmallFs(), mp, FuseguardConfig.builder().shutdownHook(false)
                .build())) {
            // Python names errno 95 ENOTSUP; on Linux it is EOPNOTSUPP too.
            assertThat(run(mp)).isEqualTo("noreplace EINVAL\nexchange EINVAL\nplain ok\nfallocate ENOTSUP\n");
        }
    }

    /** A migrated filesystem with its own fallocate, which jnr-fuse users expect to be called. */
    static final class AllocatingFs extends JnrMapFs {
        final List<String> calls = new CopyOnWriteArrayList<>();

        @Override
        public int fallocate(String path, int mode, long off, long length, FuseFileInfo fi) {
            calls.add(path + " mode=" + mode + " off=" + off + " len=" + length);
            return 0;
        }

        @Override
        public int rename(String from, String to) {
            byte[] b = files().remove(from);
            if (b == null) {
                return -ru.serce.jnrfuse.ErrorCodes.ENOENT();
            }
            files().put(to, b);
            return 0;
        }
    }

    @Test
    void aMigratedJnrFuseFilesystemsFallocateIsCalled() throws Exception {
        FuseAvailability.assumeUsable();
        AllocatingFs fs = new AllocatingFs();
        try (FuseMount m = JnrFuseMount.mount(fs, mp, FuseguardConfig.builder().shutdownHook(false).build())) {
            assertThat(run(mp)).isEqualTo("noreplace EINVAL\nexchange EINVAL\nplain ok\nfallocate ok\n");
            assertThat(fs.calls).containsExactly("/b mode=0 off=0 len=4096");
            assertThat(new String(fs.files().get("/b"), StandardCharsets.UTF_8)).isEqualTo("A");
        }
    }
}
