package io.fuseguard.engine;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.examples.passthrough.PassthroughFs;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Files unlinked while open are hidden as {@code .fuse_hidden*} and removed at their last release, as libfuse
 * does; none is ever left behind: not when the kernel's (asynchronous) RELEASE races the unlink that follows a
 * close, not in a passthrough filesystem's host directory, not when the mount ends with such a file still open.
 */
class HiddenFilesTest {
    private static final int CYCLES = 2000;
    private FuseMount mount;
    private Path mp;

    @BeforeEach
    void prepare() throws Exception {
        Edges.assumeFuseAndRoot();
        mp = Edges.newDir("hidden-");
    }

    @AfterEach
    void cleanUp() {
        if (mount != null) {
            mount.close();
        }
        Edges.forceUnmount(mp);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private void mount(FuseFileSystem fs) {
        mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("hidden").shutdownHook(false).build());
    }

    /** Create, write, close and at once unlink, {@code n} times (distinct names), in a child process. */
    private void churn(Path dir, int n) throws Exception {
        String script = "import os, sys\n"
                + "d, n = sys.argv[1], int(sys.argv[2])\n"
                + "for i in range(n):\n"
                + "    p = os.path.join(d, 'f%d' % i)\n"
                + "    fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)\n"
                + "    os.write(fd, b'x' * 100)\n"
                + "    os.close(fd)\n"
                + "    os.unlink(p)\n"
                + "print('done')\n";
        Child.run(Duration.ofSeconds(120), Edges.python(), "-c", script, dir.toString(), Integer.toString(n))
                .assertOk();
    }

    private static long hidden(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith(".fuse_hidden")).count();
        }
    }

    @Test
    void closeThenUnlinkAtOnceLeavesNoHiddenFile() throws Exception {
        mount(new MemoryFs());
        churn(mp, CYCLES);
        await().atMost(Duration.ofSeconds(10)).until(() -> mount.status().pendingCloseWork() == 0
                && mount.status().openHandles() == 0);
        long left = hidden(mp);
        System.out.printf("MemoryFs, %d close+unlink cycles: %d .fuse_hidden files left%n", CYCLES, left);
        assertThat(left).isZero();
    }

    @Test
    void aPassthroughChurnLeavesNoHiddenFileInTheHostDirectory() throws Exception {
        Path source = Edges.newDir("hidden-src-");
        mount(new PassthroughFs(source));
        churn(mp, CYCLES);
        await().atMost(Duration.ofSeconds(10)).until(() -> mount.status().pendingCloseWork() == 0
                && mount.status().openHandles() == 0);
        mount.close();
        long left = hidden(source);
        System.out.printf("PassthroughFs, %d close+unlink cycles, then unmounted: %d .fuse_hidden files in the "
                + "host directory%n", CYCLES, left);
        assertThat(left).isZero();
    }

    @Test
    void aFileStillOpenAndUnlinkedWhenTheMountEndsIsRemovedFromTheHost() throws Exception {
        Path source = Edges.newDir("hidden-end-");
        mount(new PassthroughFs(source));
        String script = "import os, sys\n"
                + "p = os.path.join(sys.argv[1], 'kept-open')\n"
                + "f = open(p, 'wb')\n"
                + "f.write(b'data')\n"
                + "f.flush()\n"
                + "os.unlink(p)\n"
                + "print('unlinked', flush=True)\n"
                + "sys.stdin.readline()\n";
        Process holder = new ProcessBuilder(Edges.python(), "-c", script, mp.toString()).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(),
                    StandardCharsets.UTF_8));
            assertThat(out.readLine()).isEqualTo("unlinked");
            assertThat(hidden(source)).as("hidden while open").isEqualTo(1);
            mount.close(); // busy: detached and aborted, the holder's file is released by fuseguard
            List<String> names;
            try (Stream<Path> s = Files.list(source)) {
                names = s.map(p -> p.getFileName().toString()).toList();
            }
            System.out.println("host directory after the mount ended with an unlinked file open: " + names);
            assertThat(hidden(source)).isZero();
        } finally {
            holder.destroyForcibly();
            holder.waitFor();
        }
    }
}
