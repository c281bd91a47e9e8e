package io.fuseguard.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.Test;

class ProcParsingTest {

    @Test
    void parsesPlainStat() {
        ProcStat s = ProcStat.parse("1234 (java) S 1 1234 1234 0 -1 4194560 1000 0 0 0\n");
        assertThat(s).isEqualTo(new ProcStat(1234, "java", 'S', 1));
    }

    @Test
    void parsesCommWithSpacesAndParentheses() {
        ProcStat s = ProcStat.parse("77 (a) b (c)) D 12 77 77 0 -1 0 0 0");
        assertThat(s.id()).isEqualTo(77);
        assertThat(s.comm()).isEqualTo("a) b (c)");
        assertThat(s.state()).isEqualTo('D');
        assertThat(s.ppid()).isEqualTo(12);
    }

    @Test
    void parsesEmptyAndOddComm() {
        assertThat(ProcStat.parse("5 () Z 4 0").comm()).isEmpty();
        assertThat(ProcStat.parse("6 ( ) R 0 0").comm()).isEqualTo(" ");
        assertThat(ProcStat.parse("8 (x 1 2 3) I 2 0").ppid()).isEqualTo(2);
    }

    @Test
    void rejectsGarbage() {
        assertThatThrownBy(() -> ProcStat.parse("")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ProcStat.parse("12 java S 1")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ProcStat.parse("x (java) S 1")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ProcStat.parse("12 (java)")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void parsesKernelStack() {
        String stack = "[<0>] request_wait_answer+0x12b/0x270 [fuse]\n"
                + "[<0>] __fuse_simple_request+0xd3/0x2b0\n"
                + "[<0>] fuse_flush+0x1a1/0x1f0 [fuse]\n"
                + "[<0>] filp_flush+0x38/0x90\n"
                + "\n";
        assertThat(Tasks.parseStack(stack))
                .containsExactly("request_wait_answer", "__fuse_simple_request", "fuse_flush", "filp_flush");
        assertThat(Tasks.parseStack("")).isEmpty();
    }

    @Test
    void classifiesTasks() {
        List<String> flush = List.of("request_wait_answer", "__fuse_simple_request", "fuse_flush", "filp_flush");
        TaskInfo stuck = new TaskInfo(10, 11, "cat", 'D', "request_wait_answer", flush);
        assertThat(stuck.isWaitingInFuse()).isTrue();
        assertThat(stuck.isUninterruptible()).isTrue();
        assertThat(stuck.topFunction()).contains("request_wait_answer");
        assertThat(stuck.fuseFunction()).contains("fuse_flush");

        TaskInfo pageWait = new TaskInfo(1, 1, "x", 'D', "folio_wait_bit_common",
                List.of("folio_wait_bit_common", "filemap_read", "fuse_file_read_iter", "vfs_read"));
        assertThat(pageWait.isWaitingInFuse()).isTrue();

        TaskInfo daemonReader = new TaskInfo(1, 2, "java", 'S', "fuse_dev_do_read",
                List.of("fuse_dev_do_read", "fuse_dev_read", "vfs_read", "ksys_read"));
        assertThat(daemonReader.isWaitingInFuse()).as("daemon waiting for requests").isFalse();

        TaskInfo sleeper = new TaskInfo(1, 3, "sleep", 'S', "hrtimer_nanosleep", List.of("hrtimer_nanosleep"));
        assertThat(sleeper.isWaitingInFuse()).isFalse();

        TaskInfo running = new TaskInfo(1, 4, "busy", 'R', "", flush);
        assertThat(running.isWaitingInFuse()).isFalse();

        TaskInfo zombie = new TaskInfo(1, 5, "dead", 'Z', "", List.of());
        assertThat(zombie.isWaitingInFuse()).isFalse();

        // Stack unreadable: fall back to wchan.
        assertThat(new TaskInfo(1, 6, "a", 'S', "request_wait_answer", List.of()).isWaitingInFuse()).isTrue();
        assertThat(new TaskInfo(1, 7, "a", 'D', "fuse_wait_on_page_writeback", List.of()).isWaitingInFuse()).isTrue();
        assertThat(new TaskInfo(1, 8, "a", 'S', "fuse_dev_do_read", List.of()).isWaitingInFuse()).isFalse();
        assertThat(new TaskInfo(1, 9, "a", 'S', "", List.of()).isWaitingInFuse()).isFalse();
        assertThat(new TaskInfo(1, 9, "a", 'S', "", List.of()).topFunction()).isEmpty();
    }

    @Test
    void parsesFuseguardFsName() {
        assertThat(DaemonLocator.parseFsName("fuseguard:1234:memfs")).hasValue(1234);
        assertThat(DaemonLocator.parseFsName("fuseguard:1234")).hasValue(1234);
        assertThat(DaemonLocator.parseFsName(DaemonLocator.fsName(42, "x"))).hasValue(42);
        assertThat(DaemonLocator.parseFsName("fuseguard::x")).isEmpty();
        assertThat(DaemonLocator.parseFsName("fuseguard:-1:x")).isEmpty();
        assertThat(DaemonLocator.parseFsName("fuseguard:99999999999:x")).isEmpty();
        assertThat(DaemonLocator.parseFsName("sshfs")).isEmpty();
        assertThat(DaemonLocator.parseFsName(null)).isEmpty();
    }

    @Test
    void daemonPidFromSourceOrSubtypeOfALiveProcess() {
        int me = (int) ProcessHandle.current().pid();
        MountEntry bySource = new MountEntry(1, 0, 77, java.nio.file.Path.of("/mnt/a"), "fuse",
                DaemonLocator.fsName(me, "a"), "rw");
        MountEntry bySubtype = new MountEntry(2, 0, 78, java.nio.file.Path.of("/mnt/b"),
                "fuse." + DaemonLocator.fsName(me, "b"), "whatever", "rw");
        MountEntry gone = new MountEntry(3, 0, 79, java.nio.file.Path.of("/mnt/c"), "fuse",
                DaemonLocator.fsName(999_999_999, "c"), "rw");
        assertThat(DaemonLocator.daemonPid(bySource)).hasValue(me);
        assertThat(DaemonLocator.daemonPid(bySubtype)).hasValue(me);
        assertThat(DaemonLocator.daemonPid(gone)).isEmpty();
    }
}
