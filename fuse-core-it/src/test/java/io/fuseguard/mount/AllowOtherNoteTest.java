package io.fuseguard.mount;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A raw allow_other gets default_permissions too, and the mount says so instead of changing behaviour quietly;
 * no_default_permissions keeps plain libfuse's allow_other (the kernel's mount shows no default_permissions).
 */
class AllowOtherNoteTest {
    @TempDir
    Path mp;

    @Test
    void addingDefaultPermissionsIsAnnouncedAtMount() throws Exception {
        FuseAvailability.assumeUsable();
        Logger log = (Logger) LoggerFactory.getLogger(FuseMount.class);
        ListAppender<ILoggingEvent> appender = new ListAppender<>();
        appender.start();
        log.addAppender(appender);
        try (FuseMount m = FuseMount.mount(new SmallFs(), mp, FuseguardConfig.builder().shutdownHook(false)
                .mountOption("allow_other").build())) {
            await().atMost(Duration.ofSeconds(5)).until(() -> appender.list.stream()
                    .anyMatch(e -> e.getFormattedMessage().contains("default_permissions was added")));
        } finally {
            log.detachAppender(appender);
        }
    }

    @Test
    void noDefaultPermissionsLeavesTheKernelsChecksOff() throws Exception {
        FuseAvailability.assumeUsable();
        try (FuseMount m = FuseMount.mount(new SmallFs(), mp, FuseguardConfig.builder().shutdownHook(false)
                .mountOption("allow_other").mountOption("no_default_permissions").build())) {
            String where = mp.toRealPath().toString();
            String line = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                    .filter(l -> l.split(" ")[4].equals(where)).findFirst().orElseThrow();
            assertThat(line).contains("allow_other").doesNotContain("default_permissions");
        }
    }
}
