package io.fuseguard.internal.log;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** A storm of alike lines becomes a few lines and a count, per kind and window. */
class LogLimiterTest {
    private static final long S = 1_000_000_000L;

    @Test
    void theFirstLinesOfAWindowAreLoggedTheRestCounted() {
        LogLimiter l = new LogLimiter(10 * S, 3);
        int logged = 0;
        for (int i = 0; i < 100; i++) {
            if (l.allow("LOOKUP EIO", "line " + i, i * 1000L)) {
                logged++;
            }
        }
        assertThat(logged).isEqualTo(3);
        assertThat(l.ended(5 * S)).as("the window is still open").isEmpty();
        var summaries = l.ended(10 * S);
        assertThat(summaries).hasSize(1);
        assertThat(summaries.get(0).suppressed()).isEqualTo(97);
        assertThat(summaries.get(0).first()).isEqualTo("line 0");
        assertThat(l.active()).isFalse();
    }

    @Test
    void kindsAreCountedApartAndANewWindowLogsAgain() {
        LogLimiter l = new LogLimiter(10 * S, 1);
        assertThat(l.allow("a", "a1", 0)).isTrue();
        assertThat(l.allow("b", "b1", 0)).isTrue();
        assertThat(l.allow("a", "a2", 1)).isFalse();
        assertThat(l.allow("a", "a3", 11 * S)).as("a new window").isTrue();
        assertThat(l.endAll()).as("the first window's count is kept").extracting(LogLimiter.Summary::key,
                LogLimiter.Summary::suppressed).containsExactly(org.assertj.core.groups.Tuple.tuple("a", 1));
    }
}
