package io.fuseguard.docs;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The README opens with its title and then exactly the two commands a newcomer runs, and it quotes every measured
 * row of docs/benchmarks.md with that file's medians: the unfavourable ones cannot quietly go missing.
 */
class ReadmeTest {
    private static final Path README = Path.of("..", "README.md");
    private static final Path BENCHMARKS = Path.of("..", "docs", "benchmarks.md");

    @Test
    void titleFirstThenTheTwoCommands() throws Exception {
        List<String> lines = Files.readAllLines(README).stream().filter(l -> !l.isBlank()).toList();
        assertThat(lines.get(0)).isEqualTo("# fuseguard");
        assertThat(lines.get(1)).isEqualTo("```sh");
        int close = lines.subList(2, lines.size()).indexOf("```") + 2;
        List<String> commands = lines.subList(2, close).stream().map(l -> l.replaceAll("\\s*#.*$", "")).toList();
        assertThat(commands).containsExactly("./fuseguard drill", "./run-tests");
    }

    /** Workload name to its cells, from a Markdown table whose header starts with {@code headerStart}. */
    private static Map<String, List<String>> table(String text, String headerStart) {
        Map<String, List<String>> rows = new TreeMap<>();
        boolean in = false;
        for (String l : text.lines().toList()) {
            if (l.startsWith(headerStart)) {
                in = true;
                continue;
            }
            if (in && !l.startsWith("|")) {
                break;
            }
            if (in && !l.startsWith("|---")) {
                List<String> cells = new ArrayList<>();
                for (String c : l.substring(1, l.length() - 1).split("\\|")) {
                    cells.add(c.strip().replaceAll("<br>\\(.*\\)$", ""));
                }
                rows.put(cells.get(0), cells.subList(1, cells.size()));
            }
        }
        return rows;
    }

    @Test
    void everyMeasuredRowIsQuotedWithItsMedians() throws Exception {
        String bench = Files.readString(BENCHMARKS);
        String results = bench.substring(bench.indexOf("## Results"));
        Map<String, List<String>> measured = table(results, "| workload |");
        Map<String, List<String>> quoted = table(Files.readString(README), "| workload (median of 3 rounds) |");
        assertThat(measured).hasSizeGreaterThan(15);
        assertThat(quoted.keySet()).isEqualTo(measured.keySet());
        measured.forEach((workload, m) -> {
            // benchmarks.md: tmpfs, C libfuse, plain, adapter, MemoryFs, adapter/plain, MemoryFs/C; README: no tmpfs
            assertThat(quoted.get(workload)).as(workload).isEqualTo(m.subList(1, m.size()));
        });
        assertThat(quoted.get("daemon RSS when mounted, idle, MiB")).as("the unfavourable rows too")
                .startsWith("2");
    }
}
