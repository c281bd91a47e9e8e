package io.fuseguard.examples.passthrough;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Locks through {@link PassthroughFs} are the source's: a process on the host and a process on the mount
 * conflict, both ways, for POSIX record locks and for flock; a lock that waits on the mount is granted when the
 * host lets go, is interruptible by a signal, and is bounded by the mount's DATA deadline.
 */
class PassthroughFsLockTest {
    /** Holds a lock on {@code argv[1]} ({@code argv[2]}: posix or flock) until {@code argv[1].release} exists. */
    private static final String HOLD = """
            import fcntl, os, sys, time
            p, kind = sys.argv[1], sys.argv[2]
            fd = os.open(p, os.O_RDWR)
            if kind == "posix":
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 100, 0)
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            open(p + ".held", "w").close()
            end = time.time() + 20
            while not os.path.exists(p + ".release") and time.time() < end:
                time.sleep(0.01)
            """;

    /** Tries the locks on {@code argv[1]} without waiting; prints what it got and what F_GETLK says. */
    private static final String TRY = """
            import errno, fcntl, os, struct, sys
            fd = os.open(sys.argv[1], os.O_RDWR)
            def t(name, fn):
                try:
                    fn(); print(name, "ok")
                except OSError as e:
                    print(name, errno.errorcode[e.errno])
            t("posix", lambda: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0))
            r = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 10, 0))
            typ, _, start, ln, pid = struct.unpack("hhqqi4x", r)
            print("getlk", typ, start, ln, pid)
            t("flock", lambda: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB))
            """;

    private final Path source = FuseTestSupport.newTempDir("passthrough-locks-", "rwxr-xr-x");
    private final List<Process> started = new ArrayList<>();
    private PassthroughFs fs;
    private FuseMount mount;
    private Path mp;

    @BeforeEach
    void mount() throws Exception {
        FuseAvailability.assumeUsable();
        mountWith(FuseguardConfig.builder());
        Files.writeString(source.resolve("f"), "x".repeat(200));
    }

    private void mountWith(FuseguardConfig.Builder config) throws Exception {
        fs = new PassthroughFs(source);
        mp = Files.createTempDirectory(FuseTestSupport.tmpBase(), "passthrough-locks-mp-");
        mount = FuseMount.mount(fs, mp, config.selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING)
                .shutdownHook(false).fsName("passthrough-locks").build());
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (Process p : started) {
            Child.kill9(p);
            p.waitFor();
        }
        if (mount != null) {
            mount.close();
            fs.close();
            Files.deleteIfExists(mp);
        }
        Child.runOk("rm", "-rf", source.toString());
    }

    /** Starts a holder of a lock on {@code file} and waits until it holds it; returns its pid. */
    private long hold(Path file, String kind) throws Exception {
        Files.deleteIfExists(Path.of(file + ".held"));
        Files.deleteIfExists(Path.of(file + ".release"));
        Process p = Child.start("python3", "-c", HOLD, file.toString(), kind);
        started.add(p);
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.exists(Path.of(file + ".held")) || !p.isAlive());
        assertThat(p.isAlive()).as("the holder took its lock").isTrue();
        return p.pid();
    }

    private static void release(Path file) throws Exception {
        Files.writeString(Path.of(file + ".release"), "");
    }

    private static List<String> tryLocks(Path file) throws Exception {
        return Child.run(Duration.ofSeconds(20), "python3", "-c", TRY, file.toString()).assertOk().out().lines()
                .toList();
    }

    @Test
    void aLockHeldOnTheHostStopsOneThroughTheMount() throws Exception {
        long holder = hold(source.resolve("f"), "posix");
        // F_GETLK through the mount names the host process and its range
        assertThat(tryLocks(mp.resolve("f"))).containsExactly("posix EAGAIN", "getlk 1 0 100 " + holder, "flock ok");
        release(source.resolve("f"));
        await().atMost(Duration.ofSeconds(10)).until(() -> started.get(0).waitFor() >= 0);
        hold(source.resolve("f"), "flock");
        assertThat(tryLocks(mp.resolve("f"))).containsExactly("posix ok", "getlk 2 0 10 0", "flock EAGAIN");
    }

    @Test
    void aLockHeldThroughTheMountStopsOneOnTheHost() throws Exception {
        hold(mp.resolve("f"), "posix");
        // an open file description lock of the daemon: the host's F_GETLK reports no process for it (pid -1)
        assertThat(tryLocks(source.resolve("f"))).containsExactly("posix EAGAIN", "getlk 1 0 100 -1", "flock ok");
        release(mp.resolve("f"));
        await().atMost(Duration.ofSeconds(10)).until(() -> started.get(0).waitFor() >= 0);
        // the holder's exit released its open file, and with it the lock
        await().atMost(Duration.ofSeconds(5)).until(() -> tryLocks(source.resolve("f")).get(0).equals("posix ok"));
        hold(mp.resolve("f"), "flock");
        assertThat(tryLocks(source.resolve("f"))).containsExactly("posix ok", "getlk 2 0 10 0", "flock EAGAIN");
    }

    /** Waits on the mount for a lock the host holds, with a signal after {@code argv[2]} s that raises. */
    private static final String WAIT = """
            import fcntl, os, signal, sys, time
            fd = os.open(sys.argv[1], os.O_RDWR)
            alarm = float(sys.argv[2])
            def ring(sig, frame):
                raise TimeoutError()
            signal.signal(signal.SIGALRM, ring)
            if alarm > 0:
                signal.setitimer(signal.ITIMER_REAL, alarm)
            t0 = time.time()
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX, 100, 0)
                print("granted after %.2f" % (time.time() - t0))
            except TimeoutError:
                print("interrupted after %.2f" % (time.time() - t0))
            except OSError as e:
                print("%s after %.2f" % (os.strerror(e.errno), time.time() - t0))
            """;

    private static double seconds(String line) {
        return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
    }

    @Test
    void aWaitingLockIsGrantedWhenTheHostLetsGo() throws Exception {
        hold(source.resolve("f"), "posix");
        Process waiter = Child.start("python3", "-c", WAIT, mp.resolve("f").toString(), "0");
        started.add(waiter);
        await().atMost(Duration.ofSeconds(10)).until(() -> mount.inFlight() >= 1); // its SETLKW waits
        Thread.sleep(500);
        assertThat(waiter.isAlive()).as("still waiting while the host holds the lock").isTrue();
        release(source.resolve("f"));
        assertThat(waiter.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        String out = new String(waiter.getInputStream().readAllBytes()).trim();
        assertThat(out).startsWith("granted after ");
        assertThat(seconds(out)).isGreaterThan(0.5);
    }

    @Test
    void aSignalInterruptsAWaitingLockAndItIsNotTakenLater() throws Exception {
        hold(source.resolve("f"), "posix");
        long events = mount.metrics().events(GuardEvent.Type.INTERRUPTED);
        String out = Child.run(Duration.ofSeconds(20), "python3", "-c", WAIT, mp.resolve("f").toString(), "0.5")
                .assertOk().out().trim();
        // a plain signal (the process is not being killed) ended the wait: the kernel returned EINTR
        assertThat(out).startsWith("interrupted after ");
        assertThat(seconds(out)).isBetween(0.4, 3.0);
        assertThat(mount.metrics().events(GuardEvent.Type.INTERRUPTED)).isGreaterThan(events);
        release(source.resolve("f"));
        await().atMost(Duration.ofSeconds(10)).until(() -> started.get(0).waitFor() >= 0);
        // nobody holds it now: the interrupted waiter did not get it afterwards
        assertThat(tryLocks(source.resolve("f")).get(0)).isEqualTo("posix ok");
    }

    @Test
    void aWaitIsBoundedByTheDataDeadline() throws Exception {
        mount.close();
        fs.close();
        Files.deleteIfExists(mp);
        mountWith(FuseguardConfig.builder().deadline(OperationKind.DATA, Duration.ofSeconds(1)));
        hold(source.resolve("f"), "posix");
        String out = Child.run(Duration.ofSeconds(20), "python3", "-c", WAIT, mp.resolve("f").toString(), "0")
                .assertOk().out().trim();
        assertThat(out).startsWith("Input/output error after ");
        assertThat(seconds(out)).isBetween(0.9, 3.0);
        release(source.resolve("f"));
        await().atMost(Duration.ofSeconds(10)).until(() -> started.get(0).waitFor() >= 0);
        assertThat(tryLocks(source.resolve("f")).get(0)).isEqualTo("posix ok");
    }
}
