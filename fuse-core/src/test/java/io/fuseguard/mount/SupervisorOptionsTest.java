package io.fuseguard.mount;

import io.fuseguard.config.FuseguardConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Options a supervised mount cannot keep are refused before anything is mounted. */
class SupervisorOptionsTest {
    @Test
    void cloneFdIsRefusedWithTheReasonAndWhatToDo() {
        FuseguardConfig config = FuseguardConfig.builder().cloneFd(true).shutdownHook(false).build();
        assertThatThrownBy(() -> Supervisor.start(Path.of("/nonexistent-mount-point"), config,
                new Supervisor.Options(List.of("/bin/true"), false, null, null)))
                .isInstanceOfSatisfying(MountException.class, e -> {
                    assertThat(e.reason()).isEqualTo(MountException.Reason.OPTION_REJECTED);
                    assertThat(e.getMessage()).contains("clone_fd").contains("--supervise")
                            .contains("dies");
                });
    }
}
