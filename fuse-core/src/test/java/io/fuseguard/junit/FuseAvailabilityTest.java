package io.fuseguard.junit;

import org.junit.jupiter.api.Test;
import org.opentest4j.TestAbortedException;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Skip or fail is decided by fuseguard's own switch, FUSEGUARD_REQUIRE_FUSE, never by the generic CI. */
class FuseAvailabilityTest {

    /** Prints {@link FuseAvailability#required()} (run in a child JVM with a chosen environment). */
    public static void main(String[] args) {
        System.out.print(FuseAvailability.required());
    }

    private static String requiredIn(Map<String, String> env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), FuseAvailabilityTest.class.getName());
        pb.environment().remove("CI");
        pb.environment().remove(FuseAvailability.REQUIRE_ENV);
        pb.environment().putAll(env);
        pb.redirectErrorStream(true);
        Process p = pb.start();
        try {
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).as("child JVM finished").isTrue();
            return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void onlyTheOwnSwitchRequiresFuse() throws Exception {
        assertThat(requiredIn(Map.of("CI", "true"))).as("hosted CI sets CI=true: still a skip").isEqualTo("false");
        assertThat(requiredIn(Map.of())).isEqualTo("false");
        assertThat(requiredIn(Map.of(FuseAvailability.REQUIRE_ENV, "true"))).isEqualTo("true");
        assertThat(requiredIn(Map.of(FuseAvailability.REQUIRE_ENV, "false", "CI", "true"))).isEqualTo("false");
    }

    @Test
    void anUnusableMachineIsASkipUnlessRequired() {
        Optional<String> why = Optional.of("/dev/fuse does not exist");
        assertThatThrownBy(() -> FuseAvailability.assume(why, false)).isInstanceOf(TestAbortedException.class)
                .hasMessageContaining("/dev/fuse does not exist");
        assertThatThrownBy(() -> FuseAvailability.assume(why, true)).isInstanceOf(AssertionError.class)
                .hasMessageContaining("FUSEGUARD_REQUIRE_FUSE=true").hasMessageContaining("/dev/fuse does not exist");
        FuseAvailability.assume(Optional.empty(), true); // usable: neither
        List.of(true, false).forEach(required -> FuseAvailability.assume(Optional.empty(), required));
    }
}
