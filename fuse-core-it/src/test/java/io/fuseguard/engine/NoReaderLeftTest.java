package io.fuseguard.engine;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.FuseTestSupport;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Capacity exhaustion never costs the mount. When handlers that ignore interrupts hold every request thread and
 * the stuck-thread cap is reached, a thread still reads /dev/fuse and answers (the request waits in its lane until
 * its deadline, or gets the overload errno), so the kernel's request timeout never ends a live mount for want of a
 * reader; and a RELEASE that arrives while its lane is full still reaches the filesystem at once.
 */
class NoReaderLeftTest {
    private final List<Process> children = new ArrayList<>();
    private FuseMount mount;
    private Path mp;
    private StubbornFs fs;

    /** getattr of /stuck-* waits for {@link #unstick} and ignores every interrupt; counts releases. */
    static final class StubbornFs extends SmallFs {
        final CountDownLatch unstick = new CountDownLatch(1);
        final AtomicInteger stuck = new AtomicInteger();
        final AtomicInteger releases = new AtomicInteger();

        StubbornFs() {
            withFile("/healthy", "fine\n".getBytes(StandardCharsets.UTF_8));
            for (int i = 0; i < 4; i++) {
                withFile("/held-" + i, "held\n".getBytes(StandardCharsets.UTF_8));
            }
        }

        @Override
        public FileAttributes getattr(String path) {
            if (path.startsWith("/stuck-")) {
                stuck.incrementAndGet();
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (unstick.getCount() > 0 && System.nanoTime() < end) {
                    try {
                        unstick.await(100, TimeUnit.MILLISECONDS);
                    } catch (InterruptedException e) {
                        // ignored, as a handler blocked in a library that swallows interrupts does
                    }
                }
                return super.getattr("/healthy");
            }
            return super.getattr(path);
        }

        @Override
        public void release(String path, long fh, OpenFlags flags) {
            releases.incrementAndGet();
        }
    }

    @BeforeEach
    void prepare() throws Exception {
        Edges.assumeFuseAndRoot();
        fs = new StubbornFs();
        mp = Edges.newDir("noreader-");
    }

    @AfterEach
    void cleanUp() {
        fs.unstick.countDown();
        for (Process p : children) {
            FuseTestSupport.destroy(p);
        }
        if (mount != null) {
            mount.close();
        }
        Edges.forceUnmount(mp);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private Process stat(String name) throws Exception {
        Process p = new ProcessBuilder("timeout", "90", "stat", mp.resolve(name).toString())
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        children.add(p);
        return p;
    }

    @Test
    void withEveryThreadStuckPastTheCapTheMountStillAnswersAndLives() throws Exception {
        mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("noreader").shutdownHook(false)
                .workerThreads(4).maxStuckThreads(2).allDeadlines(Duration.ofSeconds(1))
                .kernelRequestTimeout(Duration.ofSeconds(3))
                .cacheTimeouts(Duration.ZERO, Duration.ZERO, Duration.ZERO).build());
        long connection = mount.connectionId().orElseThrow();
        for (int i = 0; i < 10; i++) {
            stat("stuck-" + i);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> mount.status().stuckThreads() >= 2
                && fs.stuck.get() >= 4);
        // Held like this for longer than the kernel's request timeout (3 s) plus its 15 s check period: the
        // kernel would have ended the connection if any request stayed unread or unanswered that long.
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        int answered = 0;
        long slowest = 0;
        while (System.nanoTime() < end) {
            long t0 = System.nanoTime();
            Child.Result r = Child.run(Duration.ofSeconds(10), "stat", mp.resolve("healthy").toString());
            long ms = Edges.ms(t0);
            slowest = Math.max(slowest, ms);
            assertThat(r.exit()).as("stat answered (EIO or success), not killed at the limit: %s", r.err())
                    .isIn(0, 1);
            answered++;
            Thread.sleep(200);
        }
        System.out.printf("every thread stuck (%d stuck, %d threads): %d stats of a healthy file answered, slowest "
                + "%d ms%n", mount.status().stuckThreads(), mount.status().threads(), answered, slowest);
        assertThat(slowest).as("each answered by its deadline").isLessThan(3000);
        assertThat(new FuseControl().exists(connection)).as("the connection lives").isTrue();
        fs.unstick.countDown();
        await().atMost(Duration.ofSeconds(10)).until(() -> Child.run(Duration.ofSeconds(10), "stat",
                mp.resolve("healthy").toString()).exit() == 0);
        assertThat(mount.isMounted()).isTrue();
    }

    @Test
    void releasesReachTheFilesystemWhileTheirLaneIsFull() throws Exception {
        mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("releases").shutdownHook(false)
                .workerThreads(4).deadline(OperationKind.METADATA, Duration.ofSeconds(30))
                .cacheTimeouts(Duration.ZERO, Duration.ZERO, Duration.ZERO).build());
        String script = "import sys\n"
                + "fs = [open(sys.argv[1] + '/held-%d' % i, 'rb') for i in range(4)]\n"
                + "print('opened', flush=True)\n"
                + "sys.stdin.readline()\n"
                + "for f in fs: f.close()\n"
                + "print('closed', flush=True)\n";
        Process holder = new ProcessBuilder(Edges.python(), "-c", script, mp.toString()).start();
        children.add(holder);
        BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(),
                StandardCharsets.UTF_8));
        assertThat(out.readLine()).isEqualTo("opened");
        // Three lookups that never finish take the metadata lane's three threads.
        for (int i = 0; i < 3; i++) {
            stat("stuck-" + i);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> fs.stuck.get() == 3);
        OutputStream in = holder.getOutputStream();
        in.write('\n');
        in.flush();
        assertThat(out.readLine()).isEqualTo("closed");
        await().atMost(Duration.ofSeconds(3)).until(() -> fs.releases.get() == 4);
        assertThat(mount.status().openHandles()).isZero();
        System.out.printf("4 files closed with the metadata lane full: %d releases reached the filesystem%n",
                fs.releases.get());
    }
}
