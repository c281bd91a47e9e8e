package io.fuseguard.edges;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.PyClient;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.fuseguard.internal.sys.Syscalls.EINTR;
import static io.fuseguard.internal.sys.Syscalls.EIO;
import static io.fuseguard.internal.sys.Syscalls.ENOENT;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * What a caller whose system call is interrupted by a signal gets. The caller is a C program (sigcall) with a
 * SIGALRM handler installed without SA_RESTART, so the kernel returns EINTR to it whenever the daemon answers
 * EINTR; nothing retries behind its back.
 *
 * <ul>
 *   <li>By default, as libfuse without {@code -o intr}: an ordinary signal changes nothing, the call finishes and
 *       its caller gets the real result (the kernel cannot restart a call answered EINTR, so programs with signal
 *       handlers, JVMs, Go programs and profilers would otherwise see EINTR where no other filesystem gives one,
 *       and a change could be reported "interrupted" while it happened).</li>
 *   <li>A caller that is killed (at once, or after an ordinary signal) is let go at once for a request that
 *       changes nothing.</li>
 *   <li>With {@code -o intr} every signal is honoured: a request that changes nothing is answered EINTR at once;
 *       a change gets its handler's own outcome (EINTR only when the handler obeyed and changed nothing).</li>
 *   <li>The timeout errno (EIO by default) at the deadline means "unknown": the change may still happen.</li>
 * </ul>
 */
class InterruptSemanticsTest {
    private static final Duration SIGNAL_AFTER = Duration.ofMillis(300);
    /** A handler that ignores interrupts and finishes within the deadline takes this long. */
    private static final Duration WORK = Duration.ofMillis(1200);
    private static final Duration DEADLINE = Duration.ofMillis(2500);
    /** A handler that ignores interrupts and runs past the deadline takes this long. */
    private static final Duration LONG_WORK = DEADLINE.plusMillis(1000);
    private static final Pattern RESULT = Pattern.compile("rc=(-?\\d+) errno=(\\d+) ms=([\\d.]+) signals=(\\d+)");

    private static FuseMount mount;
    private static Path mp;
    private static FuseMount intrMount;
    private static Path intrMp;
    private static InterruptFs fs;
    private static Path sigcall;

    /** Handlers that ignore interrupts ({@code /stubborn*}, {@code /slow*}, the stalls) or obey them. */
    static final class InterruptFs extends SmallFs {
        final Set<String> interrupted = ConcurrentHashMap.newKeySet();
        final Set<String> finished = ConcurrentHashMap.newKeySet();
        final Set<String> started = ConcurrentHashMap.newKeySet();

        InterruptFs() {
            withFile("/ok", "fine\n".getBytes(StandardCharsets.UTF_8));
            withFile("/stall-read", "data\n".getBytes(StandardCharsets.UTF_8));
            withFile("/stubborn-src", "moved\n".getBytes(StandardCharsets.UTF_8));
            withFile("/slow-unlink", "gone\n".getBytes(StandardCharsets.UTF_8));
        }

        /** Works for {@code d}, ignoring interrupts (remembered). */
        void stubbornly(String what, Duration d) {
            started.add(what);
            long end = System.nanoTime() + d.toNanos();
            while (System.nanoTime() < end) {
                try {
                    Thread.sleep(Math.max(1, (end - System.nanoTime()) / 1_000_000));
                } catch (InterruptedException e) {
                    interrupted.add(what);
                }
            }
            finished.add(what);
        }

        @Override
        public void mkdir(String path, int mode) {
            if (path.startsWith("/stubborn")) {
                stubbornly(path, WORK);
            } else if (path.startsWith("/obedient")) {
                try {
                    Thread.sleep(WORK.toMillis());
                } catch (InterruptedException e) {
                    interrupted.add(path);
                    throw new ErrnoException(Errno.EINTR, "stopped before creating " + path);
                }
            }
            super.mkdir(path, mode);
        }

        @Override
        public void rename(String from, String to) {
            if (from.startsWith("/stubborn")) {
                stubbornly(from, WORK);
            }
            super.rename(from, to);
        }

        @Override
        public void unlink(String path) {
            if (path.startsWith("/slow")) {
                stubbornly(path, LONG_WORK);
            }
            super.unlink(path);
        }

        @Override
        public FileAttributes getattr(String path) {
            if (path.equals("/stall-getattr")) {
                stubbornly(path, WORK);
                return super.getattr("/ok");
            }
            if (path.equals("/stall-getattr-long")) {
                stubbornly(path, LONG_WORK);
                return super.getattr("/ok");
            }
            return super.getattr(path);
        }

        @Override
        public int read(String path, long fh, ByteBuffer dst, long offset) {
            if (path.equals("/stall-read")) {
                stubbornly(path, WORK);
            }
            return super.read(path, fh, dst, offset);
        }
    }

    record Outcome(long rc, int errno, double ms, int signals) {
    }

    @BeforeAll
    static void mount() throws Exception {
        Edges.assumeFuseAndRoot();
        sigcall = Edges.sigcall();
        fs = new InterruptFs();
        mp = Edges.newDir("intr-");
        // direct_io: a read is a synchronous request the caller waits for interruptibly (no readahead).
        mount = FuseMount.mount(fs, mp, config("signals").build());
        intrMp = Edges.newDir("intr-o-");
        intrMount = FuseMount.mount(fs, intrMp, config("intr").mountOption("intr").build());
    }

    private static FuseguardConfig.Builder config(String name) {
        return FuseguardConfig.builder().fsName(name)
                .deadline(OperationKind.METADATA, DEADLINE).deadline(OperationKind.DATA, DEADLINE)
                .shutdownHook(false).mountOption("direct_io").mountOption("attr_timeout=0")
                .mountOption("entry_timeout=0");
    }

    @AfterAll
    static void unmount() {
        for (FuseMount m : new FuseMount[] {mount, intrMount}) {
            if (m != null) {
                m.close();
            }
        }
        for (Path p : new Path[] {mp, intrMp}) {
            if (p != null) {
                Edges.forceUnmount(p);
            }
        }
    }

    @AfterEach
    void nothingStuck() {
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private static Outcome interrupted(String op, String... paths) throws Exception {
        return interrupted(mp, op, paths);
    }

    private static Outcome interrupted(Path on, String op, String... paths) throws Exception {
        String[] cmd = new String[3 + paths.length];
        cmd[0] = sigcall.toString();
        cmd[1] = op;
        cmd[2] = Long.toString(SIGNAL_AFTER.toMillis());
        for (int i = 0; i < paths.length; i++) {
            cmd[3 + i] = on.resolve(paths[i]).toString();
        }
        Child.Result r = Child.run(DEADLINE.plus(LONG_WORK).plusSeconds(10), cmd).assertOk();
        Matcher m = RESULT.matcher(r.out());
        assertThat(m.find()).as("sigcall printed its result: %s", r.out()).isTrue();
        Outcome o = new Outcome(Long.parseLong(m.group(1)), Integer.parseInt(m.group(2)),
                Double.parseDouble(m.group(3)), Integer.parseInt(m.group(4)));
        System.out.printf("%s %s, signal after %d ms: %s%n", op, String.join(" ", paths), SIGNAL_AFTER.toMillis(),
                o);
        assertThat(o.signals()).as("the signal arrived during the call").isEqualTo(1);
        return o;
    }

    private static boolean exists(String name) throws Exception {
        try (PyClient c = new PyClient()) {
            PyClient.Reply r = c.call(Duration.ofSeconds(10), "stat " + mp.resolve(name));
            assertThat(r.ok() || r.errno() == ENOENT).as("stat of %s: %s", name, r).isTrue();
            return r.ok();
        }
    }

    @Test
    void anOrdinarySignalDuringAMkdirChangesNothingTheCallerGetsItsSuccess() throws Exception {
        Outcome o = interrupted("mkdir", "stubborn-dir");
        assertThat(o.errno()).as("never EINTR for an ordinary signal").isNotEqualTo(EINTR);
        assertThat(o.rc()).isZero();
        assertThat(o.ms()).as("answered when the handler finished").isGreaterThanOrEqualTo(WORK.toMillis() * 0.9);
        assertThat(fs.interrupted).as("the handler was not disturbed").doesNotContain("/stubborn-dir");
        assertThat(exists("stubborn-dir")).isTrue();
    }

    @Test
    void anOrdinarySignalDoesNotStopAHandlerThatWouldObeyIt() throws Exception {
        Outcome o = interrupted("mkdir", "obedient-dir");
        assertThat(o.errno()).as("the signal did not reach the handler: the mkdir happened").isZero();
        assertThat(fs.interrupted).doesNotContain("/obedient-dir");
        assertThat(exists("obedient-dir")).isTrue();
    }

    @Test
    void anOrdinarySignalDuringARenameReportsItsSuccess() throws Exception {
        Outcome o = interrupted("rename", "stubborn-src", "stubborn-dst");
        assertThat(o.errno()).isNotEqualTo(EINTR);
        assertThat(o.rc()).isZero();
        assertThat(exists("stubborn-dst")).isTrue();
        assertThat(exists("stubborn-src")).isFalse();
    }

    @Test
    void anOrdinarySignalDuringAStatOrReadGetsTheRealAnswer() throws Exception {
        Outcome stat = interrupted("stat", "stall-getattr");
        assertThat(stat.errno()).isZero();
        assertThat(stat.ms()).isGreaterThanOrEqualTo(WORK.toMillis() * 0.9);
        Outcome read = interrupted("read", "stall-read");
        assertThat(read.errno()).isZero();
        assertThat(read.rc()).as("the bytes of the file").isEqualTo("data\n".length());
    }

    @Test
    void anInterruptedUnlinkPastItsDeadlineGetsTheTimeoutErrnoNotEintr() throws Exception {
        Outcome o = interrupted("unlink", "slow-unlink");
        assertThat(o.errno()).as("the timeout errno, 'unknown': the unlink may still happen")
                .isEqualTo(EIO);
        assertThat(o.ms()).as("answered at the deadline").isBetween(DEADLINE.toMillis() * 0.9,
                DEADLINE.toMillis() + 1000.0);
        await().atMost(LONG_WORK.plusSeconds(5)).until(() -> fs.finished.contains("/slow-unlink"));
        assertThat(exists("slow-unlink")).as("it did happen later: EINTR would have been a lie").isFalse();
    }

    /**
     * A caller signalled first (ignored, as it should be) and killed later gets no second INTERRUPT from the
     * kernel: it waits uninterruptibly. The watchdog looks at it again and lets it go.
     */
    @Test
    void aCallerKilledAfterAnOrdinarySignalIsLetGoSoon() throws Exception {
        Process p = new ProcessBuilder(sigcall.toString(), "stat", Long.toString(SIGNAL_AFTER.toMillis()),
                mp.resolve("stall-getattr-long").toString()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try {
            await().atMost(Duration.ofSeconds(5)).until(() -> fs.started.contains("/stall-getattr-long"));
            Thread.sleep(SIGNAL_AFTER.toMillis() + 300); // its SIGALRM came and was let pass
            assertThat(p.isAlive()).as("still waiting for its stat").isTrue();
            long t0 = System.nanoTime();
            Child.kill9(p);
            assertThat(p.waitFor(LONG_WORK.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)).isTrue();
            long ms = Edges.ms(t0);
            System.out.printf("caller killed after an ordinary signal: gone %d ms after kill -9 (handler %d ms)%n",
                    ms, LONG_WORK.toMillis());
            assertThat(ms).as("let go within a few watchdog looks, not at the handler's end")
                    .isLessThan(LONG_WORK.toMillis() / 4);
        } finally {
            Child.kill9(p);
        }
    }

    @Test
    void withIntrAStatIsAnsweredEintrAtOnce() throws Exception {
        Outcome o = interrupted(intrMp, "stat", "stall-getattr");
        assertThat(o.errno()).isEqualTo(EINTR);
        assertThat(o.ms()).as("at once, though its handler ignores the interrupt")
                .isLessThan(SIGNAL_AFTER.toMillis() + WORK.toMillis() / 2.0);
    }

    @Test
    void withIntrAnObedientMkdirReportsEintrAndChangesNothing() throws Exception {
        Outcome o = interrupted(intrMp, "mkdir", "obedient-intr-dir");
        assertThat(o.errno()).as("the handler stopped: EINTR, nothing changed").isEqualTo(EINTR);
        assertThat(fs.interrupted).contains("/obedient-intr-dir");
        assertThat(exists("obedient-intr-dir")).isFalse();
    }

    @Test
    void withIntrAMkdirThatHappensAnywayReportsSuccessNotEintr() throws Exception {
        Outcome o = interrupted(intrMp, "mkdir", "stubborn-intr-dir");
        await().atMost(Duration.ofSeconds(5)).until(() -> fs.finished.contains("/stubborn-intr-dir"));
        assertThat(fs.interrupted).as("the handler got the interrupt (and ignored it)")
                .contains("/stubborn-intr-dir");
        assertThat(o.errno()).as("never EINTR for a change that happens anyway").isNotEqualTo(EINTR);
        assertThat(o.rc()).isZero();
        assertThat(exists("stubborn-intr-dir")).isTrue();
    }
}
