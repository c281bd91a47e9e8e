package io.fuseguard.guard;

import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.api.RequestContext;
import io.fuseguard.config.FuseguardConfig;
import jnr.constants.platform.Errno;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The watchdog's logic without a kernel: deadlines, interrupts, overload, late results, error mapping. */
class RequestGuardTest {
    private final List<GuardEvent> events = new CopyOnWriteArrayList<>();
    private final AtomicBoolean interrupted = new AtomicBoolean();
    private final RequestSource source = new RequestSource() {
        @Override
        public Caller caller() {
            return new Caller(4242, 1000, 1000);
        }

        @Override
        public boolean interrupted() {
            return interrupted.get();
        }
    };
    private RequestGuard guard;

    private RequestGuard guard(FuseguardConfig.Builder b) {
        guard = new RequestGuard(b.listener(events::add).build(), source);
        return guard;
    }

    @AfterEach
    void close() {
        if (guard != null) {
            guard.close();
        }
    }

    @Test
    void returnsTheHandlersResultAndContext() {
        RequestGuard g = guard(FuseguardConfig.builder());
        AtomicInteger pid = new AtomicInteger();
        int r = g.run(Operation.READ, "/f", false, () -> {
            pid.set(RequestContext.current().orElseThrow().pid());
            return 17;
        }, null);
        assertThat(r).isEqualTo(17);
        assertThat(pid.get()).isEqualTo(4242);
        assertThat(events).isEmpty();
    }

    @Test
    void mapsErrnoExceptionsAndBugs() {
        RequestGuard g = guard(FuseguardConfig.builder());
        assertThat(g.run(Operation.GETATTR, "/x", false, () -> {
            throw new ErrnoException(Errno.ENOENT);
        }, null)).isEqualTo(-Errno.ENOENT.intValue());
        assertThat(g.run(Operation.GETATTR, "/x", true, () -> {
            throw new ErrnoException(Errno.EACCES);
        }, null)).isEqualTo(-Errno.EACCES.intValue());
        assertThat(g.run(Operation.GETATTR, "/bug", false, () -> {
            throw new IllegalStateException("bug");
        }, null)).isEqualTo(-Errno.EIO.intValue());
        await().atMost(Duration.ofSeconds(2)).until(() -> events.size() == 1);
        assertThat(events).extracting(GuardEvent::type).containsExactly(GuardEvent.Type.HANDLER_FAILED);
    }

    @Test
    void answersTheTimeoutErrnoAtTheDeadlineAndInterruptsTheHandler() throws Exception {
        RequestGuard g = guard(FuseguardConfig.builder().deadline(OperationKind.DATA, Duration.ofMillis(200))
                .timeoutErrno(Errno.ETIMEDOUT));
        CountDownLatch handlerInterrupted = new CountDownLatch(1);
        long t0 = System.nanoTime();
        int r = g.run(Operation.READ, "/slow", false, () -> {
            try {
                new CountDownLatch(1).await();
            } catch (InterruptedException e) {
                handlerInterrupted.countDown();
                throw e;
            }
            return 0;
        }, null);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(r).isEqualTo(-Errno.ETIMEDOUT.intValue());
        assertThat(ms).isBetween(190L, 2_000L);
        assertThat(handlerInterrupted.await(2, TimeUnit.SECONDS)).isTrue();
        await().atMost(Duration.ofSeconds(2)).until(() -> !events.isEmpty());
        GuardEvent e = events.get(0);
        assertThat(e.type()).isEqualTo(GuardEvent.Type.TIMEOUT);
        assertThat(e.path()).isEqualTo("/slow");
        assertThat(e.callerPid()).isEqualTo(4242);
        assertThat(e.handlerStack()).anySatisfy(f -> assertThat(f.getMethodName()).isEqualTo("await"));
        System.out.printf("timeout answered after %d ms (deadline 200 ms)%n", ms);
    }

    @Test
    void discardsAndReportsALateResult() {
        RequestGuard g = guard(FuseguardConfig.builder().deadline(OperationKind.FLUSH, Duration.ofMillis(100)));
        AtomicInteger late = new AtomicInteger(1);
        int r = g.run(Operation.FLUSH, "/f", false, () -> {
            long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(400);
            while (System.nanoTime() < end) {
                Thread.onSpinWait(); // ignores the interrupt on purpose
            }
            throw new ErrnoException(Errno.EREMOTEIO);
        }, late::set);
        assertThat(r).isEqualTo(-Errno.EIO.intValue());
        await().atMost(Duration.ofSeconds(3)).until(() -> late.get() == -Errno.EREMOTEIO.intValue()
                && events.size() == 2);
        assertThat(events).extracting(GuardEvent::type)
                .containsExactly(GuardEvent.Type.TIMEOUT, GuardEvent.Type.LATE_RESULT);
    }

    @Test
    void answersEintrWhenTheKernelInterruptsTheRequest() {
        RequestGuard g = guard(FuseguardConfig.builder().interruptPollInterval(Duration.ofMillis(5)));
        Thread t = new Thread(() -> {
            sleep(150);
            interrupted.set(true);
        });
        t.start();
        long t0 = System.nanoTime();
        int r = g.run(Operation.READ, "/slow", false, () -> {
            new CountDownLatch(1).await();
            return 0;
        }, null);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(r).isEqualTo(-Errno.EINTR.intValue());
        assertThat(ms).isLessThan(5_000); // far below the 30 s data deadline
        await().atMost(Duration.ofSeconds(2)).until(() -> !events.isEmpty());
        assertThat(events).extracting(GuardEvent::type).containsExactly(GuardEvent.Type.INTERRUPTED);
    }

    @Test
    void refusesAtOnceWhenEveryWorkerIsStuck() throws Exception {
        RequestGuard g = guard(FuseguardConfig.builder().workerThreads(1).queueCapacity(0)
                .deadline(OperationKind.DATA, Duration.ofSeconds(3)).overloadErrno(Errno.EAGAIN));
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread blocker = new Thread(() -> g.run(Operation.READ, "/stuck", false, () -> {
            started.countDown();
            release.await();
            return 0;
        }, null));
        blocker.start();
        assertThat(started.await(2, TimeUnit.SECONDS)).isTrue();
        long t0 = System.nanoTime();
        int r = g.run(Operation.READ, "/other", false, () -> 1, null);
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        assertThat(r).isEqualTo(-Errno.EAGAIN.intValue());
        assertThat(ms).isLessThan(1_000);
        release.countDown();
        blocker.join();
        await().atMost(Duration.ofSeconds(2)).until(() -> !events.isEmpty());
        assertThat(events).extracting(GuardEvent::type).contains(GuardEvent.Type.OVERLOADED);
    }

    @Test
    void shutdownAnswersInFlightRequests() throws Exception {
        RequestGuard g = guard(FuseguardConfig.builder());
        AtomicInteger result = new AtomicInteger(1);
        CountDownLatch started = new CountDownLatch(1);
        Thread t = new Thread(() -> result.set(g.run(Operation.READ, "/x", false, () -> {
            started.countDown();
            new CountDownLatch(1).await();
            return 0;
        }, null)));
        t.start();
        assertThat(started.await(2, TimeUnit.SECONDS)).isTrue();
        g.beginShutdown();
        t.join(2_000);
        assertThat(result.get()).isEqualTo(-Errno.ENOTCONN.intValue());
        assertThat(g.run(Operation.GETATTR, "/", false, () -> 0, null)).isEqualTo(-Errno.ENOTCONN.intValue());
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
