package io.fuseguard.benchmark;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.IntStream;

/**
 * A grouped bar chart of ratios as a standalone SVG document, for the benchmark report: one group of bars per
 * workload, one bar per compared pair (its value printed above it), and a dashed line at 1.0, where a compared
 * variant equals its reference. The y axis starts at 0 and is linear, so bar heights are proportional to the
 * values. The output depends only on the arguments (fixed layout, fixed number formats, no dates), so the same
 * results give the same file.
 *
 * @param title     the chart's heading
 * @param axisLabel what the y axis counts (e.g. "× the reference, higher is better")
 * @param groups    one label per bar group (workload); a {@code \n} starts a second line
 * @param series    one name per bar within a group (the compared pair), shown in the legend
 * @param values    {@code values[group][series]}; {@code NaN} where there is no value (drawn as "–", no bar)
 * @param colors    one fill colour per series ({@code #rrggbb}), so a compared pair keeps its colour in every run
 */
public record SvgBarChart(String title, String axisLabel, List<String> groups, List<String> series,
                          double[][] values, List<String> colors) {
    private static final String[] PALETTE = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1",
        "#edc948", "#9c755f"};
    private static final double PLOT_HEIGHT = 240;
    private static final double LEFT = 64;
    private static final double RIGHT = 24;
    private static final double BAR_WIDTH = 18;
    private static final double BAR_GAP = 6;
    private static final double LEGEND_ROW = 18;
    /** Rough width of one character at 12 px, to lay out text without measuring it (the title: 15 px, bold). */
    private static final double CHAR_WIDTH = 6.6;
    private static final double TITLE_CHAR_WIDTH = 9;

    /**
     * Checks the shape of {@code values} and {@code colors} against the groups and series.
     *
     * @throws IllegalArgumentException if a dimension does not match, a value is negative or infinite, or a colour
     *                                  is not {@code #rrggbb}
     */
    public SvgBarChart {
        groups = List.copyOf(groups);
        series = List.copyOf(series);
        colors = List.copyOf(colors);
        if (colors.size() != series.size() || !colors.stream().allMatch(c -> c.matches("#[0-9a-fA-F]{6}"))) {
            throw new IllegalArgumentException("colours " + colors + " for " + series.size() + " series");
        }
        if (values.length != groups.size()) {
            throw new IllegalArgumentException(values.length + " rows of values for " + groups.size() + " groups");
        }
        double[][] copy = new double[values.length][];
        for (int g = 0; g < values.length; g++) {
            if (values[g].length != series.size()) {
                throw new IllegalArgumentException("group " + g + ": " + values[g].length + " values for "
                        + series.size() + " series");
            }
            for (double v : values[g]) {
                if (v < 0 || Double.isInfinite(v)) {
                    throw new IllegalArgumentException("group " + g + ": value " + v);
                }
            }
            copy[g] = values[g].clone();
        }
        values = copy;
    }

    /** A chart whose series take the palette's colours in order. */
    public SvgBarChart(String title, String axisLabel, List<String> groups, List<String> series, double[][] values) {
        this(title, axisLabel, groups, series, values,
                IntStream.range(0, series.size()).mapToObj(SvgBarChart::paletteColor).toList());
    }

    /** Colour i of the palette (readable on white), cycled. */
    public static String paletteColor(int i) {
        return PALETTE[i % PALETTE.length];
    }

    /** The y axis' top: the largest value (and 1.0) with some headroom, rounded up to a whole tick. */
    double axisMax() {
        double max = 1;
        for (double[] row : values) {
            for (double v : row) {
                if (!Double.isNaN(v)) {
                    max = Math.max(max, v);
                }
            }
        }
        double step = tickStep(max * 1.12);
        return Math.ceil(max * 1.12 / step) * step;
    }

    /** A tick step of 1, 2, 2.5 or 5 times a power of ten giving about five ticks up to {@code top}. */
    static double tickStep(double top) {
        double raw = top / 5;
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        for (double m : new double[] {1, 2, 2.5, 5}) {
            if (m * p >= raw) {
                return m * p;
            }
        }
        return 10 * p;
    }

    /** The SVG document. */
    public String svg() {
        int longest = 0;
        for (String g : groups) {
            for (String line : g.split("\n")) {
                longest = Math.max(longest, line.length());
            }
        }
        double groupWidth = Math.max(longest * CHAR_WIDTH + 16, series.size() * (BAR_WIDTH + BAR_GAP) + 36);
        double width = Math.max(LEFT + groups.size() * groupWidth + RIGHT, LEFT + title.length() * TITLE_CHAR_WIDTH);
        groupWidth = (width - LEFT - RIGHT) / Math.max(1, groups.size());   // a long title widens the groups
        // legend: items left to right, wrapped to the chart's width
        List<double[]> legendAt = new ArrayList<>();
        double lx = LEFT;
        double ly = 46;
        for (String s : series) {
            double w = 22 + s.length() * CHAR_WIDTH + 18;
            if (lx > LEFT && lx + w > width - RIGHT) {
                lx = LEFT;
                ly += LEGEND_ROW;
            }
            legendAt.add(new double[] {lx, ly});
            lx += w;
        }
        double top = ly + 26;
        double base = top + PLOT_HEIGHT;
        double max = axisMax();
        double scale = PLOT_HEIGHT / max;
        double height = base + 48;

        StringBuilder o = new StringBuilder();
        o.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        o.append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").append(n(width)).append("\" height=\"")
                .append(n(height)).append("\" viewBox=\"0 0 ").append(n(width)).append(' ').append(n(height))
                .append("\" font-family=\"sans-serif\" font-size=\"12\">\n");
        o.append("<title>").append(esc(title)).append("</title>\n");
        o.append("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
        o.append("<text x=\"").append(n(LEFT)).append("\" y=\"22\" font-size=\"15\" font-weight=\"bold\">")
                .append(esc(title)).append("</text>\n");
        for (int i = 0; i < series.size(); i++) {
            double[] at = legendAt.get(i);
            o.append("<rect class=\"legend\" x=\"").append(n(at[0])).append("\" y=\"").append(n(at[1] - 10))
                    .append("\" width=\"12\" height=\"12\" fill=\"").append(color(i)).append("\"/>");
            o.append("<text x=\"").append(n(at[0] + 17)).append("\" y=\"").append(n(at[1])).append("\">")
                    .append(esc(series.get(i))).append("</text>\n");
        }
        // grid and y axis
        double step = tickStep(max);
        for (int k = 0; k * step <= max + 1e-9; k++) {
            double v = k * step;
            double y = base - v * scale;
            o.append("<line x1=\"").append(n(LEFT)).append("\" y1=\"").append(n(y)).append("\" x2=\"")
                    .append(n(width - RIGHT)).append("\" y2=\"").append(n(y))
                    .append("\" stroke=\"#e3e3e3\" stroke-width=\"1\"/>");
            o.append("<text x=\"").append(n(LEFT - 6)).append("\" y=\"").append(n(y + 4))
                    .append("\" text-anchor=\"end\" fill=\"#444444\">").append(tick(v)).append("</text>\n");
        }
        o.append("<text transform=\"translate(16 ").append(n(top + PLOT_HEIGHT / 2))
                .append(") rotate(-90)\" text-anchor=\"middle\" fill=\"#444444\">").append(esc(axisLabel))
                .append("</text>\n");
        // bars
        for (int g = 0; g < groups.size(); g++) {
            double gx = LEFT + g * groupWidth;
            double x0 = gx + (groupWidth - series.size() * (BAR_WIDTH + BAR_GAP) + BAR_GAP) / 2;
            for (int s = 0; s < series.size(); s++) {
                double v = values[g][s];
                double x = x0 + s * (BAR_WIDTH + BAR_GAP);
                double cx = x + BAR_WIDTH / 2;
                if (Double.isNaN(v)) {
                    o.append("<text x=\"").append(n(cx)).append("\" y=\"").append(n(base - 4))
                            .append("\" text-anchor=\"middle\" fill=\"#999999\">–</text>\n");
                    continue;
                }
                double h = v * scale;
                o.append("<rect class=\"bar\" data-series=\"").append(s).append("\" data-value=\"").append(value(v))
                        .append("\" x=\"").append(n(x)).append("\" y=\"").append(n(base - h))
                        .append("\" width=\"").append(n(BAR_WIDTH)).append("\" height=\"").append(n(h))
                        .append("\" fill=\"").append(color(s)).append("\"><title>")
                        .append(esc(series.get(s) + ", " + groups.get(g).replace('\n', ' ') + ": " + value(v)))
                        .append("</title></rect>");
                o.append("<text x=\"").append(n(cx)).append("\" y=\"").append(n(base - h - 4))
                        .append("\" text-anchor=\"middle\" font-size=\"9\" fill=\"#222222\">").append(value(v))
                        .append("</text>\n");
            }
            String[] lines = groups.get(g).split("\n");
            for (int i = 0; i < lines.length; i++) {
                o.append("<text x=\"").append(n(gx + groupWidth / 2)).append("\" y=\"").append(n(base + 18 + 14 * i))
                        .append("\" text-anchor=\"middle\">").append(esc(lines[i])).append("</text>\n");
            }
        }
        // the reference line, over the bars
        double y1 = base - scale;
        o.append("<line class=\"ref-line\" x1=\"").append(n(LEFT)).append("\" y1=\"").append(n(y1)).append("\" x2=\"")
                .append(n(width - RIGHT)).append("\" y2=\"").append(n(y1))
                .append("\" stroke=\"#c0392b\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n");
        o.append("<line x1=\"").append(n(LEFT)).append("\" y1=\"").append(n(base)).append("\" x2=\"")
                .append(n(width - RIGHT)).append("\" y2=\"").append(n(base)).append("\" stroke=\"#444444\"/>\n");
        o.append("</svg>\n");
        return o.toString();
    }

    private String color(int i) {
        return colors.get(i);
    }

    /** A coordinate: one decimal, always with a dot. */
    private static String n(double x) {
        return String.format(Locale.ROOT, "%.1f", x);
    }

    /** A bar's value as the report prints ratios. */
    private static String value(double v) {
        return BenchReport.fmt2(v);
    }

    /** A tick label: as few decimals as the value needs, at least one (1.0, 2.5, 0.25). */
    private static String tick(double v) {
        String s = new BigDecimal(String.format(Locale.ROOT, "%.4f", v)).stripTrailingZeros().toPlainString();
        return s.contains(".") ? s : s + ".0";
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
