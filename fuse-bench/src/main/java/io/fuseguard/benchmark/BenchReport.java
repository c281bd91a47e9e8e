package io.fuseguard.benchmark;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes the benchmark report (docs/benchmarks.md) from a run's results directory: {@code env.tsv} (machine,
 * parameters, commands: key TAB value) and {@code results.tsv} (round TAB variant TAB metric TAB value), and
 * beside it the ratios as SVG charts ({@code OUTPUT-NAME.svg}, see {@link SvgBarChart}), which the report links.
 * Everything in the report and the charts comes from these two files.
 *
 * <pre>BenchReport RESULTS_DIR OUTPUT.md</pre>
 */
public final class BenchReport {
    private static final String[] VARIANTS = {"tmpfs", "libfuse", "libfuse3", "plain", "adapter", "memoryfs",
        "upload"};
    private static final Map<String, String> LABELS = Map.of("tmpfs", "tmpfs", "libfuse", "C libfuse 2.9",
            "libfuse3", "C libfuse 3", "plain", "plain jnr-fuse", "adapter", "adapter", "memoryfs", "MemoryFs",
            "upload", "CachedUploadFs");
    /** Issue 18's goals against the libfuse 3 C reference: MemoryFs ≥ 1.0 on these, and tar -x ≤ 1.0×. */
    private static final List<String> ISSUE18 = List.of("randread1_iops", "randread4_iops", "stat_ops", "create_ops",
            "unlink_ops", "tar_s");

    /** One bar of a chart: variant {@code a} against its reference {@code b}. */
    private record Pair(String label, String a, String b) {
    }

    /** The charts: file name suffix, title, workloads (metric keys), compared pairs. */
    private record Chart(String name, String title, List<String> metrics, List<Pair> pairs) {
    }

    private static final Chart REFERENCES_CHART = new Chart("references", "fuseguard against the references",
            List.of("randread1_iops", "randread4_iops", "create_ops", "stat_ops", "unlink_ops", "tar_s",
                    "seqread_mibs", "seqwrite_mibs"),
            List.of(new Pair("adapter / plain jnr-fuse", "adapter", "plain"),
                    new Pair("MemoryFs / C libfuse 2.9", "memoryfs", "libfuse"),
                    new Pair("MemoryFs / C libfuse 3", "memoryfs", "libfuse3")));
    /** A pair is drawn only when the run has values of both its variants (PassthroughFs runs are optional). */
    private static final Chart PASSTHROUGH_CHART = new Chart("passthrough",
            "Passthrough filesystems against their source directory",
            List.of("randread1_iops", "randread4_iops", "seqread_mibs", "seqwrite_mibs"),
            List.of(new Pair("PassthroughFs / source", "ptfs", "ptsource"),
                    new Pair("PassthroughFs, passthrough off / source", "ptfs-nopt", "ptsource"),
                    new Pair("C passthrough / source", "ptc", "ptsource"),
                    new Pair("PassthroughFs / C passthrough", "ptfs", "ptc")));
    private static final List<Chart> CHARTS = List.of(REFERENCES_CHART, PASSTHROUGH_CHART);
    /** A workload's name under its bar group (two short lines). */
    private static final Map<String, String> CHART_LABELS = Map.of("randread1_iops", "random read\n4 KiB, 1 job",
            "randread4_iops", "random read\n4 KiB, 4 jobs", "create_ops", "create", "stat_ops", "stat",
            "unlink_ops", "unlink", "tar_s", "tar -x\n(time⁻¹)", "seqread_mibs", "seq. read\n1 MiB",
            "seqwrite_mibs", "seq. write\n1 MiB");
    /** Issue 17's workloads: the upload example within 3 x MemoryFs's time on each. */
    private static final List<String> ISSUE17 = List.of("tar_s", "git_add_s", "cp_s", "rename_loop_s");
    /**
     * PassthroughFs and the C passthrough reference against their source directory (issue 18): fio workloads
     * only, in a section of their own.
     */
    private static final String[] PT_VARIANTS = {"ptsource", "ptfs", "ptfs-nopt", "ptc"};
    private static final Map<String, String> PT_LABELS = Map.of("ptsource", "source directory", "ptfs",
            "PassthroughFs", "ptfs-nopt", "PassthroughFs, passthrough off", "ptc", "C passthrough");

    /** One row: a metric, whether more is better, how it is printed, and whether ratio columns apply. */
    private record Metric(String key, String label, boolean higherBetter, Format format, boolean ratios) {
    }

    private enum Format { KILO, ONE, TWO, INT }

    private BenchReport() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: BenchReport RESULTS_DIR OUTPUT.md");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        Map<String, String> env = new LinkedHashMap<>();
        for (String line : Files.readAllLines(dir.resolve("env.tsv"))) {
            int tab = line.indexOf('\t');
            if (tab > 0) {
                env.put(line.substring(0, tab), line.substring(tab + 1));
            }
        }
        // metric -> variant -> round -> value
        Map<String, Map<String, TreeMap<Integer, Double>>> data = new LinkedHashMap<>();
        for (String line : Files.readAllLines(dir.resolve("results.tsv"))) {
            String[] f = line.split("\t");
            if (f.length == 4 && !f[3].isBlank()) {
                data.computeIfAbsent(f[2], k -> new LinkedHashMap<>())
                        .computeIfAbsent(f[1], k -> new TreeMap<>())
                        .put(Integer.parseInt(f[0]), Double.parseDouble(f[3]));
            }
        }
        Path out = Path.of(args[1]).toAbsolutePath();
        String base = out.getFileName().toString().replaceFirst("\\.md$", "");
        Writer writer = new BenchReport.Writer(env, data, base);
        String report = writer.write();
        Files.createDirectories(out.getParent());
        Files.writeString(out, report);
        for (Chart c : CHARTS) {
            // a chart this run has no data for is removed, so no stale chart stays beside the report
            Path file = out.resolveSibling(chartFile(base, c));
            String svg = writer.charts.get(file.getFileName().toString());
            if (svg != null) {
                Files.writeString(file, svg);
            } else {
                Files.deleteIfExists(file);
            }
        }
    }

    static String chartFile(String base, Chart c) {
        return base + "-" + c.name() + ".svg";
    }

    private static final class Writer {
        private final Map<String, String> env;
        private final Map<String, Map<String, TreeMap<Integer, Double>>> data;
        private final List<String> variants = new ArrayList<>();
        private final StringBuilder sb = new StringBuilder();
        private final List<Metric> metrics;
        private final String chartBase;
        /** The SVG charts the report links, by file name. */
        final Map<String, String> charts = new LinkedHashMap<>();

        Writer(Map<String, String> env, Map<String, Map<String, TreeMap<Integer, Double>>> data, String chartBase) {
            this.env = env;
            this.data = data;
            this.chartBase = chartBase;
            List<String> run = Arrays.asList(env.getOrDefault("variants", String.join(" ", VARIANTS)).split(" "));
            for (String v : VARIANTS) {
                if (run.contains(v)) {
                    variants.add(v);
                }
            }
            String rss = env.getOrDefault("rss_size", "?").replace("m", " MiB");
            String seq = env.getOrDefault("seq_size", "?").replace("m", " MiB");
            metrics = List.of(
                    new Metric("randread1_iops", "4 KiB random read (direct), 1 job, IOPS", true, Format.KILO, true),
                    new Metric("cpu_us_per_req", "daemon CPU per request (1-job random read), µs", false,
                            Format.ONE, true),
                    new Metric("randread4_iops", "4 KiB random read (direct), 4 jobs, IOPS", true, Format.KILO, true),
                    new Metric("scaling_4v1", "4 jobs ÷ 1 job (random read IOPS)", true, Format.TWO, false),
                    new Metric("create_ops", "create, ops/s", true, Format.KILO, true),
                    new Metric("stat_ops", "stat (caches expired), ops/s", true, Format.KILO, true),
                    new Metric("unlink_ops", "unlink, ops/s", true, Format.KILO, true),
                    new Metric("first_create_ops", "create, first round (daemon not yet warm), ops/s", true,
                            Format.KILO, true),
                    new Metric("first_stat_ops", "stat, first round, ops/s", true, Format.KILO, true),
                    new Metric("first_unlink_ops", "unlink, first round, ops/s", true, Format.KILO, true),
                    new Metric("tar_s", "tar -x of " + String.format(Locale.ROOT, "%,d",
                            Long.parseLong(env.getOrDefault("tar_files", "0"))) + " files, s", false, Format.TWO,
                            true),
                    new Metric("git_add_s", "git add of the tar -x tree, s", false, Format.TWO, true),
                    new Metric("cp_s", "cp -a of the same tree, s", false, Format.TWO, true),
                    new Metric("rename_loop_s", "write + rename over a target, " + String.format(Locale.ROOT,
                            "%,d", Long.parseLong(env.getOrDefault("rename_loop_n", "0"))) + " times, s", false,
                            Format.TWO, true),
                    new Metric("tar_drain_s", "tar -x tree uploaded: tar returned → all of it in the backend, s",
                            false, Format.TWO, false),
                    new Metric("seqread_mibs", "sequential read " + seq + " (direct), MiB/s", true, Format.INT, true),
                    new Metric("seqwrite_mibs", "sequential write " + seq + ", MiB/s", true, Format.INT, true),
                    new Metric("start_ms", "process start → mount answering, ms", false, Format.ONE, true),
                    new Metric("warm_mount_ms", "mount() in a warm JVM, ms", false, Format.ONE, true),
                    new Metric("warm_unmount_ms", "close() in a warm JVM, ms", false, Format.ONE, true),
                    new Metric("rss_idle_mib", "daemon RSS when mounted, idle, MiB", false, Format.INT, true),
                    new Metric("rss_written_mib", "daemon RSS after writing " + rss + ", MiB", false, Format.INT,
                            true),
                    new Metric("rss_rewritten_mib", "… after deleting it and writing it again, MiB", false,
                            Format.INT, true),
                    new Metric("rss_peak_mib", "… peak RSS (VmHWM) over both, MiB", false, Format.INT, true));
        }

        String write() {
            line("# Benchmarks");
            line("");
            line("Generated by `bench/run` (issue 9's side-by-side benchmark); nothing here is typed by hand. "
                    + "Re-run it to update this file: see [operations.md](operations.md#benchmarks).");
            line("");
            machine();
            results();
            goals();
            issue17Goals();
            issue18Goals();
            passthrough();
            parameters();
            rounds();
            return sb.toString();
        }

        private void machine() {
            line("## Machine and run");
            line("");
            line("| | |");
            line("|---|---|");
            row("date", env.get("date"));
            row("git commit", "`" + env.get("commit") + "` (branch `" + env.get("branch") + "`)");
            row("CPU", env.get("nproc") + " × " + env.get("cpu") + " (nproc " + env.get("nproc") + ")");
            row("memory", env.get("memory"));
            row("kernel", env.get("kernel"));
            row("Java", env.get("java"));
            row("libfuse 2 / libfuse 3 / fio / gcc", env.get("libfuse") + " / " + env.getOrDefault("libfuse3", "?")
                    + " / " + env.get("fio") + " / " + env.get("gcc"));
            row("rounds", env.get("rounds") + ("1".equals(env.get("quick")) ? " (--quick: short runtimes)" : "")
                    + ", interleaved: round 1 runs every variant, then round 2, …");
            List<Double> busy = new ArrayList<>();
            data.getOrDefault("busy_pct", Map.of()).values().forEach(m -> busy.addAll(m.values()));
            if (!busy.isEmpty()) {
                double[] b = busy.stream().mapToDouble(Double::doubleValue).toArray();
                row("other load", "CPU busy over 1 s before each variant, benchmark idle: " + fmt(Format.INT, min(b))
                        + "–" + fmt(Format.INT, max(b)) + " % (median " + fmt(Format.INT, median(b))
                        + " %; 100 % = every core; each value under \"Every round\")");
            }
            line("");
            line("The machine is shared and has few cores: expect noise, compare variants within one run.");
            line("");
        }

        private void results() {
            int rounds = Integer.parseInt(env.getOrDefault("rounds", "1"));
            line("## Results");
            line("");
            line(rounds > 1 ? "Median over " + rounds + " rounds, min–max below it."
                    : "One round: single values, no spread.");
            line("");
            StringBuilder h = new StringBuilder("| workload |");
            StringBuilder sep = new StringBuilder("|---|");
            for (String v : variants) {
                h.append(' ').append(LABELS.get(v)).append(" |");
                sep.append("---|");
            }
            h.append(" adapter/plain | MemoryFs/C 2.9 |");
            sep.append("---|---|");
            boolean libfuse3 = variants.contains("libfuse3");
            if (libfuse3) {
                h.append(" MemoryFs/C 3 |");
                sep.append("---|");
            }
            boolean upload = variants.contains("upload");
            if (upload) {
                h.append(" CachedUploadFs/MemoryFs |");
                sep.append("---|");
            }
            line(h.toString());
            line(sep.toString());
            for (Metric m : metrics) {
                StringBuilder r = new StringBuilder("| ").append(m.label()).append(" |");
                boolean any = false;
                for (String v : variants) {
                    double[] vals = values(m.key(), v);
                    if (vals.length == 0) {
                        r.append(" – |");
                        continue;
                    }
                    any = true;
                    r.append(' ').append(fmt(m.format(), median(vals)));
                    if (vals.length > 1) {
                        r.append("<br>(").append(fmt(m.format(), min(vals))).append("–")
                                .append(fmt(m.format(), max(vals))).append(')');
                    }
                    r.append(" |");
                }
                if (!any) {
                    continue;
                }
                r.append(' ').append(m.ratios() ? ratio(m, "adapter", "plain") : "–").append(" |");
                r.append(' ').append(m.ratios() ? ratio(m, "memoryfs", "libfuse") : "–").append(" |");
                if (libfuse3) {
                    r.append(' ').append(m.ratios() ? ratio(m, "memoryfs", "libfuse3") : "–").append(" |");
                }
                if (upload) {
                    r.append(' ').append(m.ratios() ? ratio(m, "upload", "memoryfs") : "–").append(" |");
                }
                line(r.toString());
            }
            line("");
            line("Ratios are of medians. Where more is better they are plain numbers (adapter/plain 0.5 = half "
                    + "the throughput); where less is better (CPU, seconds, milliseconds, MiB) they are cost "
                    + "multiples, written with × (2.0× = twice the time or memory). \"adapter/plain\" is the cost "
                    + "of fuseguard's request path on identical filesystem code; \"MemoryFs/C 2.9\" and "
                    + "\"MemoryFs/C 3\" compare fuseguard's example with the C reference on libfuse 2.9 and on "
                    + "libfuse 3, \"CachedUploadFs/MemoryFs\" the upload example (a local cache, uploads to a "
                    + "directory backend after close) with the in-memory one. – : not applicable (tmpfs has no "
                    + "daemon) or not measured.");
            line("");
            chart(REFERENCES_CHART);
        }

        /**
         * Draws chart {@code c} from the medians (every bar a ratio where more is better: for a time, the
         * reference's time ÷ the variant's) and links it; nothing when this run has no value for it.
         */
        private void chart(Chart c) {
            List<String> groups = new ArrayList<>();
            List<double[]> rows = new ArrayList<>();
            List<Pair> pairs = new ArrayList<>();
            for (Pair p : c.pairs()) {
                if (c.metrics().stream().anyMatch(k -> chartValue(metric(k), p) != null)) {
                    pairs.add(p);
                }
            }
            for (String k : c.metrics()) {
                double[] row = new double[pairs.size()];
                boolean any = false;
                for (int i = 0; i < pairs.size(); i++) {
                    Double v = chartValue(metric(k), pairs.get(i));
                    row[i] = v == null ? Double.NaN : v;
                    any |= v != null;
                }
                if (any) {
                    groups.add(CHART_LABELS.getOrDefault(k, metric(k).label()));
                    rows.add(row);
                }
            }
            if (groups.isEmpty()) {
                return;
            }
            String file = chartFile(chartBase, c);
            charts.put(file, new SvgBarChart(c.title() + " (ratios of medians)",
                    "× the reference (higher is better)", groups, pairs.stream().map(Pair::label).toList(),
                    rows.toArray(new double[0][]),
                    pairs.stream().map(p -> SvgBarChart.paletteColor(c.pairs().indexOf(p))).toList()).svg());
            line("![" + c.title() + ": " + String.join(", ", pairs.stream().map(Pair::label).toList())
                    + "](" + file + ")");
            line("");
            boolean times = c.metrics().stream().anyMatch(k -> !metric(k).higherBetter());
            line("The same ratios as a chart (`" + file + "`, written with this file). Higher is better on every "
                    + "bar" + (times ? ": for a time (tar -x) it is the reference's time ÷ the variant's" : "")
                    + ". The dashed line is 1.0.");
            line("");
        }

        private Double chartValue(Metric m, Pair p) {
            return m.higherBetter() ? ratioValue(m, p.a(), p.b()) : ratioValue(m, p.b(), p.a());
        }

        private void goals() {
            line("## Issue 9's goals, against these medians");
            line("");
            line("| goal | measured | met |");
            line("|---|---|---|");
            for (Metric m : metrics) {
                // Every row of issue 9's table that has an adapter/plain ratio (its memory goal is MemoryFs's; the
                // warm mount's goal is absolute, and jnr-fuse's own umount() returns before its loop has ended).
                if (!m.ratios() || m.key().startsWith("rss_") || m.key().startsWith("warm_")
                        || m.key().equals("cpu_us_per_req")) {
                    continue;
                }
                Double r = ratioValue(m, "adapter", "plain");
                if (r != null) {
                    double perf = m.higherBetter() ? r : 1 / r;
                    goal("adapter/plain ≥ 0.9: " + m.label(), fmt2(perf) + (m.higherBetter() ? "" :
                            " (plain/adapter)"), perf >= 0.9);
                }
            }
            Double cpu = ratioValue(metric("cpu_us_per_req"), "adapter", "plain");
            if (cpu != null) {
                goal("daemon CPU per request, adapter ≤ 1.2 × plain", fmt2(cpu) + "×", cpu <= 1.2);
            }
            for (String k : List.of("randread1_iops", "randread4_iops", "seqread_mibs", "seqwrite_mibs")) {
                Double r = ratioValue(metric(k), "memoryfs", "libfuse");
                if (r != null) {
                    goal("MemoryFs/C 2.9 ≥ 0.8: " + metric(k).label(), fmt2(r), r >= 0.8);
                }
            }
            for (String k : List.of("create_ops", "stat_ops", "unlink_ops", "tar_s")) {
                Double r = ratioValue(metric(k), "memoryfs", "libfuse");
                if (r != null) {
                    double perf = metric(k).higherBetter() ? r : 1 / r;
                    goal("MemoryFs/C 2.9 ≥ 0.6: " + metric(k).label(), fmt2(perf)
                            + (metric(k).higherBetter() ? "" : " (C/MemoryFs time)"), perf >= 0.6);
                }
            }
            for (String v : List.of("memoryfs", "adapter")) {
                double[] s = values("scaling_4v1", v);
                if (s.length > 0) {
                    goal(LABELS.get(v) + ": 4 jobs ≥ 1.7 × 1 job", fmt2(median(s)) + "×", median(s) >= 1.7);
                }
            }
            double[] start = values("start_ms", "memoryfs");
            if (start.length > 0) {
                goal("`fuseguard mount memory`: process start → answering ≤ 500 ms",
                        fmt(Format.ONE, median(start)) + " ms", median(start) <= 500);
            }
            for (String v : List.of("memoryfs", "adapter")) {
                double[] warm = values("warm_mount_ms", v);
                if (warm.length > 0) {
                    goal(LABELS.get(v) + ": `mount()` in a warm JVM ≤ 30 ms", fmt(Format.ONE, median(warm))
                            + " ms", median(warm) <= 30);
                }
            }
            String rssSize = env.getOrDefault("rss_size", "");
            if (rssSize.endsWith("m")) {
                double n = Double.parseDouble(rssSize.substring(0, rssSize.length() - 1));
                double limit = 1.3 * n + 150;
                for (String k : List.of("rss_written_mib", "rss_rewritten_mib")) {
                    double[] v = values(k, "memoryfs");
                    if (v.length > 0) {
                        goal("MemoryFs " + metric(k).label().replace(", MiB", "") + " ≤ 1.3 × "
                                        + (int) n + " + 150 = " + (int) limit + " MiB",
                                fmt(Format.INT, median(v)) + " MiB", median(v) <= limit);
                    }
                }
            }
            line("");
        }

        private void issue17Goals() {
            if (!variants.contains("upload")) {
                return;
            }
            line("## Issue 17's goals, against these medians");
            line("");
            line("| goal | measured | met |");
            line("|---|---|---|");
            for (String k : ISSUE17) {
                Double r = ratioValue(metric(k), "upload", "memoryfs");
                if (r != null) {
                    goal("CachedUploadFs ≤ 3 × MemoryFs: " + metric(k).label(), fmt2(r) + "×", r <= 3);
                }
            }
            line("");
        }

        /** MemoryFs against the C reference on libfuse 3 (issue 18). */
        private void issue18Goals() {
            if (!variants.contains("libfuse3") || !variants.contains("memoryfs")) {
                return;
            }
            line("## Issue 18's goals, against these medians");
            line("");
            line("| goal | measured | met |");
            line("|---|---|---|");
            for (String k : ISSUE18) {
                Metric m = metric(k);
                Double r = ratioValue(m, "memoryfs", "libfuse3");
                if (r == null) {
                    continue;
                }
                if (m.higherBetter()) {
                    goal("MemoryFs/C 3 ≥ 1.0: " + m.label(), fmt2(r), r >= 1.0);
                } else {
                    goal("MemoryFs/C 3 ≤ 1.0×: " + m.label(), fmt2(r) + "×", r <= 1.0);
                }
            }
            line("");
        }

        /**
         * PassthroughFs (with and without FUSE passthrough) and the C passthrough reference against the directory
         * they mirror (issue 18): table, goals, chart.
         */
        private void passthrough() {
            List<String> pt = ptVariants();
            if (pt.isEmpty()) {
                return;
            }
            List<Metric> rows = new ArrayList<>();
            for (String k : List.of("randread1_iops", "cpu_us_per_req", "randread4_iops", "seqread_mibs",
                    "seqwrite_mibs")) {
                rows.add(metric(k));
            }
            line("## Passthrough filesystems against their source directory");
            line("");
            line("The same fio jobs on a directory of this machine's " + env.getOrDefault("pt_source_fs", "?")
                    + " filesystem itself, on PassthroughFs (`fuseguard mount passthrough`) mirroring such a "
                    + "directory, with FUSE passthrough (the kernel reads and writes the source files itself) and "
                    + "with it off (`-o no_passthrough`: every read and write is a request to the daemon), and "
                    + "through `bench/c/passthrough.c` (libfuse 3, low-level API, `clone_fd`). Interleaved with "
                    + "the other variants, in the same rounds; median, min–max below it.");
            line("");
            StringBuilder h = new StringBuilder("| workload |");
            StringBuilder sep = new StringBuilder("|---|");
            for (String v : pt) {
                h.append(' ').append(PT_LABELS.get(v)).append(" |");
                sep.append("---|");
            }
            List<String[]> ratios = new ArrayList<>();
            for (String[] q : new String[][] {{"ptfs", "PassthroughFs/source"},
                    {"ptfs-nopt", "passthrough off/source"}, {"ptc", "C passthrough/source"}}) {
                if (pt.contains(q[0]) && pt.contains("ptsource")) {
                    ratios.add(q);
                    h.append(' ').append(q[1]).append(" |");
                    sep.append("---|");
                }
            }
            line(h.toString());
            line(sep.toString());
            for (Metric m : rows) {
                StringBuilder r = new StringBuilder("| ").append(m.label()).append(" |");
                boolean any = false;
                for (String v : pt) {
                    double[] vals = values(m.key(), v);
                    any |= vals.length > 0;
                    r.append(' ').append(cell(m, vals)).append(" |");
                }
                boolean cpu = m.key().equals("cpu_us_per_req");
                for (String[] q : ratios) {
                    r.append(' ').append(cpu ? "–" : ratio(m, q[0], "ptsource")).append(" |");
                }
                if (any) {
                    line(r.toString());
                }
            }
            line("");
            if (pt.contains("ptfs") && pt.contains("ptsource")) {
                line("| goal (issue 18) | measured | met |");
                line("|---|---|---|");
                for (String k : List.of("randread1_iops", "seqread_mibs", "seqwrite_mibs")) {
                    Double r = ratioValue(metric(k), "ptfs", "ptsource");
                    if (r != null) {
                        goal("PassthroughFs/source ≥ 0.9: " + metric(k).label(), fmt2(r), r >= 0.9);
                    }
                }
                line("");
            }
            chart(PASSTHROUGH_CHART);
            StringBuilder cmds = new StringBuilder("Commands: source: " + env.getOrDefault("cmd.ptsource", "?"));
            for (String v : List.of("ptfs", "ptfs-nopt", "ptc")) {
                if (pt.contains(v)) {
                    cmds.append("; ").append(PT_LABELS.get(v)).append(": `").append(env.getOrDefault("cmd." + v,
                            "?")).append('`');
                }
            }
            line(cmds + ". Each variant gets a fresh directory on that filesystem; `sync` before the reads are "
                    + "prepared, before they run, and before the write. Both passthrough daemons drop `O_DIRECT` "
                    + "when they open a source file: direct reads that reach the daemon go through the source's "
                    + "page cache.");
            line("");
        }

        /** The passthrough section's variants this run has values of. */
        private List<String> ptVariants() {
            List<String> pt = new ArrayList<>();
            for (String v : PT_VARIANTS) {
                if (data.values().stream().anyMatch(m -> m.containsKey(v))) {
                    pt.add(v);
                }
            }
            return pt;
        }

        private String label(String v) {
            return LABELS.containsKey(v) ? LABELS.get(v) : PT_LABELS.getOrDefault(v, v);
        }

        /** A results cell: the median, and min–max below it when there are several rounds. */
        private String cell(Metric m, double[] vals) {
            if (vals.length == 0) {
                return "–";
            }
            String c = fmt(m.format(), median(vals));
            return vals.length > 1 ? c + "<br>(" + fmt(m.format(), min(vals)) + "–" + fmt(m.format(), max(vals)) + ")"
                    : c;
        }

        private void goal(String what, String measured, boolean met) {
            line("| " + what + " | " + measured + " | " + (met ? "yes" : "**no**") + " |");
        }

        private void parameters() {
            line("## What ran");
            line("");
            line("Each round mounts each variant on an empty directory, runs the workloads in this order, "
                    + "unmounts (SIGTERM to the daemon), then mounts a fresh daemon for the memory figures.");
            line("");
            line("| variant | command (MNT = the mount point) |");
            line("|---|---|");
            for (String v : variants) {
                line("| " + LABELS.get(v) + " | `" + env.getOrDefault("cmd." + v, "?") + "` |");
            }
            line("");
            line("- **Mount options**, the same for every FUSE variant: `" + env.get("fuse_opts") + "` (libfuse "
                    + "2's default timeouts, spelled out). fuseguard always mounts with `big_writes` and "
                    + "`max_write` from its configuration (131072 by default), so MemoryFs gets the others with "
                    + "`-o` and the adapter launcher turns `max_write=N` into `maxWrite(N)`. The adapter runs "
                    + "with fuseguard's default configuration otherwise (deadlines, workers, self-access refusal, "
                    + "NO_FLUSH). JVMs run with default flags. **C libfuse 3** takes the same `-o` string: "
                    + "`big_writes` is dropped (libfuse 3 always writes big) and `max_write` applied in its init.");
            line("- **C libfuse 2.9**: `bench/c/memfs.c`, libfuse 2.9 high-level API, multi-threaded (`fuse_main` "
                    + "without `-s`), 64 KiB chunks, one read-write lock. **C libfuse 3**: `bench/c/memfs3.c`, the "
                    + "same filesystem (it includes memfs.c) on libfuse " + env.getOrDefault("libfuse3", "3")
                    + "'s high-level API, `fuse_loop_mt` with `clone_fd` (each worker thread reads from its own "
                    + "clone of /dev/fuse), libfuse 3's defaults otherwise. **plain jnr-fuse** and **adapter**: "
                    + "the same class, `fuse-bench`'s `ChunkedMemoryFs` (a `FuseStubFS`, 64 KiB chunks, one "
                    + "read-write lock), mounted by jnr-fuse's `mount()` or by "
                    + "`JnrFuseMount.mount(FuseFS, Path, FuseguardConfig)`. **MemoryFs**: "
                    + "`io.fuseguard.examples.memory.MemoryFs` through `fuseguard mount memory` (capacity "
                    + env.get("memoryfs_capacity") + "). **CachedUploadFs**: "
                    + "`io.fuseguard.examples.upload.CachedUploadFs` through `fuseguard mount upload`, a fresh cache "
                    + "and `DirectoryBackend` directory for every daemon, both in " + env.getOrDefault("upload_dir",
                    "the work directory") + "; default settings (4 uploaders, uploads 100 ms after the close).");
            line("- **process start → mount answering**: `bench/c/startwait.c` forks and execs the daemon and "
                    + "polls `stat(MNT)` every 100 µs until it succeeds with the filesystem's device (the "
                    + "daemon answered GETATTR on its root); from fork to that moment.");
            line("- **random reads**: `bench/fio/prep.fio` writes a " + env.get("randread_size") + " file, then "
                    + "`randread-1job.fio` / `randread-4jobs.fio`: 4 KiB `psync` reads, `direct=1`, "
                    + env.get("randread_runtime") + " s each. **daemon CPU per request**: utime+stime of the "
                    + "daemon (`/proc/PID/stat`, whole process) over the 1-job run ÷ reads fio completed.");
            line("- **sequential**: `seqread.fio` (1 MiB reads, `direct=1`, over the " + env.get("seq_size")
                    + " file prep.fio wrote) and `seqwrite.fio` (1 MiB buffered writes of a "
                    + env.get("seq_size") + " file, rewritten from its start), " + env.get("seq_runtime")
                    + " s each.");
            line("- **create / stat / unlink**: `fuse-bench`'s `MetadataBench` with " + env.get("meta_n")
                    + " files in one directory, each phase timed separately, after an untimed warm-up of 500 "
                    + "files; it waits " + env.get("meta_wait_ms") + " ms (longer than attr_timeout/entry_timeout) "
                    + "before each stat pass and the unlink phase, so every stat is a LOOKUP the daemon "
                    + "answers. The phases run in two rounds, each on new files: the **first round** (one stat "
                    + "pass) is what a daemon that has not created or removed files before does, a JVM daemon "
                    + "still compiling those paths (the fio workloads before it warmed only reads and writes); "
                    + "the main rows are the second round, the daemon's steady state, whose stat figure is the "
                    + "median of 3 passes. MemoryFs runs with `--no-birth-time`: Java's "
                    + "stat asks for the birth time, which the C references do not report, and a filesystem that "
                    + "reports it is asked with a second request (STATX) the first time each file is stat'ed "
                    + "(docs/design.md).");
            line("- **tar -x**: a deterministic tarball (`TreeGen`: " + env.get("tar_files") + " files of 0–16 "
                    + "KiB in " + env.get("tar_dirs") + " directories, " + String.format(Locale.ROOT, "%,d",
                    Long.parseLong(env.getOrDefault("tar_bytes", "0"))) + " bytes; fixed owner, mtime and "
                    + "order), extracted as root into an empty directory of the mount; the file count is "
                    + "checked. MemoryFs runs with `--no-xattrs`, as the C references keep no extended "
                    + "attributes: a filesystem that may hold `security.capability` is asked for it (a GETXATTR "
                    + "request) before every write and chown (docs/design.md, \"What extended attributes "
                    + "cost\").");
            line("- **git add**: `git init` and `git add -A` in the tree `tar -x` made; **cp -a**: the same tree "
                    + "unpacked on the local disk, copied into an empty directory of the mount (the file count is "
                    + "checked); **write + rename over**: one Python process writes a 3.5 KiB file and renames it "
                    + "over a target, " + env.get("rename_loop_n") + " times. On CachedUploadFs each of these "
                    + "starts once the backend has caught up with the workloads before it (its journal holds "
                    + "nothing; `UploadIdle`), and its own uploads run while it runs. **tar -x tree uploaded**: "
                    + "from the end of `tar -x` until the journal holds nothing, i.e. every extracted file is in "
                    + "the backend.");
            line("- **memory**: on a fresh daemon: VmRSS when idle, after `rss.fio` wrote " + env.get("rss_size")
                    + " (1 MiB writes, 1 s pause), after deleting that file and writing it again, and VmHWM.");
            line("");
        }

        private void rounds() {
            line("## Every round");
            line("");
            int rounds = Integer.parseInt(env.getOrDefault("rounds", "1"));
            StringBuilder h = new StringBuilder("| workload | variant |");
            StringBuilder sep = new StringBuilder("|---|---|");
            for (int i = 1; i <= rounds; i++) {
                h.append(" round ").append(i).append(" |");
                sep.append("---|");
            }
            line(h.toString());
            line(sep.toString());
            List<String> all = new ArrayList<>(variants);
            all.addAll(ptVariants());
            for (Metric m : metrics) {
                for (String v : all) {
                    Map<Integer, Double> byRound = data.getOrDefault(m.key(), Map.of()).get(v);
                    if (byRound == null || byRound.isEmpty()) {
                        continue;
                    }
                    StringBuilder r = new StringBuilder("| ").append(m.label()).append(" | ")
                            .append(label(v)).append(" |");
                    for (int i = 1; i <= rounds; i++) {
                        Double x = byRound.get(i);
                        r.append(' ').append(x == null ? "–" : fmt(m.format(), x)).append(" |");
                    }
                    line(r.toString());
                }
            }
            for (String v : all) {
                Map<Integer, Double> byRound = data.getOrDefault("busy_pct", Map.of()).get(v);
                if (byRound == null || byRound.isEmpty()) {
                    continue;
                }
                StringBuilder r = new StringBuilder("| other load: CPU busy % before the variant | ")
                        .append(label(v)).append(" |");
                for (int i = 1; i <= rounds; i++) {
                    Double x = byRound.get(i);
                    r.append(' ').append(x == null ? "–" : fmt(Format.INT, x)).append(" |");
                }
                line(r.toString());
            }
            line("");
            line("Raw output of every workload: `bench/target/results/<run>/` (not committed).");
        }

        private Metric metric(String key) {
            return metrics.stream().filter(m -> m.key().equals(key)).findFirst().orElseThrow();
        }

        private double[] values(String metric, String variant) {
            Map<Integer, Double> byRound = data.getOrDefault(metric, Map.of()).get(variant);
            if (byRound == null) {
                return new double[0];
            }
            return byRound.values().stream().mapToDouble(Double::doubleValue).toArray();
        }

        private Double ratioValue(Metric m, String a, String b) {
            double[] x = values(m.key(), a);
            double[] y = values(m.key(), b);
            if (x.length == 0 || y.length == 0 || median(y) == 0) {
                return null;
            }
            return median(x) / median(y);
        }

        private String ratio(Metric m, String a, String b) {
            Double r = ratioValue(m, a, b);
            if (r == null) {
                return "–";
            }
            return m.higherBetter() ? fmt2(r) : fmt2(r) + "×";
        }

        private void row(String k, String v) {
            line("| " + k + " | " + (v == null ? "?" : v) + " |");
        }

        private void line(String s) {
            sb.append(s).append('\n');
        }
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }

    static String fmt2(double x) {
        // Two decimals, or two significant digits for a ratio so small that two decimals would print 0.00.
        return x != 0 && Math.abs(x) < 0.01 ? String.format(Locale.ROOT, "%.2g", x)
                : String.format(Locale.ROOT, "%.2f", x);
    }

    private static String fmt(Format f, double x) {
        return switch (f) {
            case KILO -> x >= 10_000 ? String.format(Locale.ROOT, "%.1fk", x / 1000)
                    : String.format(Locale.ROOT, "%.0f", x);
            case ONE -> String.format(Locale.ROOT, "%.1f", x);
            case TWO -> String.format(Locale.ROOT, "%.2f", x);
            case INT -> String.format(Locale.ROOT, "%.0f", x);
        };
    }
}
