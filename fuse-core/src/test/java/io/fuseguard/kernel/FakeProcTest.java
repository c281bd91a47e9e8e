package io.fuseguard.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link Tasks} and {@link FuseControl} over fake {@code /proc} and {@code fusectl} trees. */
class FakeProcTest {

    @TempDir
    Path proc;

    private void task(int pid, int tid, int ppid, String comm, char state, String wchan, String stack)
            throws IOException {
        Path dir = proc.resolve(Integer.toString(pid));
        Files.createDirectories(dir);
        if (pid == tid) {
            Files.writeString(dir.resolve("stat"), pid + " (" + comm + ") " + state + " " + ppid + " 0 0 0\n");
        }
        Path t = dir.resolve("task").resolve(Integer.toString(tid));
        Files.createDirectories(t);
        Files.writeString(t.resolve("stat"), tid + " (" + comm + ") " + state + " " + ppid + " 0 0 0\n");
        Files.writeString(t.resolve("wchan"), wchan);
        if (stack != null) {
            Files.writeString(t.resolve("stack"), stack);
        }
    }

    @Test
    void findsTasksWaitingInFuseAndIgnoresOthers() throws IOException {
        task(1, 1, 0, "init", 'S', "do_wait", "[<0>] do_wait+0x1/0x2\n");
        task(100, 100, 1, "java (daemon)", 'S', "futex_wait", "[<0>] futex_wait+0x1/0x2\n");
        task(100, 101, 1, "fuse-worker", 'S', "fuse_dev_do_read", "[<0>] fuse_dev_do_read+0x1/0x2 [fuse]\n");
        task(200, 200, 1, "cat", 'D', "request_wait_answer",
                "[<0>] request_wait_answer+0x1/0x2\n[<0>] __fuse_simple_request+0x1/0x2\n[<0>] fuse_flush+0x1/0x2\n");
        task(300, 300, 200, "ls", 'S', "request_wait_answer", null); // stack unreadable
        Files.createDirectories(proc.resolve("400/task/400")); // vanished: no stat
        Files.createDirectories(proc.resolve("self"));

        List<TaskInfo> waiting = Tasks.tasksWaitingInFuse(proc);
        assertThat(waiting).extracting(TaskInfo::tid).containsExactly(200, 300);
        assertThat(waiting.get(0).comm()).isEqualTo("cat");
        assertThat(waiting.get(0).kernelStack()).startsWith("request_wait_answer");
        assertThat(waiting.get(1).kernelStack()).isEmpty();

        assertThat(Tasks.threads(proc, 100)).extracting(TaskInfo::tid).containsExactly(100, 101);
        assertThat(Tasks.threads(proc, 100).get(0).comm()).isEqualTo("java (daemon)");
        assertThat(Tasks.threads(proc, 999)).isEmpty();
        assertThat(Tasks.task(proc, 400, 400)).isEmpty();
        assertThat(Tasks.task(proc, 100, 101)).hasValueSatisfying(t -> assertThat(t.wchan()).isEqualTo("fuse_dev_do_read"));
    }

    @Test
    void descendantsAreRecursiveAndListedOnce() throws IOException {
        task(1, 1, 0, "init", 'S', "", null);
        task(10, 10, 1, "sh", 'S', "", null);
        task(10, 11, 1, "sh-thread", 'S', "", null);
        task(20, 20, 10, "timeout", 'S', "", null);
        task(30, 30, 20, "stat", 'S', "", null);
        task(31, 31, 20, "other", 'Z', "", null);
        task(40, 40, 1, "unrelated", 'S', "", null);
        assertThat(Tasks.descendants(proc, 10)).containsExactly(20, 30, 31);
        assertThat(Tasks.descendants(proc, 1)).containsExactlyInAnyOrder(10, 20, 30, 31, 40);
        assertThat(Tasks.descendants(proc, 30)).isEmpty();
        assertThat(Tasks.descendants(proc, 12345)).isEmpty();
        assertThat(Tasks.stat(proc, 31)).map(ProcStat::state).contains('Z');
        assertThat(Tasks.stat(proc, 32)).isEmpty();
    }

    @Test
    void fuseControlOverAFakeDirectory() throws IOException {
        Path dir = proc.resolve("connections");
        Files.createDirectories(dir.resolve("45"));
        Files.createDirectories(dir.resolve("7"));
        Files.writeString(dir.resolve("45/waiting"), "3\n");
        Files.writeString(dir.resolve("45/abort"), "");
        Files.writeString(dir.resolve("7/waiting"), "0\n");
        Files.writeString(dir.resolve("7/abort"), "");
        Files.writeString(dir.resolve("notanid"), "");
        FuseControl control = new FuseControl(dir);

        assertThat(control.connectionIds()).containsExactly(7L, 45L);
        assertThat(control.waiting(45)).hasValue(3);
        assertThat(control.waiting(7)).hasValue(0);
        assertThat(control.waiting(8)).isEmpty();
        assertThat(control.exists(45)).isTrue();
        assertThat(control.exists(8)).isFalse();
        assertThat(control.exists(-1)).isFalse();

        control.abort(45);
        assertThat(Files.readString(dir.resolve("45/abort"))).isEqualTo("1");
        assertThatThrownBy(() -> control.abort(8))
                .isInstanceOf(NoSuchFileException.class)
                .hasMessageContaining("FUSE connection 8");

        assertThat(new FuseControl(proc.resolve("missing")).connectionIds()).isEmpty();
    }

    @Test
    void connectionReportMergesFusectlAndMountTable() throws IOException {
        Path dir = proc.resolve("connections");
        Files.createDirectories(dir.resolve("45"));
        Files.writeString(dir.resolve("45/waiting"), "2\n");
        Files.createDirectories(dir.resolve("46"));
        Files.writeString(dir.resolve("46/waiting"), "0\n");
        MountTable mounts = new MountTable(String.join("\n",
                "1 0 254:0 / / rw - ext4 /dev/vda rw",
                "2 1 0:45 / /mnt/a rw - fuse.memfs fuseguard:999999999:memfs rw",
                "3 1 0:47 / /mnt/b rw - fuse other rw"));
        List<ConnectionReport.Connection> report = ConnectionReport.scan(new FuseControl(dir), mounts);
        assertThat(report).extracting(ConnectionReport.Connection::id).containsExactly(45L, 46L, 47L);
        assertThat(report.get(0).mount().map(MountEntry::mountPoint)).contains(Path.of("/mnt/a"));
        assertThat(report.get(0).waiting()).hasValue(2);
        assertThat(report.get(0).daemonPid()).as("pid in fsname does not exist").isEmpty();
        assertThat(report.get(1).mount()).isEmpty();
        assertThat(report.get(2).waiting()).as("not in fusectl").isEmpty();
        assertThat(report.get(2).mount().map(MountEntry::fsType)).isEqualTo(Optional.of("fuse"));
    }
}
