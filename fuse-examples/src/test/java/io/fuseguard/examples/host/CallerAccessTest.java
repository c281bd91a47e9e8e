package io.fuseguard.examples.host;

import org.junit.jupiter.api.Test;

import java.util.List;

import static io.fuseguard.examples.host.CallerAccess.MAY_EXEC;
import static io.fuseguard.examples.host.CallerAccess.MAY_READ;
import static io.fuseguard.examples.host.CallerAccess.MAY_WRITE;
import static org.assertj.core.api.Assertions.assertThat;

/** {@link CallerAccess} decides as the kernel's {@code generic_permission} does, from {@code /proc/PID/status}. */
class CallerAccessTest {
    private static final int FILE = Host.S_IFREG;
    private static final long ALL_CAPS = 0x1ffffffffffL;

    private static CallerAccess.Credentials user(long uid, long gid, long... groups) {
        return new CallerAccess.Credentials(uid, gid, groups, 0);
    }

    @Test
    void ownerBitsDecideForTheOwnerEvenWhenGroupOrOtherBitsWouldGrant() {
        assertThat(CallerAccess.permits(user(1000, 1000), FILE | 0066, 1000, 1000, MAY_READ)).isFalse();
        assertThat(CallerAccess.permits(user(1000, 1000), FILE | 0600, 1000, 0, MAY_READ | MAY_WRITE)).isTrue();
    }

    @Test
    void groupBitsApplyToThePrimaryAndSupplementaryGroups() {
        assertThat(CallerAccess.permits(user(1000, 4300), FILE | 0640, 0, 4300, MAY_READ)).isTrue();
        assertThat(CallerAccess.permits(user(1000, 1000, 4200, 4300), FILE | 0640, 0, 4300, MAY_READ)).isTrue();
        assertThat(CallerAccess.permits(user(1000, 1000, 4200, 4300), FILE | 0640, 0, 4300, MAY_WRITE)).isFalse();
        assertThat(CallerAccess.permits(user(1000, 1000, 4200), FILE | 0604, 0, 4300, MAY_READ)).isTrue();
        // a member gets the group's bits, not the others'
        assertThat(CallerAccess.permits(user(1000, 4300), FILE | 0604, 0, 4300, MAY_READ)).isFalse();
    }

    @Test
    void rootNeedsItsCapabilities() {
        var root = new CallerAccess.Credentials(0, 0, new long[0], ALL_CAPS);
        assertThat(CallerAccess.permits(root, FILE, 1000, 1000, MAY_READ | MAY_WRITE)).isTrue();
        assertThat(CallerAccess.permits(root, FILE | 0600, 1000, 1000, MAY_EXEC)).isFalse();
        assertThat(CallerAccess.permits(root, FILE | 0010, 1000, 1000, MAY_EXEC)).isTrue();
        var readSearchOnly = new CallerAccess.Credentials(0, 0, new long[0], 1L << 2);
        assertThat(CallerAccess.permits(readSearchOnly, FILE, 1000, 1000, MAY_READ)).isTrue();
        assertThat(CallerAccess.permits(readSearchOnly, FILE, 1000, 1000, MAY_WRITE)).isFalse();
        var noCaps = new CallerAccess.Credentials(0, 0, new long[0], 0);
        assertThat(CallerAccess.permits(noCaps, FILE | 0600, 1000, 1000, MAY_READ)).isFalse();
        // capabilities of another uid (another user namespace's root) do not count
        assertThat(CallerAccess.permits(new CallerAccess.Credentials(1000, 1000, new long[0], ALL_CAPS),
                FILE | 0600, 0, 0, MAY_READ)).isFalse();
    }

    @Test
    void statusLinesAreParsedWithTheFilesystemIds() {
        var c = CallerAccess.parseStatus(List.of("Name:\tpython3", "Uid:\t1\t2\t3\t65534", "Gid:\t5\t6\t7\t65533",
                "FDSize:\t64", "Groups:\t4200 4300 ", "CapEff:\t0000000000000006")).orElseThrow();
        assertThat(c.fsuid()).isEqualTo(65534);
        assertThat(c.fsgid()).isEqualTo(65533);
        assertThat(c.groups()).containsExactly(4200, 4300);
        assertThat(c.capEff()).isEqualTo(6);
        assertThat(CallerAccess.parseStatus(List.of("Uid:\t0\t0\t0\t0", "Gid:\t0\t0\t0\t0", "Groups:\t",
                "CapEff:\t0")).orElseThrow().groups()).isEmpty();
        assertThat(CallerAccess.parseStatus(List.of("Uid:\t0\t0\t0\t0"))).isEmpty();
    }

    @Test
    void anInvisibleOrVanishedCallerHasNoCredentials() {
        assertThat(CallerAccess.credentials(0)).isEmpty();
        assertThat(CallerAccess.credentials(Integer.MAX_VALUE)).isEmpty();
        assertThat(CallerAccess.credentials((int) ProcessHandle.current().pid())).isPresent();
    }
}
