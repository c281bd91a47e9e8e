package io.fuseguard.config;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How typed settings and raw options become the mount's {@code -o} list. */
class MountSettingsTest {

    @Test
    void typedSettingsBecomeOptions() {
        MountSettings s = MountSettings.builder().fsName("data").readOnly(true).allowOther(true).useIno(true)
                .cacheTimeouts(Duration.ofMillis(1500), Duration.ZERO, Duration.ofNanos(1)).build();
        assertThat(s.options()).contains("ro", "allow_other", "default_permissions", "use_ino",
                "attr_timeout=1.5", "entry_timeout=0", "negative_timeout=0.000000001", "subtype=fuseguard");
        assertThat(s.options()).anyMatch(o -> o.matches("fsname=fuseguard:\\d+:data"));
        assertThat(s.hasOption("use_ino")).isTrue();
        assertThat(s.hasOption("nonempty")).isFalse();
    }

    @Test
    void aRawOptionReplacesTheTypedOneOfTheSameKey() {
        MountSettings s = MountSettings.builder().option("attr_timeout=7").option("umask=022").build();
        assertThat(s.options()).contains("attr_timeout=7", "umask=022").doesNotContain("attr_timeout=1");
    }

    @Test
    void aRawAllowOtherGetsTheKernelsPermissionChecksToo() {
        assertThat(MountSettings.builder().option("allow_other").build().options())
                .contains("allow_other", "default_permissions");
        assertThat(MountSettings.defaults().options()).doesNotContain("default_permissions");
    }

    @Test
    void noDefaultPermissionsKeepsPlainLibfusesAllowOther() {
        assertThat(MountSettings.builder().option("allow_other").option("no_default_permissions").build().options())
                .contains("allow_other").doesNotContain("default_permissions");
        assertThat(MountSettings.builder().allowOther(true).defaultPermissions(false).build().options())
                .contains("allow_other").doesNotContain("default_permissions");
        assertThat(MountSettings.builder().defaultPermissions(true).build().options())
                .contains("default_permissions").doesNotContain("no_default_permissions");
        assertThatThrownBy(() -> MountSettings.builder().option("default_permissions")
                .option("no_default_permissions").build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("contradict");
    }

    @Test
    void rawRwContradictingReadOnlyIsRefused() {
        assertThatThrownBy(() -> MountSettings.builder().readOnly(true).option("rw").build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("rw");
    }

    @Test
    void badInputIsRefusedWithTheReason() {
        assertThatThrownBy(() -> MountSettings.builder().option("a,b").build())
                .hasMessageContaining("one option per call");
        assertThatThrownBy(() -> MountSettings.builder().fsName("has space").build())
                .hasMessageContaining("fsName");
        assertThatThrownBy(() -> MountSettings.builder().maxWrite(100).build()).hasMessageContaining("maxWrite");
    }

    @Test
    void toBuilderKeepsEverything() {
        MountSettings s = MountSettings.builder().fsName("x").debug(true).option("nodev")
                .unmountTimeout(Duration.ofSeconds(2)).build();
        assertThat(s.toBuilder().build()).isEqualTo(s);
    }

    @Test
    void autoUnmountIsTheMountOptionOnceWhicheverWayItIsAsked() {
        assertThat(MountSettings.defaults().autoUnmount()).isFalse();
        assertThat(MountSettings.defaults().options()).doesNotContain("auto_unmount");
        MountSettings typed = MountSettings.builder().autoUnmount(true).autoUnmount(true).build();
        assertThat(typed.autoUnmount()).isTrue();
        assertThat(typed.options()).containsOnlyOnce("auto_unmount");
        MountSettings raw = MountSettings.builder().option("auto_unmount").build();
        assertThat(raw.autoUnmount()).isTrue();
        assertThat(raw.toBuilder().autoUnmount(false).build().options()).doesNotContain("auto_unmount");
        assertThat(io.fuseguard.config.FuseguardConfig.builder().autoUnmount(true).build().mount().autoUnmount())
                .isTrue();
    }
}
