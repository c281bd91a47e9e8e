package io.fuseguard.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import io.fuseguard.testkit.FuseTestSupport;
import io.fuseguard.testkit.FuseTestSupport.TestMount;
import io.fuseguard.cli.ConnectionsCommandTest.Run;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.Tasks;

class AbortCommandTest {

    @Test
    void abortsAWedgedMountByMountPoint() throws Exception {
        FuseTestSupport.assumeFuseUsable();
        Process child = null;
        try (TestMount m = TestMount.mount("cli-abort")) {
            child = m.startStalledStat();
            int statPid = m.awaitStalled(child);

            Run r = Run.of(new AbortCommand(), m.mountPoint.toString());
            assertThat(r.exit).as(r.err).isZero();
            assertThat(r.err).isEmpty();
            assertThat(r.out).startsWith("Aborted FUSE connection " + m.connectionId() + " (" + m.mountPoint + "); ");
            assertThat(r.out).contains("Released (");
            assertThat(r.lineContaining("pid " + statPid + " tid " + statPid)).contains("stat");
            // Tasks of other tests may wait in FUSE meanwhile; the stat must be among the released.
            String released = r.out.substring(r.out.indexOf("Released ("));
            int stillAt = released.indexOf("Still waiting");
            assertThat(stillAt < 0 ? released : released.substring(0, stillAt))
                    .contains("pid " + statPid + " tid " + statPid + " stat (was state ");

            assertThat(child.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(child.exitValue()).as("stat failed with ECONNABORTED before timeout fired")
                    .isNotZero().isNotEqualTo(124);
            assertThat(Tasks.isAlive(statPid)).isFalse();
            assertThat(m.stillMounted()).as("abort alone keeps the mount").isTrue();
        } finally {
            FuseTestSupport.destroy(child);
        }
    }

    @Test
    void abortsByIdAndUnmounts() throws Exception {
        FuseTestSupport.assumeFuseUsable();
        try (TestMount m = TestMount.mount("cli-unmount")) {
            Run r = Run.of(new AbortCommand(), "--unmount", Long.toString(m.connectionId()));
            assertThat(r.exit).as(r.err).isZero();
            assertThat(r.out).contains("Aborted FUSE connection " + m.connectionId())
                    .contains("Unmounted " + m.mountPoint + " (lazily).");
            assertThat(m.stillMounted()).isFalse();
        }
    }

    @Test
    void unknownMountPointIsExitCode2WithOneLineError() {
        Run r = Run.of(new AbortCommand(), "/no/such/mount");
        assertThat(r.exit).isEqualTo(2);
        assertThat(r.out).isEmpty();
        assertThat(r.err).isEqualTo("fuseguard: /no/such/mount is not a FUSE mount point (see 'fuseguard connections')"
                + System.lineSeparator());
    }

    @Test
    void nonFuseMountPointIsRejected() {
        Run r = Run.of(new AbortCommand(), "/");
        assertThat(r.exit).isEqualTo(2);
        assertThat(r.err).contains("fuseguard: / is not a FUSE mount point");
        Run proc = Run.of(new AbortCommand(), "/proc");
        assertThat(proc.exit).isEqualTo(2);
    }

    @Test
    void unknownConnectionIdIsExitCode2() {
        FuseTestSupport.assumeFuseUsable(); // needs fusectl to tell that the id does not exist
        long bogus = 987_654_321L;
        assertThat(new FuseControl().exists(bogus)).isFalse();
        Run r = Run.of(new AbortCommand(), Long.toString(bogus));
        assertThat(r.exit).isEqualTo(2);
        assertThat(r.err.trim()).isEqualTo("fuseguard: no FUSE connection " + bogus + " (see 'fuseguard connections')");
    }

    @Test
    void missingOrExtraArgumentsAreUsageErrors() {
        Run none = Run.of(new AbortCommand());
        assertThat(none.exit).isEqualTo(2);
        assertThat(none.err).contains("Missing required parameter: 'MOUNTPOINT|ID'");
        Run two = Run.of(new AbortCommand(), "/a", "/b");
        assertThat(two.exit).isEqualTo(2);
        Run empty = Run.of(new AbortCommand(), "");
        assertThat(empty.exit).isEqualTo(2);
        assertThat(empty.err).contains("is not a FUSE mount point");
    }
}
