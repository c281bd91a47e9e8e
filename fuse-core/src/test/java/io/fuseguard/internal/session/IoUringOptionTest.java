package io.fuseguard.internal.session;

import io.fuseguard.config.MountSettings;
import io.fuseguard.mount.MountException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The io_uring option: off by default, on by the typed setting or the raw option, refused with clone_fd. */
class IoUringOptionTest {
    @Test
    void offByDefaultOnByTheSettingOrTheRawOption() {
        assertThat(MountOptions.parse(MountSettings.defaults().options(), 1 << 20).ioUring()).isFalse();
        MountSettings on = MountSettings.builder().ioUring(true).build();
        assertThat(on.ioUring()).isTrue();
        assertThat(MountOptions.parse(on.options(), 1 << 20).ioUring()).isTrue();
        assertThat(on.toBuilder().ioUring(false).build().options()).doesNotContain("io_uring");
        assertThat(MountOptions.parse(List.of("io_uring"), 1 << 20).kernel()).as("not a kernel mount option")
                .doesNotContain("io_uring");
    }

    @Test
    void cloneFdAndIoUringAreRefusedTogether() {
        assertThatThrownBy(() -> MountOptions.parse(List.of("io_uring", "clone_fd"), 1 << 20))
                .isInstanceOf(MountException.class)
                .hasMessageContaining("'clone_fd' and 'io_uring' cannot be combined");
        assertThatThrownBy(() -> MountOptions.parse(List.of("io_uring=1"), 1 << 20))
                .isInstanceOf(MountException.class).hasMessageContaining("takes no value");
    }
}
