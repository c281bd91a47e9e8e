package io.fuseguard.guard;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.kernel.Tasks;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.StallingFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code kill -9} of a client whose request a stalled handler holds: the kernel sends INTERRUPT, the guard
 * answers EINTR, and the client dies at once, long before the (30 s) deadline, leaving nothing in D state.
 */
class InterruptTest {
    private static final Duration DEADLINE = Duration.ofSeconds(30);
    private final List<GuardEvent> events = new CopyOnWriteArrayList<>();

    @RegisterExtension
    final FuseMountExtension fuse = StallingFs.mount(DEADLINE, events::add);

    @AfterEach
    void release() {
        ((StallingFs) fuse.fileSystem()).release();
    }

    @ParameterizedTest
    @ValueSource(strings = {"stall-getattr", "stall-flush"})
    void killedClientIsReleasedAtOnceByTheInterrupt(String name) throws Exception {
        String file = fuse.mountPoint().resolve(name).toString();
        String[] cmd = name.equals("stall-getattr") ? new String[] {"stat", file}
                : new String[] {"dd", "if=/dev/zero", "of=" + file, "bs=1", "count=1", "conv=notrunc"};
        Process client = Child.start(cmd);
        try {
            int pid = (int) client.pid();
            assertThat(((StallingFs) fuse.fileSystem()).stalled().await(5, TimeUnit.SECONDS)).isTrue();
            await().atMost(Duration.ofSeconds(5)).until(() -> Tasks.threads(pid).stream()
                    .anyMatch(t -> t.isWaitingInFuse()));
            long ms = killAndMeasure(client, name);
            assertThat(ms).isLessThan(DEADLINE.toMillis() / 3);
            assertThat(Tasks.state(pid)).isEmpty();
            await().atMost(Duration.ofSeconds(2)).until(() -> !events.isEmpty());
            assertThat(events).extracting(GuardEvent::type).contains(GuardEvent.Type.INTERRUPTED);
        } finally {
            Child.kill9(client);
            client.waitFor(5, TimeUnit.SECONDS);
        }
    }

    /**
     * A READ that stalls is a readahead request the kernel sends in the background, while the reader waits on
     * the page lock, killably: it dies at once, and the request is left to the deadline.
     */
    @org.junit.jupiter.api.Test
    void killedReaderOfAStalledReadDiesAtOnce() throws Exception {
        Process client = Child.start("cat", fuse.mountPoint().resolve("stall-read").toString());
        try {
            int pid = (int) client.pid();
            assertThat(((StallingFs) fuse.fileSystem()).stalled().await(5, TimeUnit.SECONDS)).isTrue();
            await().atMost(Duration.ofSeconds(5)).until(() -> Tasks.state(pid).map(s -> s != 'R').orElse(false));
            long ms = killAndMeasure(client, "stall-read");
            assertThat(ms).isLessThan(DEADLINE.toMillis() / 3);
            assertThat(Tasks.state(pid)).isEmpty();
        } finally {
            Child.kill9(client);
            client.waitFor(5, TimeUnit.SECONDS);
        }
    }

    private static long killAndMeasure(Process client, String name) throws InterruptedException {
        Child.kill9(client);
        long ms = Child.awaitExit(client, Duration.ofSeconds(10));
        System.out.printf("kill -9 of a client blocked on %s: gone after %d ms (deadline %d ms)%n", name, ms,
                DEADLINE.toMillis());
        assertThat(ms).as("client exited").isNotNegative();
        return ms;
    }
}
