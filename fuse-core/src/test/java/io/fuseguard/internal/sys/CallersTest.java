package io.fuseguard.internal.sys;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** How a caller that is being killed is told from one that only got a signal, from /proc's texts. */
class CallersTest {
    private static String status(String state, String sigPnd, String shdPnd) {
        return "Name:\tdd\nState:\t" + state + "\nTgid:\t42\nSigQ:\t0/1\nSigPnd:\t" + sigPnd + "\nShdPnd:\t" + shdPnd
                + "\nSigBlk:\t0000000000000000\n";
    }

    @Test
    void sigkillPendingInTheThreadOrTheProcessIsDying() {
        assertThat(Callers.dying(status("D (disk sleep)", "0000000000000100", "0000000000000000"))).isTrue();
        assertThat(Callers.dying(status("S (sleeping)", "0000000000000000", "0000000000000100"))).isTrue();
    }

    @Test
    void anOrdinarySignalIsNotDying() {
        // SIGALRM (14) and SIGURG (23) pending: a timer, a Go runtime's preemption
        assertThat(Callers.dying(status("S (sleeping)", "0000000000002000", "0000000000400000"))).isFalse();
    }

    @Test
    void zombiesAndDeadTasksAreGone() {
        assertThat(Callers.dying(status("Z (zombie)", "0000000000000000", "0000000000000000"))).isTrue();
    }

    @Test
    void anExitingTaskIsDying() {
        // PF_EXITING (0x4) in field 9; a name with spaces and parentheses does not confuse the parser
        assertThat(Callers.exiting("42 (a b) c) D 1 42 42 0 -1 4194308 10 0 0 0 0 0")).isTrue();
        assertThat(Callers.exiting("42 (a b) c) D 1 42 42 0 -1 4194304 10 0 0 0 0 0")).isFalse();
        assertThat(Callers.exiting("42 (sh) Z 1 42 42 0 -1 4194304 10 0 0 0 0 0")).isTrue();
    }

    @Test
    void aLiveThreadOfThisProcessIsNotDying() {
        assertThat(Callers.dying(Syscalls.gettid())).isFalse();
        assertThat(Callers.dying(0)).as("unknown (another pid namespace)").isFalse();
    }
}
