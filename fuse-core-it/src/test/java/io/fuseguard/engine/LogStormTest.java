package io.fuseguard.engine;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.GuardEvent;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.internal.log.Log;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A storm of alike failures stays readable in the log: the first few lines, then one summary with the count,
 * while listeners and metrics still see every event.
 */
class LogStormTest {
    private static final int FAILURES = 5000;

    /** Every lookup of /fail-* fails with an unexpected exception (answered EIO). */
    static final class FailingFs extends SmallFs {
        @Override
        public synchronized FileAttributes getattr(String path) {
            if (path.startsWith("/fail-")) {
                throw new IllegalStateException("backend down for " + path);
            }
            return super.getattr(path);
        }
    }

    @Test
    void fiveThousandFailedLookupsAreAFewLinesAndOneSummary() throws Exception {
        Edges.assumeFuseAndRoot();
        Path mp = Edges.newDir("storm-");
        AtomicInteger heard = new AtomicInteger();
        Log.flush(2000);
        Logger reporter = (Logger) LoggerFactory.getLogger("io.fuseguard.internal.events.EventReporter");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        reporter.addAppender(lines);
        try {
            FuseMount m = FuseMount.mount(new FailingFs(), mp, FuseguardConfig.builder().fsName("storm")
                    .shutdownHook(false).cacheTimeouts(Duration.ZERO, Duration.ZERO, Duration.ZERO)
                    .listener(e -> {
                        if (e.type() == GuardEvent.Type.HANDLER_FAILED) {
                            heard.incrementAndGet();
                        }
                    }).build());
            try {
                String script = "import os, sys\n"
                        + "n = 0\n"
                        + "for i in range(int(sys.argv[2])):\n"
                        + "    try: os.stat(sys.argv[1] + '/fail-%d' % i)\n"
                        + "    except OSError as e: n += e.errno == 5\n"
                        + "print(n)\n";
                Child.Result r = Child.run(Duration.ofSeconds(120), Edges.python(), "-c", script, mp.toString(),
                        Integer.toString(FAILURES)).assertOk();
                assertThat(r.out().trim()).as("every lookup failed with EIO").isEqualTo(Integer.toString(FAILURES));
            } finally {
                m.close(); // writes the summaries of windows still open
            }
            Log.flush(5000);
            List<String> warnings = lines.list.stream().filter(e -> e.getLevel() == Level.WARN)
                    .map(ILoggingEvent::getFormattedMessage).toList();
            System.out.printf("%d failed lookups: %d WARN lines, %d events heard by the listener; the summary: %s%n",
                    FAILURES, warnings.size(), heard.get(), warnings.get(warnings.size() - 1));
            assertThat(warnings.size()).as("a few lines and a summary per 10 s, not one per failure")
                    .isLessThanOrEqualTo(20);
            List<String> summaries = warnings.stream().filter(w -> w.matches("\\d+ more events like this.*"))
                    .toList();
            assertThat(summaries).isNotEmpty().allMatch(w -> w.contains("LOOKUP"));
            int counted = summaries.stream().mapToInt(w -> Integer.parseInt(w.substring(0, w.indexOf(' ')))).sum();
            assertThat(counted + warnings.size() - summaries.size()).as("the lines and the counts add up")
                    .isEqualTo(FAILURES);
            assertThat(heard.get()).as("listeners hear every event").isEqualTo(FAILURES);
        } finally {
            reporter.detachAppender(lines);
            Edges.forceUnmount(mp);
        }
    }
}
