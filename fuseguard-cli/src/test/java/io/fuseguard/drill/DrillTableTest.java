package io.fuseguard.drill;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The drill's table reads right: what a side did by itself and what the abort did are apart, columns stay put. */
class DrillTableTest {
    private static final List<Outcome> OUTCOMES = List.of(
            new Outcome(Scenario.NDRIVE_KILL, "plain", false, -1, List.of("1234 java D", "1240 cat D"),
                    "request_wait_answer, fuse_flush, zap_pid_ns_processes, fusectl waiting=3, 2 tasks in D state",
                    27, ""),
            new Outcome(Scenario.NDRIVE_KILL, "fuseguard", true, 15, List.of(), "", -1, ""),
            new Outcome(Scenario.OWN_FILE_KILL, "plain", false, -1, List.of("99 java D"),
                    "request_wait_answer, fusectl waiting=1", -1, ""),
            new Outcome(Scenario.OWN_FILE_KILL, "fuseguard", false, 2500, List.of(), "", -1, ""),
            new Outcome(Scenario.SELF_ACCESS, "fuseguard", true, 0, List.of(), "", -1,
                    "refused: open failed (Resource deadlock avoided); the log says why"));

    @Test
    void whatASideDidAndWhatTheAbortDidAreInTheirOwnColumns() {
        String t = DrillTable.render(OUTCOMES);
        System.out.print(t);
        List<String> lines = t.lines().toList();
        String header = lines.stream().filter(l -> l.contains("ENDED BY ITSELF")).findFirst().orElseThrow();
        int ended = header.indexOf("ENDED BY ITSELF");
        int abort = header.indexOf("THEN FUSECTL ABORT");
        String plain = lines.stream().filter(l -> l.startsWith("   plain") && l.contains("released in 27 ms"))
                .findFirst().orElseThrow();
        assertThat(plain.indexOf("never (wedged)")).isEqualTo(ended);
        assertThat(plain.indexOf("released in 27 ms")).isEqualTo(abort);
        String guarded = lines.get(lines.indexOf(plain) + 3); // after two lines of wrapped evidence
        assertThat(guarded).startsWith("   fuseguard");
        assertThat(guarded.indexOf("in 15 ms")).isEqualTo(ended);
        assertThat(guarded.indexOf("not needed")).isEqualTo(abort);
        assertThat(t).contains("did not release it").contains("in 2500 ms (SLOW)");
    }

    @Test
    void longScenarioNamesAndEvidenceDoNotShiftTheColumns() {
        String t = DrillTable.render(OUTCOMES);
        assertThat(t).contains("1. " + Scenario.NDRIVE_KILL.description() + "\n");
        int abort = -1;
        for (String l : t.lines().toList()) {
            if (l.startsWith("   ") && !l.startsWith("   fuseguard  refused")) {
                assertThat(l.length()).as(l).isLessThanOrEqualTo(110);
                int at = l.indexOf("THEN FUSECTL ABORT");
                abort = at >= 0 ? at : abort;
            }
        }
        assertThat(abort).isPositive();
        // the evidence wraps inside its column: continuation lines start where the column starts
        List<String> lines = t.lines().toList();
        String first = lines.stream().filter(l -> l.contains("request_wait_answer, fuse_flush")).findFirst()
                .orElseThrow();
        String next = lines.get(lines.indexOf(first) + 1);
        assertThat(next.indexOf(next.strip())).isEqualTo(first.indexOf("request_wait_answer"));
        assertThat(t).endsWith("fuseguard: NOT clean, see above\n");
        assertThat(DrillTable.render(OUTCOMES.subList(0, 2))).endsWith("fuseguard: clean in every scenario\n");
    }

    @Test
    void aFailedRowWithoutColumnsIsMarkedSoTheClosingLinePointsSomewhere() {
        String t = DrillTable.render(List.of(new Outcome(Scenario.DAEMON_DEATH, "fuseguard", false, 0, List.of(), "",
                -1, "0 client errors, next answer 2093 ms")));
        assertThat(t).contains("fuseguard  NOT CLEAN: 0 client errors, next answer 2093 ms");
        assertThat(t).endsWith("fuseguard: NOT clean, see above\n");
    }
}
