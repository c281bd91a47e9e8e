package io.fuseguard.mount;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.testfs.SmallFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The daemon's own threads are refused through the kernel, and served through inProcess(). */
class SelfAccessTest {
    @TempDir
    Path mp;

    @Test
    void ownThreadGetsEdeadlkWithAnExplanationOncePerPath() throws Exception {
        FuseAvailability.assumeUsable();
        Logger log = (Logger) LoggerFactory.getLogger("io.fuseguard.guard.SelfAccessGuard");
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        log.addAppender(appender);
        SmallFs fs = new SmallFs().withFile("/f", "content".getBytes(StandardCharsets.UTF_8));
        try (FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().shutdownHook(false).build())) {
            assertThatThrownBy(() -> Files.readString(mp.resolve("f")))
                    .isInstanceOf(IOException.class).hasMessageContaining("Resource deadlock avoided");
            assertThatThrownBy(() -> Files.readString(mp.resolve("f"))).isInstanceOf(IOException.class);
            assertThat(appender.list).hasSize(1);
            String message = appender.list.get(0).getFormattedMessage();
            assertThat(message).contains("EDEADLK").contains("/f").contains("FuseMount.inProcess()")
                    .contains("ALLOW_WITH_WARNING");

            // The documented way in: same handlers, same deadlines, no kernel.
            ByteBuffer b = ByteBuffer.allocate(64);
            int n = m.inProcess().read("/f", m.inProcess().open("/f", 0), b, 0);
            assertThat(new String(b.array(), 0, n, StandardCharsets.UTF_8)).isEqualTo("content");
            m.inProcess().mkdir("/dir", 0755);
            assertThat(m.inProcess().getattr("/dir").type()).isEqualTo(io.fuseguard.api.FileType.DIRECTORY);
            assertThatThrownBy(() -> m.inProcess().getattr("/missing"))
                    .isInstanceOf(io.fuseguard.api.ErrnoException.class).hasMessageContaining("ENOENT");
        } finally {
            log.detachAppender(appender);
        }
    }
}
