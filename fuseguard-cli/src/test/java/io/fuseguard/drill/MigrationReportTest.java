package io.fuseguard.drill;

import io.fuseguard.drill.MigrationReport.Column;
import io.fuseguard.drill.MigrationReport.Report;
import io.fuseguard.drill.MigrationReport.Row;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.MountTable;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The migration report in its quick mode (2 s stall, 1 repetition), so that it cannot rot: the table has its
 * shape, and the cells that make the one-line migration safe hold for fuseguard's defaults.
 */
class MigrationReportTest {
    @BeforeAll
    static void needsRootAndFuse() {
        FuseAvailability.assumeUsable();
        Optional<String> why = DrillRunner.unavailableReason();
        if (why.isPresent()) {
            if (FuseAvailability.required()) {
                throw new AssertionError("FUSEGUARD_REQUIRE_FUSE=true but the migration report cannot run: " + why.get());
            }
            org.junit.jupiter.api.Assumptions.abort(why.get());
        }
    }

    @Test
    @Timeout(value = 150, unit = TimeUnit.SECONDS)
    void quickReportHasItsShapeAndTheDefaultsKeepEverything() throws Exception {
        long before = MountTable.read().stream().filter(e -> e.mountPoint().toString()
                .startsWith("/tmp/migration-report-")).count();
        Report report = MigrationReport.run(MigrationReport.Options.quick());
        String md = report.markdown();
        System.out.println(md);

        List<String> table = Arrays.stream(md.split("\n")).filter(l -> l.startsWith("|")).toList();
        assertThat(table.get(0)).isEqualTo("| | plain jnr-fuse | fuseguard defaults | fuseguard `BOUNDED` |");
        assertThat(table).hasSize(2 + Row.values().length);
        for (String line : table) {
            // four cells per line ('|' inside a cell is escaped)
            assertThat(line.split("(?<!\\\\)\\|", -1)).as(line).hasSize(6);
        }
        assertThat(report.header()).anyMatch(h -> h.contains("kernel:")).anyMatch(h -> h.contains("git commit:"));

        assertThat(report.cell(Row.SHELL, Column.DEFAULTS)).isEqualTo("yes");
        assertThat(report.cell(Row.CP_STORED, Column.PLAIN)).isEqualTo("yes");
        assertThat(report.cell(Row.CP_STORED, Column.DEFAULTS)).isEqualTo("yes");
        assertThat(report.cell(Row.CALLS, Column.DEFAULTS)).matches("[1-9][0-9]* / 1 / 1");
        assertThat(report.cell(Row.WARNING, Column.DEFAULTS)).startsWith("yes, WARN").contains("flush()");
        assertThat(report.cell(Row.INDEXER, Column.DEFAULTS)).startsWith("works");
        assertThat(report.cell(Row.INDEXER, Column.BOUNDED)).startsWith("EDEADLK");
        assertThat(report.cell(Row.UID, Column.DEFAULTS)).isEqualTo("65534");
        assertThat(report.cell(Row.STALL_CP, Column.DEFAULTS)).endsWith("exit 0");
        assertThat(report.cell(Row.STALL_STORED, Column.DEFAULTS)).startsWith("yes");
        assertThat(report.cell(Row.SEED, Column.DEFAULTS)).startsWith("gone in").doesNotContain("wedged");
        assertThat(report.cell(Row.SEED, Column.PLAIN)).contains("wedged 1/1").contains("released by fusectl abort");
        assertThat(report.cell(Row.SEED_ALLOWED, Column.DEFAULTS)).startsWith("gone in");

        long after = MountTable.read().stream().filter(e -> e.mountPoint().toString()
                .startsWith("/tmp/migration-report-")).count();
        assertThat(after).as("mounts left behind").isEqualTo(before);
    }
}
