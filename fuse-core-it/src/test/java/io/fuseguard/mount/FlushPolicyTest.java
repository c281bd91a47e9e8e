package io.fuseguard.mount;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The three flush policies, observed through the kernel. */
class FlushPolicyTest {
    @TempDir
    Path mp;

    @BeforeEach
    void needsFuse() {
        FuseAvailability.assumeUsable();
    }

    /** Counts flush calls; the one on /late-fail sleeps past its deadline, then fails. */
    static final class FlushCountingFs extends SmallFs {
        final AtomicInteger flushes = new AtomicInteger();

        FlushCountingFs() {
            withFile("/f", "x".getBytes());
            withFile("/late-fail", "x".getBytes());
        }

        @Override
        public void flush(String path, long fh) {
            flushes.incrementAndGet();
            if (path.equals("/late-fail")) {
                long end = System.nanoTime() + Duration.ofMillis(800).toNanos();
                while (System.nanoTime() < end) {
                    Thread.onSpinWait(); // a flush keeps going after its deadline: nobody interrupts it
                }
                throw new ErrnoException(Errno.EREMOTEIO, "upload failed");
            }
        }
    }

    @Test
    void byDefaultTheKernelNeverSendsFlushAndTheFrameworkFlushesEachReleasedFile() throws Exception {
        FlushCountingFs fs = new FlushCountingFs();
        try (FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().shutdownHook(false).build())) {
            assertThat(m.flushRequestsReceived()).as("the probe's FLUSH, answered ENOSYS").isEqualTo(1);
            for (int i = 0; i < 20; i++) {
                assertThat(Child.run(Duration.ofSeconds(5), "sh", "-c",
                        "cat " + mp.resolve("f") + " > /dev/null; echo y >> " + mp.resolve("f")).exit()).isZero();
            }
            assertThat(m.flushRequestsReceived()).as("40 close() calls later").isEqualTo(1);
            // The kernel waited for none of them, and the filesystem's own close-time work still ran, once per
            // released file handle.
            await().atMost(Duration.ofSeconds(5)).until(() -> fs.flushes.get() == 40);
        }
    }

    @Test
    void noFlushPolicyNeverCallsFlush() throws Exception {
        FlushCountingFs fs = new FlushCountingFs();
        try (FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().flushPolicy(FlushPolicy.NO_FLUSH)
                .shutdownHook(false).build())) {
            for (int i = 0; i < 5; i++) {
                assertThat(Child.run(Duration.ofSeconds(5), "sh", "-c", "echo y >> " + mp.resolve("f")).exit())
                        .isZero();
            }
            Thread.sleep(300);
            assertThat(m.flushRequestsReceived()).isEqualTo(1);
            assertThat(fs.flushes.get()).isZero();
        }
    }

    @Test
    void boundedFlushAnswersAtTheDeadlineAndReportsTheOutcomeAtTheNextFsync() throws Exception {
        FlushCountingFs fs = new FlushCountingFs();
        FuseguardConfig c = FuseguardConfig.builder().flushPolicy(FlushPolicy.BOUNDED)
                .deadline(OperationKind.FLUSH, Duration.ofMillis(200))
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false).build();
        try (FuseMount m = FuseMount.mount(fs, mp, c)) {
            Child.Result close = Child.run(Duration.ofSeconds(10), "dd", "if=/dev/zero",
                    "of=" + mp.resolve("late-fail"), "bs=1", "count=1", "conv=notrunc");
            System.out.printf("close() with an 800 ms flush under a 200 ms deadline returned after %d ms%n",
                    close.millis());
            assertThat(close.exit()).isNotZero();
            assertThat(close.err()).contains("Input/output error");
            assertThat(m.flushRequestsReceived()).isGreaterThan(1);
            Thread.sleep(1000); // the background flush finishes and fails meanwhile
            Child.Result fsync = Child.run(Duration.ofSeconds(10), "dd", "if=/dev/null",
                    "of=" + mp.resolve("late-fail"), "conv=notrunc,fsync");
            assertThat(fsync.exit()).as("fsync reports what the late flush could not").isNotZero();
            assertThat(fsync.err()).contains("Remote I/O error");
        }
    }
}
