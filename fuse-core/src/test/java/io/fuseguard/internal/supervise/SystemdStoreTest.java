package io.fuseguard.internal.supervise;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** When a supervisor hands its connection to systemd's descriptor store: only when the unit has one. */
class SystemdStoreTest {
    @Test
    void onlyWithANotifySocketAndAStoreOfTwoOrMore() {
        assertThat(SystemdStore.available(Map.of())).isFalse();
        assertThat(SystemdStore.available(Map.of("FDSTORE", "4"))).as("not run by systemd").isFalse();
        assertThat(SystemdStore.available(Map.of("NOTIFY_SOCKET", "/run/x"))).as("no store").isFalse();
        assertThat(SystemdStore.available(Map.of("NOTIFY_SOCKET", "/run/x", "FDSTORE", "4"))).isTrue();
        assertThat(SystemdStore.available(Map.of("NOTIFY_SOCKET", "/run/x", "FDSTORE", "1")))
                .as("too small for the device and the journal").isFalse();
        assertThat(SystemdStore.available(Map.of("NOTIFY_SOCKET", "@sd", SystemdStore.OPT_IN, "4")))
                .as("systemd before 254, told by the unit").isTrue();
        assertThat(SystemdStore.available(Map.of("NOTIFY_SOCKET", "/run/x", "FDSTORE", "0", SystemdStore.OPT_IN,
                "4"))).as("systemd's own word wins").isFalse();
        assertThat(SystemdStore.available(Map.of("NOTIFY_SOCKET", "/run/x", "FDSTORE", "many"))).isFalse();
    }
}
