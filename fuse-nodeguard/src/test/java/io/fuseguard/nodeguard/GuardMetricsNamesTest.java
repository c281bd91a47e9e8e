package io.fuseguard.nodeguard;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.junit.jupiter.api.Test;

/**
 * What the guard's endpoint serves is what docs/node-guard.md documents, name for name (an alert written from the
 * docs must find its metric): the names in the doc's metrics table against a real Prometheus scrape.
 */
class GuardMetricsNamesTest {

    /** The base names a scrape serves ({@code _count}, {@code _sum}, {@code _max}, {@code _bucket} folded in). */
    static Set<String> served(String scrape, String prefix) {
        Set<String> names = new TreeSet<>();
        for (String line : scrape.lines().toList()) {
            if (line.startsWith(prefix)) {
                names.add(line.split("[{ ]", 2)[0].replaceAll("_(count|sum|max|bucket)$", ""));
            }
        }
        return names;
    }

    /** The names of the metrics table under {@code heading} in a Markdown document. */
    static Set<String> documented(Path doc, String heading, String prefix) throws Exception {
        String text = Files.readString(doc);
        int start = text.indexOf(heading);
        assertThat(start).as("%s has a section %s", doc, heading).isNotNegative();
        int end = text.indexOf("\n## ", start + heading.length());
        Set<String> names = new TreeSet<>();
        for (String line : text.substring(start, end < 0 ? text.length() : end).lines().toList()) {
            if (line.startsWith("| `" + prefix)) {
                Matcher m = Pattern.compile("`(" + Pattern.quote(prefix) + "[a-z_]+)").matcher(line.split("\\|")[1]);
                while (m.find()) {
                    names.add(m.group(1));
                }
            }
        }
        return names;
    }

    @Test
    void servedNamesAreTheDocumentedOnes() throws Exception {
        PrometheusMeterRegistry registry = MetricsServer.newRegistry();
        new GuardMetrics(registry);
        String scrape = registry.scrape();
        Set<String> served = served(scrape, "fuseguard_");
        assertThat(served).contains("fuseguard_guard_last_scan_timestamp_seconds", "fuseguard_guard_ready",
                "fuseguard_guard_scan_duration_seconds");
        assertThat(documented(Path.of("..", "docs", "node-guard.md"), "## Metrics", "fuseguard_"))
                .isEqualTo(served);
    }
}
