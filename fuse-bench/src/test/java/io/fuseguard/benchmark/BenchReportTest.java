package io.fuseguard.benchmark;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class BenchReportTest {
    @TempDir
    Path dir;

    /** A run of MemoryFs and the libfuse 3 C reference: three rounds of two workloads. */
    private Path results() throws Exception {
        Path run = Files.createDirectories(dir.resolve("run"));
        Files.writeString(run.resolve("env.tsv"), String.join("\n", "rounds\t3", "variants\tlibfuse3 memoryfs",
                "tar_files\t3400", "rename_loop_n\t1000", "") );
        Files.writeString(run.resolve("results.tsv"), String.join("\n",
                "1\tmemoryfs\trandread1_iops\t30000", "2\tmemoryfs\trandread1_iops\t36000",
                "3\tmemoryfs\trandread1_iops\t50000",
                "1\tlibfuse3\trandread1_iops\t40000", "2\tlibfuse3\trandread1_iops\t20000",
                "3\tlibfuse3\trandread1_iops\t45000",
                "1\tmemoryfs\ttar_s\t1.0", "2\tmemoryfs\ttar_s\t2.0", "3\tmemoryfs\ttar_s\t1.5",
                "1\tlibfuse3\ttar_s\t1.2", "2\tlibfuse3\ttar_s\t1.2", "3\tlibfuse3\ttar_s\t1.2", ""));
        return run;
    }

    @Test
    void drawsTheTablesRatiosBesideTheReportAndLinksThem() throws Exception {
        Path run = results();
        Path docs = Files.createDirectories(dir.resolve("docs"));
        Path stale = Files.writeString(docs.resolve("benchmarks-passthrough.svg"), "<svg/>");
        BenchReport.main(new String[] {run.toString(), docs.resolve("benchmarks.md").toString()});

        String md = Files.readString(docs.resolve("benchmarks.md"));
        // the table: medians 36000 / 40000 and 1.5 s / 1.2 s
        assertThat(md).contains("| MemoryFs/C 3 |").contains("| 0.90 |").contains("| 1.25× |");
        assertThat(md).contains("MemoryFs/C 3 ≥ 1.0: 4 KiB random read (direct), 1 job, IOPS | 0.90 | **no**");
        assertThat(md).contains("](benchmarks-references.svg)");

        Document svg = SvgBarChartTest.parse(Files.readString(docs.resolve("benchmarks-references.svg")));
        List<Element> bars = SvgBarChartTest.elements(svg, "rect", "bar");
        // one pair with values (MemoryFs / C libfuse 3), on the two workloads measured; tar as C's time ÷ ours
        assertThat(bars.stream().map(b -> b.getAttribute("data-value")).toList()).containsExactly("0.90", "0.80");
        // the pair keeps the colour it has when all three pairs are drawn (the third)
        assertThat(bars.get(0).getAttribute("fill")).isEqualTo(SvgBarChart.paletteColor(2));
        assertThat(SvgBarChartTest.elements(svg, "text", null).stream().map(Element::getTextContent).toList())
                .contains("MemoryFs / C libfuse 3").doesNotContain("adapter / plain jnr-fuse");
        // no passthrough values in this run: no such chart, and none left from an earlier run
        assertThat(stale).doesNotExist();
        assertThat(md).doesNotContain("benchmarks-passthrough.svg");
    }

    @Test
    void theSameResultsGiveTheSameFiles() throws Exception {
        Path run = results();
        BenchReport.main(new String[] {run.toString(), dir.resolve("a/benchmarks.md").toString()});
        BenchReport.main(new String[] {run.toString(), dir.resolve("b/benchmarks.md").toString()});
        assertThat(dir.resolve("a/benchmarks.md")).hasSameTextualContentAs(dir.resolve("b/benchmarks.md"));
        assertThat(dir.resolve("a/benchmarks-references.svg"))
                .hasSameTextualContentAs(dir.resolve("b/benchmarks-references.svg"));
    }
}
