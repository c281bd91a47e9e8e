package io.fuseguard.cli;

import io.fuseguard.testkit.FuseTestSupport;
import io.fuseguard.testkit.FuseTestSupport.TestMount;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;

import org.junit.jupiter.api.Test;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.kernel.Tasks;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.SmallFs;
import picocli.CommandLine;

class ConnectionsCommandTest {

    @Test
    void listsARealMountWithItsDaemon() throws Exception {
        FuseTestSupport.assumeFuseUsable();
        try (TestMount m = TestMount.mount("cli-list")) {
            Run r = Run.of(new ConnectionsCommand());
            assertThat(r.exit).isZero();
            assertThat(r.err).isEmpty();
            assertThat(r.out).contains("ID", "MOUNTPOINT", "TYPE", "DAEMON PID", "WAITING", "PROTOCOL");
            String row = r.lineContaining(m.mountPoint.toString());
            assertThat(row.trim().split("\\s+"))
                    .as("a plain jnr-fuse daemon publishes no protocol")
                    .containsExactly(Long.toString(m.connectionId()), m.mountPoint.toString(), m.entry.fsType(),
                            Long.toString(ProcessHandle.current().pid()), "0", "-");
        }
    }

    @Test
    void showsTheProtocolAndCapabilitiesAFuseguardDaemonNegotiated() throws Exception {
        FuseTestSupport.assumeFuseUsable();
        java.nio.file.Path mp = FuseTestSupport.newTempDir("cli-protocol-", "rwxr-xr-x");
        try (FuseMount m = FuseMount.mount(new SmallFs(), mp,
                FuseguardConfig.builder().fsName("cli-protocol").shutdownHook(false).build())) {
            long id = m.connectionId().orElseThrow();
            String version = "7." + m.protocol().minor();
            Run r = Run.of(new ConnectionsCommand());
            assertThat(r.exit).isZero();
            String row = r.lineContaining(mp.toRealPath().toString());
            assertThat(row.trim().split("\\s+")).as("the PROTOCOL column").endsWith(version);
            assertThat(r.out).contains("Negotiated by fuseguard daemons:");
            assertThat(r.lineContaining("  " + id + ": ")).isEqualTo("  " + id + ": " + version + " (kernel 7."
                    + m.protocol().kernelMinor() + "); passthrough " + m.passthrough().state() + "; using "
                    + String.join(", ", m.protocol().used()));

            Run json = Run.of(new ConnectionsCommand(), "--json");
            assertThat(json.out).contains(",\"protocol\":{\"version\":\"" + version + "\",\"kernelMinor\":"
                    + m.protocol().kernelMinor() + ",\"capabilities\":[\"" + String.join("\",\"", m.protocol().used())
                    + "\"]");
        } finally {
            java.nio.file.Files.deleteIfExists(mp);
        }
    }

    @Test
    void showsAWedgedTaskAndStaysResponsive() throws Exception {
        FuseTestSupport.assumeFuseUsable();
        Process child = null;
        try (TestMount m = TestMount.mount("cli-wedge")) {
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
            FuseTestSupport.destroy(child);
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
}
