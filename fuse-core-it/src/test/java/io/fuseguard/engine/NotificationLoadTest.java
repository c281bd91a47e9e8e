package io.fuseguard.engine;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.KernelNotifier;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.DelegatingFs;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Notifications fired while requests for the same nodes are in flight: libfuse's classic deadlock, where a
 * READ's handler invalidates the very pages the kernel holds locked for that READ, or a LOOKUP's handler
 * invalidates the entry of the directory the kernel holds locked for it. Here every READ and LOOKUP handler does
 * exactly that (without waiting), a thread of the daemon fires invalidations, stores and retrieves of the same
 * files, and reader processes check every byte for seconds. Nothing may deadlock (no request answered by the
 * watchdog at its deadline), no answer may be lost, every notification completes, and a handler's call to the
 * notifier never blocks.
 */
class NotificationLoadTest {
    private static final double SECONDS = Double.parseDouble(System.getProperty("fuseguard.notify.soak.seconds",
            "6"));
    private static final int FILES = 6;
    private static final int SIZE = 192 * 1024;
    private static final int READERS = 4;

    @TempDir
    Path mp;

    private volatile KernelNotifier notifier;
    private final ConcurrentLinkedQueue<CompletableFuture<?>> fired = new ConcurrentLinkedQueue<>();
    private final AtomicLong handlerCalls = new AtomicLong();
    private final AtomicLong slowestHandlerCallNanos = new AtomicLong();

    /** Content of file {@code i}: the same bytes the readers compute. */
    static byte[] content(int i) {
        byte[] b = new byte[SIZE];
        for (int k = 0; k < SIZE; k++) {
            b[k] = (byte) ('a' + (k * 7 + i * 13) % 26);
        }
        return b;
    }

    /** MemoryFs whose READ and LOOKUP handlers notify about what they are serving, with reads a little slow. */
    private final class NotifyingFs extends DelegatingFs {
        NotifyingFs(MemoryFs fs) {
            super(fs);
        }

        private void fire(CompletableFuture<?> f, long t0) {
            long took = System.nanoTime() - t0;
            slowestHandlerCallNanos.accumulateAndGet(took, Math::max);
            handlerCalls.incrementAndGet();
            fired.add(f);
        }

        @Override
        public int read(String path, long fh, ByteBuffer dst, long offset) throws IOException {
            KernelNotifier n = notifier;
            if (n != null) {
                long t0 = System.nanoTime();
                // the pages this READ fills are locked by the kernel until it is answered
                fire(n.invalidateInode(path, offset, dst.remaining()), t0);
            }
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return super.read(path, fh, dst, offset);
        }

        @Override
        public FileAttributes getattr(String path) throws IOException {
            KernelNotifier n = notifier;
            int slash = path.lastIndexOf('/');
            if (n != null && slash >= 0 && path.length() > 1) {
                long t0 = System.nanoTime();
                // a LOOKUP holds its directory locked in the kernel until it is answered
                fire(n.invalidateEntry(slash == 0 ? "/" : path.substring(0, slash), path.substring(slash + 1)), t0);
            }
            return super.getattr(path);
        }
    }

    private static final String READER = """
            import os, random, sys, time
            mp, files, size, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
            want = [bytes((ord('a') + (k * 7 + i * 13) % 26) for k in range(size)) for i in range(files)]
            end = time.time() + seconds
            n = 0
            while time.time() < end:
                i = random.randrange(files)
                p = os.path.join(mp, "d", "f%d" % i)
                with open(p, "rb") as f:
                    got = f.read()
                if got != want[i]:
                    print("mismatch in f%d: %d bytes" % (i, len(got)))
                    sys.exit(1)
                if os.stat(p).st_size != size:
                    print("bad size of f%d" % i)
                    sys.exit(1)
                n += 1
            print("ok", n)
            """;

    @Test
    void notificationsForNodesWithRequestsInFlightNeitherDeadlockNorLoseAnswers() throws Exception {
        FuseAvailability.assumeUsable();
        MemoryFs memory = new MemoryFs();
        memory.mkdir("/d", 0755);
        for (int i = 0; i < FILES; i++) {
            long fh = memory.create("/d/f" + i, 0644, OpenFlags.of(2));
            memory.write("/d/f" + i, fh, ByteBuffer.wrap(content(i)), 0);
            memory.release("/d/f" + i, fh, OpenFlags.of(2));
        }
        try (FuseMount m = FuseMount.mount(new NotifyingFs(memory), mp, FuseguardConfig.builder()
                .shutdownHook(false).selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING)
                .deadline(OperationKind.METADATA, Duration.ofSeconds(10))
                .deadline(OperationKind.DATA, Duration.ofSeconds(10))
                .mountOption("attr_timeout=60").mountOption("entry_timeout=60").mountOption("kernel_cache")
                .build())) {
            notifier = m.notifier();
            AtomicBoolean stop = new AtomicBoolean();
            AtomicLong fromThread = new AtomicLong();
            Thread daemonThread = new Thread(() -> {
                ThreadLocalRandom rnd = ThreadLocalRandom.current();
                while (!stop.get()) {
                    int i = rnd.nextInt(FILES);
                    String p = "/d/f" + i;
                    CompletableFuture<?> f = switch (rnd.nextInt(5)) {
                        case 0 -> notifier.invalidateInode(p);
                        case 1 -> notifier.invalidateEntry("/d", "f" + i);
                        case 2 -> notifier.store(p, 0, ByteBuffer.wrap(content(i)));
                        case 3 -> notifier.retrieve(p, rnd.nextInt(SIZE), 8192);
                        default -> notifier.invalidateInode(p, rnd.nextInt(SIZE), 4096);
                    };
                    fired.add(f);
                    fromThread.incrementAndGet();
                    try {
                        f.get(10, TimeUnit.SECONDS); // a thread of the daemon's own may wait
                    } catch (Exception e) {
                        throw new AssertionError("notification failed or hung: " + e, e);
                    }
                }
            }, "test-notifier");
            List<Process> readers = new ArrayList<>();
            for (int r = 0; r < READERS; r++) {
                readers.add(Child.start("python3", "-c", READER, mp.toString(), String.valueOf(FILES),
                        String.valueOf(SIZE), String.valueOf(SECONDS)));
            }
            daemonThread.start();
            long reads = 0;
            try {
                for (Process p : readers) {
                    assertThat(p.waitFor((long) (SECONDS + 30), TimeUnit.SECONDS)).as("a reader finished").isTrue();
                    String out = new String(p.getInputStream().readAllBytes()).trim();
                    String err = new String(p.getErrorStream().readAllBytes()).trim();
                    assertThat(p.exitValue()).as(out + " " + err).isZero();
                    assertThat(out).startsWith("ok ");
                    reads += Long.parseLong(out.substring(3));
                }
            } finally {
                stop.set(true);
                readers.forEach(Edges::kill);
                daemonThread.join(15_000);
            }
            assertThat(daemonThread.isAlive()).as("the daemon's notifying thread ended").isFalse();
            // every notification completed: with true or false (the kernel had forgotten the node), never hung
            long t0 = System.nanoTime();
            for (CompletableFuture<?> f : fired) {
                f.get(Math.max(1, 10_000 - (System.nanoTime() - t0) / 1_000_000), TimeUnit.MILLISECONDS);
            }
            assertThat(m.metrics().events(GuardEvent.Type.TIMEOUT)).as("requests answered at their deadline")
                    .isZero();
            assertThat(m.inFlight()).isZero();
            assertThat(Edges.descendantsInDState()).isEmpty();
            assertThat(handlerCalls.get()).as("notifications from handlers").isGreaterThan(100);
            assertThat(fromThread.get()).as("notifications from a daemon thread").isGreaterThan(100);
            assertThat(TimeUnit.NANOSECONDS.toMillis(slowestHandlerCallNanos.get()))
                    .as("slowest notifier call in a handler, ms").isLessThan(500);
            System.out.printf("notification soak: %d reads by %d processes in %.0f s, %d notifications from "
                            + "handlers (slowest call %d us), %d from a daemon thread, 0 timeouts%n", reads, READERS,
                    SECONDS, handlerCalls.get(), slowestHandlerCallNanos.get() / 1000, fromThread.get());
        }
    }
}
