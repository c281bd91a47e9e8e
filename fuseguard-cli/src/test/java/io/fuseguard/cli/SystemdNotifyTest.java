package io.fuseguard.cli;

import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * systemd's readiness protocol as systemd speaks it: a unix datagram socket (here a python3 receiver, bound to a
 * path or to an abstract name) gets {@code READY=1} from the command once it serves.
 */
@org.junit.jupiter.api.Timeout(value = 60, unit = TimeUnit.SECONDS)
class SystemdNotifyTest {
    @TempDir
    Path tmp;

    /** A receiver that prints each datagram it gets on one line (newlines as '|'), until killed. */
    private static Process receiver(String address) throws Exception {
        String bind = address.startsWith("@") ? "'\\0" + address.substring(1) + "'" : "'" + address + "'";
        Process p = new ProcessBuilder(Edges.python(), "-u", "-c", "import socket,sys\n"
                + "s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\n"
                + "s.bind(" + bind + ")\n"
                + "print('bound',flush=True)\n"
                + "while True:\n"
                + "  print(s.recv(4096).decode().replace('\\n','|'),flush=True)\n").start();
        BufferedReader r = reader(p);
        assertThat(r.readLine()).isEqualTo("bound");
        return p;
    }

    private static BufferedReader reader(Process p) {
        return new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    }

    @Test
    void sendsToAPathAndToAnAbstractName() throws Exception {
        for (String address : List.of(tmp.resolve("notify").toString(), "@fuseguard-test-" + ProcessHandle.current().pid())) {
            Process r = receiver(address);
            try {
                assertThat(SystemdNotify.send(address, "READY=1\nSTATUS=testing")).isEmpty();
                assertThat(reader(r).readLine()).isEqualTo("READY=1|STATUS=testing");
            } finally {
                r.destroyForcibly();
                r.waitFor(10, TimeUnit.SECONDS);
            }
        }
        assertThat(SystemdNotify.send(null, "READY=1")).as("not under systemd: nothing to do").isEmpty();
        assertThat(SystemdNotify.send("", "READY=1")).isEmpty();
        assertThat(SystemdNotify.send("relative", "READY=1")).isPresent();
        assertThat(SystemdNotify.send(tmp.resolve("nobody-listens").toString(), "READY=1"))
                .hasValueSatisfying(why -> assertThat(why).contains("errno"));
    }

    @Test
    void mountSaysReadyOnceMountedAndExitsZeroOnSigterm() throws Exception {
        FuseAvailability.assumeUsable();
        Path mp = Files.createDirectory(tmp.resolve("mnt"));
        String address = tmp.resolve("notify").toString();
        Process r = receiver(address);
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), FuseguardCommand.class.getName(), "mount", "memory",
                mp.toString(), "--capacity", "16M").redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("NOTIFY_SOCKET", address);
        Process p = pb.start();
        try {
            String ready = reader(r).readLine();
            assertThat(ready).startsWith("READY=1|STATUS=serving memory at " + mp);
            assertThat(MountTable.load().findByMountPoint(mp)).as("mounted when READY=1 arrives").isPresent();
            new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
            assertThat(p.waitFor(15, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).isZero();
            assertThat(reader(r).readLine()).isEqualTo("STOPPING=1");
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            r.destroyForcibly();
            r.waitFor(10, TimeUnit.SECONDS);
            Optional<?> left = MountTable.load().findByMountPoint(mp);
            if (left.isPresent()) {
                new ProcessBuilder("umount", "-l", mp.toString()).start().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void theGuardSaysReadyAfterItsFirstScan() throws Exception {
        io.fuseguard.testkit.FuseTestSupport.assumeFuseUsable();
        String address = "@fuseguard-guard-test-" + ProcessHandle.current().pid();
        Process r = receiver(address);
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), FuseguardCommand.class.getName(), "guard", "--dry-run",
                "--interval", "100ms", "--under", tmp.toString()).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.environment().put("NOTIFY_SOCKET", address);
        Process p = pb.start();
        try {
            assertThat(reader(r).readLine()).isEqualTo("READY=1|STATUS=guarding FUSE connections");
            new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
            assertThat(p.waitFor(15, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as("SIGTERM is a success").isZero();
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            r.destroyForcibly();
            r.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
