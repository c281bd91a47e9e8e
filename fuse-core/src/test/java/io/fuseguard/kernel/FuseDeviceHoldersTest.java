package io.fuseguard.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Parsing of the /proc entries the node guard reads, and the /dev/fuse holder scan on a fake /proc. */
class FuseDeviceHoldersTest {
    @TempDir
    Path proc;

    private void write(String rel, String text) throws Exception {
        Path p = proc.resolve(rel);
        Files.createDirectories(p.getParent());
        Files.writeString(p, text);
    }

    private static String stat(int id, char state, long flags) {
        return id + " (we ird) comm)) " + state + " 1 2 3 0 -1 " + flags + " 0 0 0 0 7 8 0 0 20 0 1 0 99 0 0";
    }

    @Test
    void taskStatParsesFlagsTimesAndOddCommandNames() {
        TaskStat s = TaskStat.parse(stat(42, 'D', TaskStat.PF_EXITING | 0x400000)).orElseThrow();
        assertThat(s.comm()).isEqualTo("we ird) comm)");
        assertThat(s.state()).isEqualTo('D');
        assertThat(s.exiting()).isTrue();
        assertThat(s.live()).isFalse();
        assertThat(s.utime()).isEqualTo(7);
        assertThat(s.stime()).isEqualTo(8);
        assertThat(s.startTime()).isEqualTo(99);
        assertThat(TaskStat.parse("42 (x) S 1 2")).isEmpty();
        assertThat(TaskStat.parse("garbage")).isEmpty();
        assertThat(TaskStat.parse(null)).isEmpty();
        assertThat(TaskStat.parse(stat(42, 'Z', 0)).orElseThrow().dead()).isTrue();
    }

    @Test
    void fdInfoNamesTheConnectionOnlyWhenTheKernelSaysSo() {
        FdInfo a = FdInfo.parse("pos:\t0\nflags:\t0100002\nmnt_id:\t24\nino:\t90\nfuse_connection:\t40\n").orElseThrow();
        assertThat(a.fuseConnection()).hasValue(40);
        assertThat(a.mountId()).isEqualTo(24);
        assertThat(a.flags()).isEqualTo(0100002);
        assertThat(FdInfo.parse("pos:\t0\nflags:\t02\nmnt_id:\t24\n").orElseThrow().fuseConnection()).isEmpty();
        assertThat(FdInfo.parse("nothing here")).isEmpty();
        assertThat(FdInfo.parse("flags: 9z")).isEmpty();
    }

    @Test
    void kernelVersionsAndDeviceNames() {
        assertThat(FuseDeviceHolders.atLeast616("6.18.44-fc-v669")).isTrue();
        assertThat(FuseDeviceHolders.atLeast616("6.16.0")).isTrue();
        assertThat(FuseDeviceHolders.atLeast616("6.15.9")).isFalse();
        assertThat(FuseDeviceHolders.atLeast616("5.10.0-amd64")).isFalse();
        assertThat(FuseDeviceHolders.atLeast616("7.0")).isTrue();
        assertThat(FuseDeviceHolders.atLeast616("x")).isFalse();
        assertThat(FuseDeviceHolders.looksLikeFuseDevice("/dev/fuse")).isTrue();
        assertThat(FuseDeviceHolders.looksLikeFuseDevice("/fuse (deleted)")).isTrue();
        assertThat(FuseDeviceHolders.looksLikeFuseDevice("/dev/fuse0")).isFalse();
    }

    @Test
    void scanFindsHoldersWhateverTheDeviceNodeIsCalled() throws Exception {
        write("sys/kernel/osrelease", "6.18.0\n");
        write("10/stat", stat(10, 'S', 0));
        Files.createDirectories(proc.resolve("10/fd"));
        Files.createSymbolicLink(proc.resolve("10/fd/3"), Path.of("/dev/fuse"));
        write("10/fdinfo/3", "flags:\t02\nmnt_id:\t5\nfuse_connection:\t77\n");
        Files.createSymbolicLink(proc.resolve("10/fd/4"), Path.of("/srv/other-name"));
        write("10/fdinfo/4", "flags:\t02\nmnt_id:\t5\nfuse_connection:\t78\n");
        Files.createSymbolicLink(proc.resolve("10/fd/5"), Path.of("socket:[1]"));
        Files.createSymbolicLink(proc.resolve("10/fd/6"), Path.of("/etc/passwd"));
        write("10/fdinfo/6", "flags:\t0\nmnt_id:\t5\n");
        Files.createDirectories(proc.resolve("11/fd"));
        Files.createSymbolicLink(proc.resolve("11/fd/3"), Path.of("/dev/fuse"));
        write("11/fdinfo/3", "flags:\t02\nmnt_id:\t5\n");

        FuseDeviceHolders.Snapshot s = FuseDeviceHolders.scan(proc, Duration.ofSeconds(5));
        assertThat(s.complete()).isTrue();
        assertThat(s.kernelNamesConnections()).isTrue();
        assertThat(s.fds()).hasSize(3);
        assertThat(s.mayServe(77)).extracting(FuseDeviceHolders.DeviceFd::pid).containsExactly(10);
        assertThat(s.mayServe(78)).extracting(FuseDeviceHolders.DeviceFd::fd).containsExactly(4);
        assertThat(s.mayServe(79)).isEmpty(); // pid 11's /dev/fuse is attached to nothing
        assertThat(FuseDeviceHolders.stillHeld(proc, s.mayServe(77).get(0))).isTrue();
        write("10/fdinfo/3", "flags:\t02\nmnt_id:\t5\nfuse_connection:\t99\n");
        assertThat(FuseDeviceHolders.stillHeld(proc, s.mayServe(77).get(0))).isFalse();

        assertThat(FuseDeviceHolders.liveness(proc, 10)).isEqualTo(FuseDeviceHolders.Liveness.LIVE);
        assertThat(FuseDeviceHolders.liveness(proc, 12)).isEqualTo(FuseDeviceHolders.Liveness.GONE);
        write("13/stat", stat(13, 'Z', 0));
        write("13/task/13/stat", stat(13, 'Z', 0));
        write("13/task/14/stat", stat(14, 'D', TaskStat.PF_EXITING));
        assertThat(FuseDeviceHolders.liveness(proc, 13)).isEqualTo(FuseDeviceHolders.Liveness.EXITING);
        write("13/task/15/stat", stat(15, 'S', 0));
        assertThat(FuseDeviceHolders.liveness(proc, 13)).isEqualTo(FuseDeviceHolders.Liveness.LIVE);
    }
}
