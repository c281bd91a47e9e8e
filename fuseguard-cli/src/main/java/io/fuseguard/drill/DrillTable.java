package io.fuseguard.drill;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The drill's printed table. One block per scenario: its description on a line of its own (a long description
 * never pushes the columns out of line), then one row per side with fixed columns that keep apart what the side
 * did by itself (ended within so many ms, or never: wedged) and what the fusectl abort did afterwards to the plain
 * side (released it in so many ms). Kernel evidence wraps inside its column.
 */
public final class DrillTable {
    private static final String ROW = "   %-10s %-19s %-6s %-42s %s";
    private static final int EVIDENCE_WIDTH = 42;

    private DrillTable() {
    }

    /**
     * Renders the outcomes, grouped by scenario in the order given.
     *
     * @param outcomes what each side did
     * @return the table, with a closing line saying whether fuseguard's side was clean everywhere
     */
    public static String render(List<Outcome> outcomes) {
        Map<Scenario, List<Outcome>> byScenario = new LinkedHashMap<>();
        outcomes.forEach(o -> byScenario.computeIfAbsent(o.scenario(), k -> new ArrayList<>()).add(o));
        StringBuilder sb = new StringBuilder();
        int n = 0;
        for (Map.Entry<Scenario, List<Outcome>> e : byScenario.entrySet()) {
            Scenario s = e.getKey();
            sb.append(String.format("%d. %s%n", ++n, s.description()));
            if (s == Scenario.SELF_ACCESS || s == Scenario.DAEMON_DEATH) {
                for (Outcome o : e.getValue()) {
                    // the closing line's "see above" must point somewhere: a failed row of these says so too
                    String mark = o.impl().equals("fuseguard") && !o.clean() ? "NOT CLEAN: " : "";
                    sb.append(String.format("   %-10s %s%s%n", o.impl(), mark,
                            o.detail().isEmpty() ? "-" : o.detail()));
                }
                continue;
            }
            row(sb, "SIDE", "ENDED BY ITSELF", "STUCK", "KERNEL EVIDENCE", "THEN FUSECTL ABORT");
            for (Outcome o : e.getValue()) {
                List<String> evidence = wrap(o.wedgeEvidence().isEmpty() ? (o.detail().isEmpty() ? "-" : o.detail())
                        : o.wedgeEvidence());
                row(sb, o.impl(), ended(o), Integer.toString(o.stuckTasks().size()), evidence.get(0), abort(o));
                for (String more : evidence.subList(1, evidence.size())) {
                    row(sb, "", "", "", more, "");
                }
            }
        }
        boolean clean = outcomes.stream().filter(o -> o.impl().equals("fuseguard")).allMatch(Outcome::clean);
        sb.append(clean ? "fuseguard: clean in every scenario" : "fuseguard: NOT clean, see above").append('\n');
        return sb.toString();
    }

    private static void row(StringBuilder sb, String side, String ended, String stuck, String evidence,
                            String abort) {
        sb.append(String.format(ROW, side, ended, stuck, evidence, abort).stripTrailing()).append('\n');
    }

    private static String ended(Outcome o) {
        if (o.teardownMillis() < 0) {
            return o.wedged() ? "never (wedged)" : "never";
        }
        String t = "in " + o.teardownMillis() + " ms";
        if (o.impl().equals("fuseguard") && !o.clean()) {
            return t + " (SLOW)";
        }
        return t;
    }

    private static String abort(Outcome o) {
        if (o.teardownMillis() >= 0) {
            return "not needed";
        }
        return o.recoveryMillis() >= 0 ? "released in " + o.recoveryMillis() + " ms" : "did not release it";
    }

    /** Splits at ", " and "; " so that no line is wider than the evidence column (a long word stays whole). */
    static List<String> wrap(String text) {
        List<String> lines = new ArrayList<>();
        StringBuilder line = new StringBuilder();
        for (String part : text.split("(?<=[,;]) ")) {
            if (line.length() > 0 && line.length() + 1 + part.length() > EVIDENCE_WIDTH) {
                lines.add(line.toString());
                line.setLength(0);
            }
            if (line.length() > 0) {
                line.append(' ');
            }
            line.append(part);
        }
        lines.add(line.toString());
        return lines;
    }
}
