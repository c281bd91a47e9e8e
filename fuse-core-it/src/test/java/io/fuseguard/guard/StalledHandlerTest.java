package io.fuseguard.guard;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.StallingFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Handlers that block forever, driven through the real kernel by child processes: each caller gets an error
 * within the deadline (1 s here) instead of hanging, and the stall is reported with the handler's stack.
 */
class StalledHandlerTest {
    private static final Duration DEADLINE = Duration.ofSeconds(1);
    /** Process start-up and scheduling on a loaded 2-core CI machine; the figure printed is the real one. */
    private static final long MARGIN_MS = 2_000;
    /**
     * Some clients send two requests that each meet the stalled handler: cat's read goes out as a readahead
     * READ and, when that fails, a second plain READ; dd closes its output twice (the descriptor it opened and
     * the one it dup2()ed to stdout), so two FLUSHes. Each is answered at the deadline.
     */
    private static final int TWO_REQUESTS = 2;

    private final List<GuardEvent> events = new CopyOnWriteArrayList<>();

    @RegisterExtension
    final FuseMountExtension fuse = StallingFs.mount(DEADLINE, events::add);

    @AfterEach
    void release() {
        ((StallingFs) fuse.fileSystem()).release();
    }

    private String path(String name) {
        return fuse.mountPoint().resolve(name).toString();
    }

    @Test
    void stalledReadAnswersEioWithinTheDeadline() throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(20), "cat", path("stall-read"));
        System.out.printf("cat of a stalled read returned after %d ms (deadline %d ms)%n", r.millis(),
                DEADLINE.toMillis());
        assertThat(r.timedOut()).isFalse();
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("Input/output error");
        assertThat(r.millis()).isLessThan(TWO_REQUESTS * DEADLINE.toMillis() + MARGIN_MS);
        await().atMost(Duration.ofSeconds(2)).until(() -> !events.isEmpty());
        GuardEvent e = events.get(0);
        assertThat(e.type()).isEqualTo(GuardEvent.Type.TIMEOUT);
        assertThat(e.path()).isEqualTo("/stall-read");
        assertThat(e.callerPid()).isPositive();
        assertThat(e.handlerStack()).anySatisfy(f -> assertThat(f.getClassName()).endsWith("StallingFs"));
    }

    @Test
    void stalledGetattrAnswersWithinTheDeadline() throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(20), "stat", path("stall-getattr"));
        System.out.printf("stat of a stalled getattr returned after %d ms%n", r.millis());
        assertThat(r.timedOut()).isFalse();
        assertThat(r.exit()).isNotZero();
        assertThat(r.millis()).isLessThan(DEADLINE.toMillis() + MARGIN_MS);
    }

    @Test
    void stalledFlushFailsTheCloseWithinTheDeadline() throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(20), "dd", "if=/dev/zero", "of=" + path("stall-flush"),
                "bs=1", "count=1", "conv=notrunc");
        System.out.printf("close() with a stalled flush returned after %d ms: %s%n", r.millis(), r.err().trim());
        assertThat(r.timedOut()).isFalse();
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("closing output file").contains("Input/output error");
        assertThat(r.millis()).isLessThan(TWO_REQUESTS * DEADLINE.toMillis() + MARGIN_MS);
    }

    @Test
    void theMountKeepsServingOtherPathsDuringAStall() throws Exception {
        Process stalled = Child.start("cat", path("stall-read"));
        try {
            assertThat(((StallingFs) fuse.fileSystem()).stalled().await(5, java.util.concurrent.TimeUnit.SECONDS))
                    .isTrue();
            Child.Result ok = Child.run(Duration.ofSeconds(5), "cat", path("ok"));
            assertThat(ok.out()).isEqualTo("fine\n");
            assertThat(stalled.isAlive()).as("the stalled reader is still waiting meanwhile").isTrue();
        } finally {
            Child.kill9(stalled);
            stalled.waitFor();
        }
    }
}
