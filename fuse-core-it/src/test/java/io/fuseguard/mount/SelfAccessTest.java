package io.fuseguard.mount;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.fuseguard.api.FileType;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The daemon's own threads on its own mount: refused with a reason where FLUSH can still be sent (the bounded
 * policy), allowed by default (no FLUSH is ever sent, so holding its own files cannot wedge its exit), and
 * always served without the kernel through inProcess().
 */
class SelfAccessTest {
    @TempDir
    Path mp;

    private static ListAppender<ILoggingEvent> listen() {
        io.fuseguard.internal.log.Log.flush(2000); // lines of earlier tests are written asynchronously: not ours
        Logger log = (Logger) LoggerFactory.getLogger("io.fuseguard.internal.session.SelfAccess");
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        log.addAppender(appender);
        return appender;
    }

    private static void stop(ListAppender<ILoggingEvent> appender) {
        ((Logger) LoggerFactory.getLogger("io.fuseguard.internal.session.SelfAccess")).detachAppender(appender);
    }

    @Test
    void underTheBoundedPolicyOwnThreadGetsEdeadlkWithAnExplanationOncePerPath() throws Exception {
        FuseAvailability.assumeUsable();
        ListAppender<ILoggingEvent> appender = listen();
        SmallFs fs = new SmallFs().withFile("/f", "content".getBytes(StandardCharsets.UTF_8));
        try (FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().flushPolicy(FlushPolicy.BOUNDED)
                .shutdownHook(false).build())) {
            assertThatThrownBy(() -> Files.readString(mp.resolve("f")))
                    .isInstanceOf(IOException.class).hasMessageContaining("Resource deadlock avoided");
            assertThatThrownBy(() -> Files.readString(mp.resolve("f"))).isInstanceOf(IOException.class);
            await().atMost(Duration.ofSeconds(2)).until(() -> !appender.list.isEmpty());
            Thread.sleep(100);
            assertThat(appender.list).hasSize(1);
            String message = appender.list.get(0).getFormattedMessage();
            assertThat(message).contains("EDEADLK").contains("/f").contains("FuseMount.inProcess()")
                    .contains("DEFERRED");

            // The documented way in: same handlers, same deadlines, no kernel.
            ByteBuffer b = ByteBuffer.allocate(64);
            int n = m.inProcess().read("/f", m.inProcess().open("/f", OpenFlags.of(0)), b, 0);
            assertThat(new String(b.array(), 0, n, StandardCharsets.UTF_8)).isEqualTo("content");
            m.inProcess().mkdir("/dir", 0755);
            assertThat(m.inProcess().getattr("/dir").type()).isEqualTo(io.fuseguard.api.FileType.DIRECTORY);
            assertThatThrownBy(() -> m.inProcess().getattr("/missing"))
                    .isInstanceOf(io.fuseguard.api.ErrnoException.class).hasMessageContaining("ENOENT");
        } finally {
            stop(appender);
        }
    }

    @Test
    void byDefaultOwnThreadIsServedAndTheReasonIsLoggedOnce() throws Exception {
        FuseAvailability.assumeUsable();
        ListAppender<ILoggingEvent> appender = listen();
        SmallFs fs = new SmallFs().withFile("/f", "content".getBytes(StandardCharsets.UTF_8))
                .withFile("/g", "other".getBytes(StandardCharsets.UTF_8));
        try (FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().shutdownHook(false).build())) {
            assertThat(Files.readString(mp.resolve("f"))).isEqualTo("content");
            assertThat(Files.readString(mp.resolve("g"))).isEqualTo("other");
            await().atMost(Duration.ofSeconds(2)).until(() -> !appender.list.isEmpty());
            Thread.sleep(100);
            assertThat(appender.list).hasSize(1);
            assertThat(appender.list.get(0).getLevel().toString()).isEqualTo("INFO");
            assertThat(appender.list.get(0).getFormattedMessage()).contains("allowed").contains("never sends FLUSH");
        } finally {
            stop(appender);
        }
    }
}
