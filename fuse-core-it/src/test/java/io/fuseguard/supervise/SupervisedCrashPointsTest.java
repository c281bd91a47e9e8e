package io.fuseguard.supervise;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.Supervisor;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A worker killed at named points of each change that is not idempotent: as the operation starts, and right after
 * the filesystem made it but before fuseguard recorded or answered it. The kernel sends the request again to the
 * next worker, and the client sees exactly what it would have seen without the crash: the call succeeds once,
 * and the change is there once (before: a mkdir, symlink, link or exclusive create made before the crash
 * answered EEXIST, an unlink, rmdir or rename ENOENT).
 */
class SupervisedCrashPointsTest {
    private Supervisor supervisor;
    private Path mp;
    private Path source;

    @BeforeEach
    void start() throws Exception {
        Edges.assumeFuseAndRoot();
        mp = Edges.newDir("crashpoints-");
        source = Edges.newDir("crashpoints-src-");
        Path markers = Edges.newDir("crashpoints-markers-");
        List<String> worker = Edges.java(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"),
                CrashingWorker.class, source.toString(), mp.toString(), markers.toString());
        supervisor = Supervisor.start(mp, FuseguardConfig.builder().fsName("crashing").shutdownHook(false).build(),
                new Supervisor.Options(worker, true, null, null));
    }

    @AfterEach
    void stop() {
        if (supervisor != null) {
            supervisor.close();
        }
        Edges.forceUnmount(mp);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    /** Runs one client call (a Python statement with {@code m} the mount point) once a standby is warm. */
    private void call(String statement) throws Exception {
        await().atMost(Duration.ofSeconds(60)).until(supervisor::standbyReady);
        Child.Result r = Child.run(Duration.ofSeconds(60), Edges.python(), "-c",
                "import os, sys\nm = sys.argv[1]\n" + statement, mp.toString());
        assertThat(r.exit()).as("%s: %s", statement, r.err()).isZero();
    }

    @Test
    void everyCallSucceedsOnceWhereverTheWorkerDied() throws Exception {
        int restartsBefore = supervisor.restarts();
        List<String> points = new ArrayList<>();
        for (String when : List.of("before", "after")) {
            String p = "crash-" + when + "-";
            call("os.mkdir(m + '/" + p + "mkdir-d')");
            call("os.symlink('target', m + '/" + p + "symlink-l')");
            call("open(m + '/plain-" + when + "', 'w').write('x')\nos.link(m + '/plain-" + when + "', m + '/" + p
                    + "link-h')");
            call("os.close(os.open(m + '/" + p + "create-f', os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))");
            call("os.mkfifo(m + '/" + p + "mknod-p')");
            call("open(m + '/" + p + "unlink-u', 'w').close()");
            call("os.unlink(m + '/" + p + "unlink-u')");
            call("os.mkdir(m + '/" + p + "rmdir-r')");
            call("os.rmdir(m + '/" + p + "rmdir-r')");
            call("open(m + '/from-" + when + "', 'w').write('moved')\nos.rename(m + '/from-" + when + "', m + '/"
                    + p + "rename-t')");
            points.addAll(List.of(p + "mkdir", p + "symlink", p + "link", p + "create", p + "mknod", p + "unlink",
                    p + "rmdir", p + "rename"));
        }
        System.out.printf("%d crash points, %d take-overs, pauses %s%n", points.size(),
                supervisor.restarts() - restartsBefore, supervisor.pauses());
        assertThat(supervisor.restarts() - restartsBefore).as("one worker died at each point")
                .isEqualTo(points.size());
        for (String when : List.of("before", "after")) {
            String p = "crash-" + when + "-";
            assertThat(source.resolve(p + "mkdir-d")).isDirectory();
            assertThat(Files.readSymbolicLink(source.resolve(p + "symlink-l")).toString()).isEqualTo("target");
            assertThat(Files.isSameFile(source.resolve(p + "link-h"), source.resolve("plain-" + when))).isTrue();
            assertThat(source.resolve(p + "create-f")).isRegularFile();
            assertThat(Files.getAttribute(source.resolve(p + "mknod-p"), "unix:mode", LinkOption.NOFOLLOW_LINKS))
                    .satisfies(mode -> assertThat(((Integer) mode) & 0170000).isEqualTo(0010000));
            assertThat(source.resolve(p + "unlink-u")).doesNotExist();
            assertThat(source.resolve(p + "rmdir-r")).doesNotExist();
            assertThat(source.resolve("from-" + when)).doesNotExist();
            assertThat(Files.readString(source.resolve(p + "rename-t"))).isEqualTo("moved");
        }
        // through the mount, the same: one name each, nothing duplicated or left behind
        Child.Result ls = Child.run(Duration.ofSeconds(30), "ls", "-1A", mp.toString());
        assertThat(ls.out().lines().filter(l -> l.startsWith(".fuse_hidden")).toList()).isEmpty();
        assertThat(ls.out().lines().filter(l -> l.startsWith("crash-")).count()).isEqualTo(2 * 6);
    }
}
