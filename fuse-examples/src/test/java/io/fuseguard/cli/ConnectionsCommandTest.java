package io.fuseguard.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import io.fuseguard.kernel.DaemonLocator;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.kernel.Tasks;
import jnr.ffi.Pointer;
import picocli.CommandLine;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;

class ConnectionsCommandTest {

    @Test
    void listsARealMountWithItsDaemon() throws Exception {
        Fixture.assumeFuseUsable();
        try (Fixture.TestMount m = Fixture.TestMount.mount("cli-list")) {
            Run r = Run.of(new ConnectionsCommand());
            assertThat(r.exit).isZero();
            assertThat(r.err).isEmpty();
            assertThat(r.out).contains("ID", "MOUNTPOINT", "TYPE", "DAEMON PID", "WAITING");
            String row = r.lineContaining(m.mountPoint.toString());
            assertThat(row.trim().split("\\s+"))
                    .containsExactly(Long.toString(m.connectionId()), m.mountPoint.toString(), m.entry.fsType(),
                            Long.toString(ProcessHandle.current().pid()), "0");
        }
    }

    @Test
    void showsAWedgedTaskAndStaysResponsive() throws Exception {
        Fixture.assumeFuseUsable();
        Process child = null;
        try (Fixture.TestMount m = Fixture.TestMount.mount("cli-wedge")) {
            child = m.startStalledStat();
            int statPid = m.awaitStalled(child);

            long start = System.nanoTime();
            Run r = Run.of(new ConnectionsCommand());
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
            assertThat(r.exit).isZero();
            String row = r.lineContaining(m.mountPoint.toString());
            assertThat(row.trim().split("\\s+")[4]).isNotEqualTo("0");
            assertThat(r.out).contains("Tasks waiting in FUSE:");
            String task = r.lineContaining(statPid + "/" + statPid);
            assertThat(task).contains("stat").contains("request_wait_answer");

            Run json = Run.of(new ConnectionsCommand(), "--json");
            assertThat(json.exit).isZero();
            assertThat(json.out.trim()).startsWith("{\"fusectlMounted\":true,\"connections\":[").endsWith("]}");
            assertThat(json.out).contains("{\"id\":" + m.connectionId() + ",\"mountPoint\":\""
                    + m.mountPoint + "\",\"fsType\":\"" + m.entry.fsType() + "\",\"source\":\"" + m.fs.fsName + "\",\"daemonPid\":"
                    + ProcessHandle.current().pid() + ",\"waiting\":");
            assertThat(json.out).contains("{\"pid\":" + statPid + ",\"tid\":" + statPid + ",\"comm\":\"stat\"");
            assertThat(json.out).contains("\"kernelStack\":[\"request_wait_answer\"");
        } finally {
            Fixture.destroy(child);
        }
    }

    @Test
    void jsonIsWellFormedWithoutMounts() {
        Run json = Run.of(new ConnectionsCommand(), "--json");
        assertThat(json.exit).isZero();
        assertThat(json.out.trim()).startsWith("{\"fusectlMounted\":").contains("\"waitingTasks\":[").endsWith("]}");
        assertThat(ConnectionsCommand.quote("a\"b\\c\nd\u0001")).isEqualTo("\"a\\\"b\\\\c\\nd\\u0001\"");
        assertThat(ConnectionsCommand.printable("a\nb")).isEqualTo("a\\012b");
    }

    @Test
    void rejectsUnknownOptionsAndArguments() {
        Run r = Run.of(new ConnectionsCommand(), "--bogus");
        assertThat(r.exit).isEqualTo(2);
        assertThat(r.err).contains("Unknown option: '--bogus'");
        Run extra = Run.of(new ConnectionsCommand(), "extra");
        assertThat(extra.exit).isEqualTo(2);
        assertThat(extra.err).contains("extra");
    }

    @Test
    void hasHelp() {
        Run r = Run.of(new ConnectionsCommand(), "--help");
        assertThat(r.exit).isZero();
        assertThat(r.out).contains("Usage: connections", "--json");
    }

    /** One in-process run of a command with captured output. */
    static final class Run {
        final int exit;
        final String out;
        final String err;

        private Run(int exit, String out, String err) {
            this.exit = exit;
            this.out = out;
            this.err = err;
        }

        static Run of(Object command, String... args) {
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            CommandLine cl = new CommandLine(command);
            cl.setOut(new PrintWriter(out, true));
            cl.setErr(new PrintWriter(err, true));
            int exit = cl.execute(args);
            return new Run(exit, out.toString(), err.toString());
        }

        String lineContaining(String s) {
            return out.lines().filter(l -> l.contains(s)).findFirst()
                    .orElseThrow(() -> new AssertionError("no line containing '" + s + "' in:\n" + out));
        }
    }

    /** Real-FUSE fixtures shared by the CLI tests. */
    static final class Fixture {

        private Fixture() {
        }

        /** Skips without usable FUSE; fails instead when {@code CI=true}. */
        static void assumeFuseUsable() {
            String reason = unusableReason();
            if (reason == null) {
                return;
            }
            if ("true".equalsIgnoreCase(System.getenv("CI"))) {
                fail("real FUSE is required on CI (CI=true) but " + reason);
            }
            Assumptions.assumeTrue(false, "skipping real-FUSE test: " + reason);
        }

        private static String unusableReason() {
            Path dev = Paths.get("/dev/fuse");
            if (!Files.exists(dev)) {
                return "/dev/fuse does not exist";
            }
            if (!Files.isReadable(dev) || !Files.isWritable(dev)) {
                return "/dev/fuse is not readable and writable by this user";
            }
            if (!Files.isExecutable(Paths.get("/usr/bin/fusermount")) && !Files.isExecutable(Paths.get("/bin/fusermount"))) {
                return "fusermount is not installed (Debian package 'fuse')";
            }
            boolean lib = List.of("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                            "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")
                    .stream().anyMatch(d -> Files.exists(Paths.get(d, "libfuse.so.2")));
            if (!lib) {
                return "libfuse.so.2 not found (Debian package 'libfuse2')";
            }
            try {
                FuseControl.ensureMounted();
            } catch (IOException e) {
                return "fusectl is not available: " + e.getMessage();
            }
            return null;
        }

        /** Empty root; {@code getattr("/stall")} blocks until released (at most 60 s). */
        static final class StallFs extends FuseStubFS {
            final CountDownLatch release = new CountDownLatch(1);
            final AtomicInteger stalled = new AtomicInteger();
            final String fsName;

            StallFs(String name) {
                this.fsName = DaemonLocator.fsName(ProcessHandle.current().pid(), name);
            }

            @Override
            protected String getFSName() {
                return fsName;
            }

            @Override
            public int getattr(String path, FileStat stat) {
                if ("/".equals(path)) {
                    stat.st_mode.set(FileStat.S_IFDIR | 0755);
                    stat.st_nlink.set(2);
                    return 0;
                }
                if ("/stall".equals(path)) {
                    stalled.incrementAndGet();
                    try {
                        release.await(60, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return -ErrorCodes.ENOENT();
            }

            @Override
            public int readdir(String path, Pointer buf, FuseFillDir filter, long offset, FuseFileInfo fi) {
                filter.apply(buf, ".", null, 0);
                filter.apply(buf, "..", null, 0);
                return 0;
            }
        }

        /** A mounted {@link StallFs}; closing aborts, lazily unmounts and releases it. */
        static final class TestMount implements AutoCloseable {
            final StallFs fs;
            final Path mountPoint;
            final MountEntry entry;

            private TestMount(StallFs fs, Path mountPoint, MountEntry entry) {
                this.fs = fs;
                this.mountPoint = mountPoint;
                this.entry = entry;
            }

            static TestMount mount(String name) throws Exception {
                String env = System.getenv("FUSEGUARD_TEST_TMP");
                Path base = env != null && !env.isBlank() ? Paths.get(env) : Paths.get(System.getProperty("java.io.tmpdir"));
                Files.createDirectories(base);
                StallFs fs = new StallFs(name);
                Path dir = Files.createTempDirectory(base, name + "-");
                fs.mount(dir, false, false, new String[0]);
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (System.nanoTime() < deadline) {
                    Optional<MountEntry> e = MountTable.load().findByMountPoint(dir).filter(MountEntry::isFuse);
                    if (e.isPresent()) {
                        return new TestMount(fs, dir, e.get());
                    }
                    Thread.sleep(50);
                }
                fs.release.countDown();
                Files.deleteIfExists(dir);
                throw new IllegalStateException("jnr-fuse mount of " + dir + " did not show up in mountinfo");
            }

            long connectionId() {
                return entry.connectionId();
            }

            /** Starts {@code timeout 20 stat MOUNT/stall}, which blocks in FUSE. */
            Process startStalledStat() throws IOException {
                return new ProcessBuilder("timeout", "20", "stat", mountPoint.resolve("stall").toString())
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            }

            /** Waits until the stat started by {@link #startStalledStat()} waits in FUSE; returns its pid. */
            int awaitStalled(Process timeoutProcess) {
                int timeoutPid = (int) timeoutProcess.pid();
                FuseControl control = new FuseControl();
                await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                        .until(() -> control.waiting(connectionId()).orElse(0) >= 1 && fs.stalled.get() >= 1
                                && !Tasks.descendants(timeoutPid).isEmpty());
                int statPid = Tasks.descendants(timeoutPid).get(0);
                await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
                        .until(() -> Tasks.tasksWaitingInFuse().stream().anyMatch(t -> t.pid() == statPid));
                return statPid;
            }

            boolean stillMounted() throws IOException {
                return MountTable.load().findByMountPoint(mountPoint).filter(MountEntry::isFuse).isPresent();
            }

            @Override
            public void close() throws Exception {
                try {
                    FuseControl control = new FuseControl();
                    if (control.exists(connectionId())) {
                        control.abort(connectionId());
                    }
                } catch (IOException e) {
                    // already gone
                }
                try {
                    if (stillMounted()) {
                        Process p = new ProcessBuilder("fusermount", "-u", "-z", mountPoint.toString())
                                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                        if (!p.waitFor(10, TimeUnit.SECONDS)) {
                            p.destroyForcibly();
                        }
                    }
                } finally {
                    fs.release.countDown();
                    try {
                        Files.deleteIfExists(mountPoint);
                    } catch (IOException e) {
                        // still mounted: leave the directory
                    }
                }
            }
        }

        /** Kills a {@code timeout} child and its descendants, by pid. */
        static void destroy(Process child) {
            if (child == null) {
                return;
            }
            for (int pid : Tasks.descendants((int) child.pid())) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            child.destroyForcibly();
        }
    }
}
