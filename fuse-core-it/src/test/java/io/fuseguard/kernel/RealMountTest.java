package io.fuseguard.kernel;

import io.fuseguard.testkit.FuseTestSupport;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import io.fuseguard.testkit.FuseTestSupport.TestMount;

/** Against a real jnr-fuse mount: inspection finds it, a wedge is detected and aborted. */
class RealMountTest {

    @BeforeAll
    static void requireFuse() {
        FuseTestSupport.assumeFuseUsable();
    }

    @Test
    void findsTheMountAndItsConnection() throws Exception {
        try (TestMount m = TestMount.mount("kernel-find")) {
            MountTable table = MountTable.load();
            Optional<MountEntry> entry = table.findByMountPoint(m.mountPoint);
            assertThat(entry).hasValueSatisfying(e -> {
                assertThat(e.isFuse()).isTrue();
                assertThat(e.source()).startsWith("fuseguard:" + ProcessHandle.current().pid() + ":");
            });
            assertThat(table.fuseMounts()).contains(entry.get());
            long id = entry.get().connectionId();
            assertThat(table.findByConnection(id)).isEqualTo(entry);

            FuseControl control = new FuseControl();
            assertThat(FuseControl.isMounted()).isTrue();
            assertThat(control.connectionIds()).contains(id);
            assertThat(control.exists(id)).isTrue();
            assertThat(control.waiting(id)).hasValue(0);

            assertThat(DaemonLocator.daemonPid(entry.get())).hasValue((int) ProcessHandle.current().pid());
            assertThat(DaemonLocator.devFuseHolders()).contains((int) ProcessHandle.current().pid());

            List<ConnectionReport.Connection> report = ConnectionReport.scan();
            assertThat(report).anySatisfy(c -> {
                assertThat(c.id()).isEqualTo(id);
                assertThat(c.mount()).isEqualTo(entry);
                assertThat(c.waiting()).hasValue(0);
                assertThat(c.daemonPid()).hasValue((int) ProcessHandle.current().pid());
            });

            int me = (int) ProcessHandle.current().pid();
            assertThat(Tasks.isAlive(me)).isTrue();
            assertThat(Tasks.state(me)).isPresent();
            assertThat(Tasks.threads(me)).hasSizeGreaterThan(1)
                    .allSatisfy(t -> assertThat(t.pid()).isEqualTo(me));
            assertThat(Tasks.tasksWaitingInFuse()).noneMatch(t -> t.pid() == me);
        }
    }

    @Test
    void detectsAndAbortsAWedgedRequest() throws Exception {
        Process child = null;
        try (TestMount m = TestMount.mount("kernel-wedge")) {
            long id = m.connectionId();
            child = m.startStalledStat();
            int statPid = m.awaitStalled(child);
            TaskInfo stuck = Tasks.tasksWaitingInFuse().stream().filter(t -> t.pid() == statPid)
                    .findFirst().orElseThrow();
            assertThat(stuck.comm()).isEqualTo("stat");
            assertThat(stuck.topFunction()).isPresent();
            assertThat(Tasks.threads(statPid)).extracting(TaskInfo::tid).contains(statPid);

            AbortResult result = Aborter.abort(id);
            assertThat(result.connectionId()).isEqualTo(id);
            assertThat(result.waitingBefore().orElse(0)).isGreaterThanOrEqualTo(1);
            assertThat(result.released()).extracting(TaskInfo::pid).contains(statPid);
            assertThat(result.stillWaiting()).extracting(TaskInfo::pid).doesNotContain(statPid);
            assertThat(result.elapsed()).isLessThan(Duration.ofSeconds(5));

            assertThat(child.waitFor(10, TimeUnit.SECONDS)).as("stat finished after the abort").isTrue();
            assertThat(child.exitValue()).as("stat failed (ECONNABORTED), timeout did not fire")
                    .isNotZero().isNotEqualTo(124);
            assertThat(Tasks.isAlive(statPid)).isFalse();
        } finally {
            FuseTestSupport.destroy(child);
        }
    }

    @Test
    void abortingAnUnknownConnectionFailsClearly() {
        FuseControl control = new FuseControl();
        long bogus = 987_654_321L;
        assertThat(control.exists(bogus)).isFalse();
        assertThat(control.waiting(bogus)).isEmpty();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Aborter.abort(bogus))
                .isInstanceOf(java.nio.file.NoSuchFileException.class)
                .hasMessageContaining("FUSE connection " + bogus);
    }
}
