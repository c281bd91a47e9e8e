package io.fuseguard.engine;

import io.fuseguard.api.GuardEvent;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.KernelNotifier;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.DelegatingFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Kernel notifications on a real mount whose caches last 60 s: the filesystem changes a file or a name behind
 * the kernel's back, a reader still sees the cached state, and right after the notification it sees the change.
 * Also: a path the kernel holds nothing of is a no-op; waiting for a notification inside a handler is refused.
 */
class NotificationTest {
    @TempDir
    Path mp;

    private MemoryFs memory;
    private FuseMount mount;
    private KernelNotifier notifier;
    private final AtomicReference<Throwable> waitedInHandler = new AtomicReference<>();

    /** MemoryFs whose read of /waits asks for a notification and waits for it, which must be refused. */
    private final class WaitingFs extends DelegatingFs {
        WaitingFs(MemoryFs fs) {
            super(fs);
        }

        @Override
        public int read(String path, long fh, ByteBuffer dst, long offset) throws IOException {
            if (path.equals("/waits")) {
                try {
                    notifier.invalidateInode(path).join();
                } catch (Throwable t) {
                    waitedInHandler.set(t);
                }
            }
            return super.read(path, fh, dst, offset);
        }
    }

    @BeforeEach
    void mount() {
        FuseAvailability.assumeUsable();
        memory = new MemoryFs();
        mount = FuseMount.mount(new WaitingFs(memory), mp, FuseguardConfig.builder().shutdownHook(false)
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING)
                .mountOption("attr_timeout=60").mountOption("entry_timeout=60").mountOption("negative_timeout=60")
                .mountOption("kernel_cache").build());
        notifier = mount.notifier();
    }

    @AfterEach
    void unmount() {
        if (mount != null) {
            mount.close();
        }
    }

    /** Writes {@code content} to {@code path} in the filesystem itself, not through the kernel. */
    private void writeBehind(String path, String content) throws IOException {
        long fh;
        try {
            memory.getattr(path);
            fh = memory.open(path, OpenFlags.of(2));
            memory.truncate(path, 0);
        } catch (io.fuseguard.api.ErrnoException e) {
            fh = memory.create(path, 0644, OpenFlags.of(2));
        }
        memory.write(path, fh, ByteBuffer.wrap(content.getBytes(StandardCharsets.UTF_8)), 0);
        memory.release(path, fh, OpenFlags.of(2));
    }

    private String cat(String name) throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(10), "cat", mp.resolve(name).toString());
        return r.exit() == 0 ? r.out() : "error: " + r.err().trim();
    }

    private String stat(String name) throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(10), "stat", "-c", "%s", mp.resolve(name).toString());
        return r.exit() == 0 ? r.out().trim() : "ENOENT";
    }

    @Test
    void aReaderSeesChangedDataRightAfterInvalidateInode() throws Exception {
        writeBehind("/f", "old!");
        assertThat(cat("f")).isEqualTo("old!");

        // same size: a read past the end makes the kernel check the size, but not the data
        writeBehind("/f", "new!");
        assertThat(cat("f")).as("cached for 60 s").isEqualTo("old!");

        assertThat(notifier.invalidateInode("/f").get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(cat("f")).isEqualTo("new!");
    }

    @Test
    void aStatSeesChangedAttributesRightAfterInvalidateAttributes() throws Exception {
        writeBehind("/g", "0123456789");
        assertThat(stat("g")).isEqualTo("10");
        writeBehind("/g", "0123456789abcdef");
        assertThat(stat("g")).as("cached for 60 s").isEqualTo("10");
        assertThat(notifier.invalidateAttributes("/g").get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(stat("g")).isEqualTo("16");
    }

    @Test
    void storePutsDataInThePageCacheAndRetrieveReadsItBack() throws Exception {
        writeBehind("/s", "0123456789abcdef");
        assertThat(cat("s")).isEqualTo("0123456789abcdef");
        // the filesystem's content changes and the daemon pushes it: a store that reaches the end of the file
        // makes its pages whole, so readers get them without a READ
        writeBehind("/s", "ABCDEFGHIJKLMNOPQRST");
        long reads = mount.metrics().requests(io.fuseguard.api.Operation.READ);
        assertThat(notifier.store("/s", 0, ByteBuffer.wrap("ABCDEFGHIJKLMNOPQRST".getBytes(StandardCharsets.UTF_8)))
                .get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(stat("s")).as("the size grew with the store").isEqualTo("20");
        assertThat(cat("s")).isEqualTo("ABCDEFGHIJKLMNOPQRST");
        assertThat(mount.metrics().requests(io.fuseguard.api.Operation.READ)).isEqualTo(reads);
        ByteBuffer cached = notifier.retrieve("/s", 2, 6).get(5, TimeUnit.SECONDS);
        byte[] b = new byte[cached.remaining()];
        cached.get(b);
        assertThat(new String(b, StandardCharsets.UTF_8)).isEqualTo("CDEFGH");
    }

    @Test
    void aLookupSeesChangedNamesRightAfterInvalidateEntry() throws Exception {
        writeBehind("/a", "A");
        assertThat(stat("a")).isEqualTo("1");
        assertThat(stat("b")).isEqualTo("ENOENT"); // a negative entry, cached for 60 s too

        memory.rename("/a", "/b");
        assertThat(stat("a")).as("cached for 60 s").isEqualTo("1");
        assertThat(stat("b")).as("cached for 60 s").isEqualTo("ENOENT");

        assertThat(notifier.invalidateEntry("/", "a").get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(notifier.invalidateEntry("/", "b").get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(stat("a")).isEqualTo("ENOENT");
        assertThat(stat("b")).isEqualTo("1");
    }

    @Test
    void deleteExpireAndNewEpoch() throws Exception {
        for (String n : new String[] {"c", "d", "e"}) {
            writeBehind("/" + n, n);
            assertThat(stat(n)).isEqualTo("1");
            memory.unlink("/" + n);
            assertThat(stat(n)).as("cached for 60 s").isEqualTo("1");
        }
        assertThat(notifier.deleteEntry("/", "c").get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(stat("c")).isEqualTo("ENOENT");
        assertThat(notifier.expireEntry("/", "d").get(5, TimeUnit.SECONDS)).isTrue();
        assertThat(stat("d")).isEqualTo("ENOENT");
        if (mount.protocol().minor() >= 44) {
            assertThat(notifier.incrementEpoch().get(5, TimeUnit.SECONDS)).isTrue();
            assertThat(stat("e")).isEqualTo("ENOENT");
        }
    }

    @Test
    void aPathTheKernelHoldsNothingOfIsANoOp() throws Exception {
        writeBehind("/never-looked-up", "x");
        assertThat(notifier.invalidateInode("/never-looked-up").get(5, TimeUnit.SECONDS)).isFalse();
        assertThat(notifier.invalidateEntry("/no/such/dir", "x").get(5, TimeUnit.SECONDS)).isFalse();
        assertThat(notifier.retrieve("/never-looked-up", 0, 10).get(5, TimeUnit.SECONDS).remaining()).isZero();
    }

    @Test
    void waitingForANotificationInsideAHandlerIsRefused() throws Exception {
        writeBehind("/waits", "w");
        assertThat(cat("waits")).isEqualTo("w");
        assertThat(waitedInHandler.get()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("inside a filesystem handler");
        assertThat(mount.metrics().events(GuardEvent.Type.TIMEOUT)).isZero();
    }

    @Test
    void afterTheMountClosedNotificationsFail() throws Exception {
        mount.close();
        assertThat(notifier.invalidateInode("/").isCompletedExceptionally()).isTrue();
        mount = null;
    }
}
