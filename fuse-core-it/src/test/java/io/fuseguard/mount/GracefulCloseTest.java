package io.fuseguard.mount;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.kernel.Tasks;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.StallingFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.FileInputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** close() never hangs: not with the daemon's own files open on the mount, not with requests in flight. */
class GracefulCloseTest {
    @TempDir
    Path mp;

    @Test
    void closeWithOwnFilesHeldAndARequestInFlight() throws Exception {
        FuseAvailability.assumeUsable();
        StallingFs fs = new StallingFs();
        FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder()
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false).build());
        Process client = null;
        try (FileInputStream held = new FileInputStream(mp.resolve("ok").toFile())) {
            client = Child.start("stat", mp.resolve("stall-getattr").toString());
            assertThat(fs.stalled().await(5, TimeUnit.SECONDS)).isTrue();
            long t0 = System.nanoTime();
            m.close();
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            System.out.printf("close() with an own file held and a stalled request in flight: %d ms%n", ms);
            assertThat(ms).isLessThan(5_000);
            assertThat(m.isMounted()).isFalse();
            assertThat(MountTable.load().findByMountPoint(mp)).isEmpty();
            assertThat(client.waitFor(5, TimeUnit.SECONDS)).as("the stalled client got its answer").isTrue();
            assertThat(client.exitValue()).isNotZero();
            assertThat(held.read()).as("reads on the aborted connection fail, never hang").isEqualTo(-1);
        } catch (java.io.IOException expected) {
            // ENOTCONN on read or close of the held file: what an aborted connection answers
            assertThat(expected.getMessage()).containsAnyOf("not connected", "aborted");
        } finally {
            fs.release();
            if (client != null) {
                client.destroyForcibly();
                int pid = (int) client.pid();
                client.waitFor(5, TimeUnit.SECONDS);
                assertThat(Tasks.state(pid)).isEmpty();
            }
            m.close();
        }
    }
}
