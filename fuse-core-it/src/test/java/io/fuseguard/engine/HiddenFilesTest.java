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

    /**
     * Several writers save over one name that several readers keep open and read: each rename over an open file
     * hides it, and when two close-time releases of one hidden file ended together each saw the other still
     * pending, so neither removed it (1 to 5 hidden files left per 5 s run, also after unmount, on MemoryFs and
     * PassthroughFs). Now the last end removes it: none is left.
     */
    @Test
    void renamesOverFilesBeingReadLeaveNoHiddenFile() throws Exception {
        mount(new MemoryFs());
        String script = "import os, sys, time, multiprocessing as mp\n"
                + "D, secs = sys.argv[1], float(sys.argv[2])\n"
                + "T = os.path.join(D, 'target'); open(T, 'w').write('0' * 8192)\n"
                + "def writer(w):\n"
                + "    n = 0; end = time.time() + secs\n"
                + "    while time.time() < end:\n"
                + "        n += 1; tmp = os.path.join(D, '.tmp%d' % w)\n"
                + "        with open(tmp, 'w') as f: f.write(str(n % 10) * 8192)\n"
                + "        os.rename(tmp, T)\n"
                + "def reader():\n"
                + "    end = time.time() + secs\n"
                + "    while time.time() < end:\n"
                + "        try:\n"
                + "            with open(T) as f: f.read()\n"
                + "        except OSError:\n"
                + "            pass\n"
                + "ps = [mp.Process(target=writer, args=(w,)) for w in range(2)] + [mp.Process(target=reader) for _ in range(3)]\n"
                + "[p.start() for p in ps]; [p.join() for p in ps]\n"
                + "print('done')\n";
        Child.run(Duration.ofSeconds(60), Edges.python(), "-c", script, mp.toString(), "4").assertOk();
        await().atMost(Duration.ofSeconds(10)).until(() -> mount.status().pendingCloseWork() == 0);
        assertThat(hidden(mp)).as("hidden files left once every reader closed").isZero();
    }

    /**
     * mkdir, write a file, close it, read it, close it, unlink it, rmdir: the kernel may send the read's RELEASE
     * after the unlink (it waits for the last read-ahead answer), so the unlink hid a file that was closed, and its
     * hidden name made the rmdir fail ENOTEMPTY (about 7 in 1,000 with 3 processes; never on a local filesystem):
     * the rmdir now gives such a file's release a moment, and a forgotten node stays known until its close-time
     * work removed its hidden name.
     */
    @Test
    void rmdirRightAfterTheLastCloseAndUnlinkSucceeds() throws Exception {
        mount(new MemoryFs());
        String script = "import os, sys, time, errno, multiprocessing as mp\n"
                + "B, secs = sys.argv[1], float(sys.argv[2])\n"
                + "def w(i, q):\n"
                + "    end = time.time() + secs; n = 0; bad = 0\n"
                + "    while time.time() < end:\n"
                + "        d = os.path.join(B, 'd%d_%d' % (i, n)); f = os.path.join(d, 'f')\n"
                + "        os.mkdir(d)\n"
                + "        with open(f, 'w') as fh: fh.write('x')\n"
                + "        with open(f) as fh: fh.read()\n"
                + "        os.unlink(f)\n"
                + "        try:\n"
                + "            os.rmdir(d)\n"
                + "        except OSError as e:\n"
                + "            bad += 1\n"
                + "            print('rmdir failed: %s, left: %s' % (errno.errorcode.get(e.errno), os.listdir(d)), flush=True)\n"
                + "        n += 1\n"
                + "    q.put((n, bad))\n"
                + "q = mp.Queue(); ps = [mp.Process(target=w, args=(i, q)) for i in range(3)]\n"
                + "[p.start() for p in ps]; r = [q.get() for _ in ps]; [p.join() for p in ps]\n"
                + "print('cycles=%d failed=%d' % (sum(x[0] for x in r), sum(x[1] for x in r)))\n";
        Child.Result r = Child.run(Duration.ofSeconds(60), Edges.python(), "-c", script, mp.toString(), "3")
                .assertOk();
        System.out.println("rmdir after close and unlink: " + r.out().trim());
        assertThat(r.out()).contains("failed=0");
        assertThat(Integer.parseInt(r.out().replaceAll("(?s).*cycles=(\\d+).*", "$1"))).isGreaterThan(100);
    }
}
