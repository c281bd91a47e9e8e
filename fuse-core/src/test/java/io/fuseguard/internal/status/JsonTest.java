package io.fuseguard.internal.status;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The status files' JSON: what is written reads back the same, and anything damaged is refused. */
class JsonTest {
    @Test
    void whatIsWrittenReadsBack() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("version", 1L);
        m.put("source", "fuseguard:12:a \"quoted\" \\ name\n\u0001é");
        m.put("used", List.of("async_read", "passthrough"));
        m.put("on", true);
        m.put("nothing", null);
        m.put("nested", Map.of("minor", 45L));
        String text = Json.write(m);
        assertThat(text).doesNotContain("\n").contains("\\u0001");
        assertThat(Json.parse(text)).isEqualTo(m);
    }

    @Test
    void damagedTextIsRefused() {
        for (String bad : List.of("", "{", "{\"a\":1", "{\"a\":1}x", "[1,]", "{\"a\" 1}", "\"open", "tru", "{\"a\":-}",
                "\"\\q\"")) {
            assertThatThrownBy(() -> Json.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
    }
}
