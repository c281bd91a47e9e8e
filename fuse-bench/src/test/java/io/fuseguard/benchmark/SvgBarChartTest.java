package io.fuseguard.benchmark;

import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilderFactory;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class SvgBarChartTest {
    private static final String SVG_NS = "http://www.w3.org/2000/svg";

    private static SvgBarChart chart() {
        return new SvgBarChart("A & B <against> C", "× the reference", List.of("random read\n1 job", "stat", "tar"),
                List.of("MemoryFs / C", "adapter / plain"),
                new double[][] {{0.5, 2.0}, {1.25, Double.NaN}, {0.91, 3.38}});
    }

    /** Parses with a strict, namespace-aware parser that refuses DTDs: the document must be plain, well-formed SVG. */
    static Document parse(String svg) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setNamespaceAware(true);
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
        return f.newDocumentBuilder().parse(new ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    }

    static List<Element> elements(Document d, String name, String cls) {
        NodeList nodes = d.getElementsByTagNameNS(SVG_NS, name);
        List<Element> out = new ArrayList<>();
        for (int i = 0; i < nodes.getLength(); i++) {
            Element e = (Element) nodes.item(i);
            if (cls == null || cls.equals(e.getAttribute("class"))) {
                out.add(e);
            }
        }
        return out;
    }

    private static double num(Element e, String attr) {
        return Double.parseDouble(e.getAttribute(attr));
    }

    @Test
    void isWellFormedSvgWithEscapedText() throws Exception {
        Document d = parse(chart().svg());
        assertThat(d.getDocumentElement().getLocalName()).isEqualTo("svg");
        assertThat(d.getDocumentElement().getNamespaceURI()).isEqualTo(SVG_NS);
        List<String> texts = elements(d, "text", null).stream().map(Element::getTextContent).toList();
        assertThat(texts).contains("A & B <against> C", "MemoryFs / C", "adapter / plain", "random read", "1 job");
    }

    @Test
    void barHeightsAreProportionalToTheValuesOnOneBaseline() throws Exception {
        List<Element> bars = elements(parse(chart().svg()), "rect", "bar");
        // one bar per value; the missing one (NaN) has none
        assertThat(bars).hasSize(5);
        assertThat(bars.stream().map(b -> b.getAttribute("data-value")).toList())
                .containsExactly("0.50", "2.00", "1.25", "0.91", "3.38");
        double base = num(bars.get(0), "y") + num(bars.get(0), "height");
        double perUnit = num(bars.get(0), "height") / 0.5;
        double[] values = {0.5, 2.0, 1.25, 0.91, 3.38};
        for (int i = 0; i < bars.size(); i++) {
            Element b = bars.get(i);
            assertThat(num(b, "y") + num(b, "height")).as("bar %d's foot", i).isCloseTo(base, within(0.11));
            // coordinates carry one decimal: allow the rounding of both heights
            assertThat(num(b, "height")).as("bar %d's height", i).isCloseTo(values[i] * perUnit, within(0.2));
        }
        assertThat(num(bars.get(4), "height") / num(bars.get(0), "height")).isCloseTo(3.38 / 0.5, within(0.01));
    }

    @Test
    void drawsTheLineAtOneAcrossThePlot() throws Exception {
        Document d = parse(chart().svg());
        List<Element> lines = elements(d, "line", "ref-line");
        assertThat(lines).hasSize(1);
        Element line = lines.get(0);
        assertThat(num(line, "y1")).isEqualTo(num(line, "y2"));
        Element bar = elements(d, "rect", "bar").get(0);              // value 0.5
        double base = num(bar, "y") + num(bar, "height");
        double perUnit = num(bar, "height") / 0.5;
        assertThat(base - num(line, "y1")).isCloseTo(perUnit, within(0.3));
        // it spans every group: from left of the first bar to right of the last
        List<Element> bars = elements(d, "rect", "bar");
        assertThat(num(line, "x1")).isLessThan(num(bars.get(0), "x"));
        assertThat(num(line, "x2")).isGreaterThan(num(bars.get(bars.size() - 1), "x"));
    }

    @Test
    void theAxisHoldsTheLargestValueAndOne() {
        assertThat(chart().axisMax()).isGreaterThanOrEqualTo(3.38);
        SvgBarChart small = new SvgBarChart("t", "y", List.of("g"), List.of("s"), new double[][] {{0.2}});
        assertThat(small.axisMax()).isGreaterThanOrEqualTo(1.0);
        assertThat(SvgBarChart.tickStep(1.12)).isEqualTo(0.25);
        assertThat(SvgBarChart.tickStep(3.8)).isEqualTo(1.0);
        assertThat(SvgBarChart.tickStep(240)).isEqualTo(50.0);
    }

    @Test
    void eachSeriesHasItsColour() throws Exception {
        SvgBarChart c = new SvgBarChart("t", "y", List.of("a", "b"), List.of("s0", "s1"),
                new double[][] {{1, 2}, {3, 4}}, List.of("#112233", "#aabbcc"));
        List<String> fills = elements(parse(c.svg()), "rect", "bar").stream().map(e -> e.getAttribute("fill")).toList();
        assertThat(fills).containsExactly("#112233", "#aabbcc", "#112233", "#aabbcc");
        assertThatThrownBy(() -> new SvgBarChart("t", "y", List.of("a"), List.of("s"), new double[][] {{1}},
                List.of("red"))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void theSameInputGivesTheSameBytes() {
        assertThat(chart().svg()).isEqualTo(chart().svg());
    }

    @Test
    void refusesValuesThatDoNotFitTheGroupsAndSeries() {
        assertThatThrownBy(() -> new SvgBarChart("t", "y", List.of("a", "b"), List.of("s"), new double[][] {{1}}))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new SvgBarChart("t", "y", List.of("a"), List.of("s"), new double[][] {{1, 2}}))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new SvgBarChart("t", "y", List.of("a"), List.of("s"), new double[][] {{-1}}))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
