package io.fuseguard.internal.mount;

import io.fuseguard.config.MountSettings;
import io.fuseguard.internal.session.MountOptions;
import io.fuseguard.mount.MountException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static io.fuseguard.internal.mount.MountRequest.MS_DIRSYNC;
import static io.fuseguard.internal.mount.MountRequest.MS_NOATIME;
import static io.fuseguard.internal.mount.MountRequest.MS_NODEV;
import static io.fuseguard.internal.mount.MountRequest.MS_NODIRATIME;
import static io.fuseguard.internal.mount.MountRequest.MS_NOEXEC;
import static io.fuseguard.internal.mount.MountRequest.MS_NOSUID;
import static io.fuseguard.internal.mount.MountRequest.MS_RDONLY;
import static io.fuseguard.internal.mount.MountRequest.MS_RELATIME;
import static io.fuseguard.internal.mount.MountRequest.MS_STRICTATIME;
import static io.fuseguard.internal.mount.MountRequest.MS_SYNCHRONOUS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The kernel mount options are translated as libfuse 2.9's {@code fuse_mount} translated them (source, type,
 * flags, parameters, fusermount's options), and what cannot be done faithfully is refused or noted.
 */
class MountRequestTest {
    private static MountRequest of(String... options) {
        return MountRequest.of(List.of(options));
    }

    private static String fusermount(MountRequest r) {
        return r.fusermountOptions(new ArrayList<>());
    }

    @Test
    void theDefaultSettingsMountAsLibfuseMountedThem() {
        MountSettings defaults = MountSettings.defaults();
        List<String> kernel = MountOptions.parse(defaults.options(), defaults.maxWrite()).kernel();
        MountRequest r = MountRequest.of(kernel);
        String fsname = "fuseguard:" + ProcessHandle.current().pid() + ":fs";
        assertThat(r.source()).isEqualTo(fsname);
        assertThat(r.type()).isEqualTo("fuse.fuseguard");
        assertThat(r.flags()).isEqualTo(MS_NOSUID | MS_NODEV);
        assertThat(r.parameters()).isEmpty();
        assertThat(r.autoUnmount()).isFalse();
        assertThat(r.data(7, 040000, 1000, 1001)).isEqualTo("fd=7,rootmode=40000,user_id=1000,group_id=1001");
        assertThat(r.mountAttributes()).as("nosuid, nodev, relatime").isEqualTo(0x2 | 0x4);
        assertThat(r.superblockFlags()).isEmpty();
        assertThat(fusermount(r)).isEqualTo("rw,nosuid,nodev,fsname=" + fsname + ",subtype=fuseguard");
    }

    @Test
    void flagOptionsApplyInOrderStartingFromNosuidNodev() {
        assertThat(of("ro").flags()).isEqualTo(MS_RDONLY | MS_NOSUID | MS_NODEV);
        assertThat(of("ro", "rw").flags()).isEqualTo(MS_NOSUID | MS_NODEV);
        assertThat(of("suid", "dev").flags()).isZero();
        assertThat(of("noexec", "sync", "dirsync", "noatime").flags())
                .isEqualTo(MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_DIRSYNC | MS_NOATIME);
        assertThat(of("sync", "async", "noatime", "atime", "noexec", "exec").flags()).isEqualTo(MS_NOSUID | MS_NODEV);
        assertThat(of("relatime", "nodiratime").flags()).isEqualTo(MS_NOSUID | MS_NODEV | MS_RELATIME | MS_NODIRATIME);
        assertThat(of("nodiratime", "diratime", "relatime", "norelatime").flags()).isEqualTo(MS_NOSUID | MS_NODEV);
    }

    @Test
    void theNewApiGetsSuperblockFlagsAndMountAttributesApart() {
        MountRequest r = of("ro", "sync", "dirsync", "noexec", "nodiratime");
        assertThat(r.superblockFlags()).containsExactly("ro", "sync", "dirsync");
        assertThat(r.mountAttributes()).isEqualTo(0x1 | 0x2 | 0x4 | 0x8 | 0x80);
        assertThat(of("noatime").mountAttributes() & 0x70).as("MOUNT_ATTR_NOATIME").isEqualTo(0x10);
        assertThat(of("noatime", "strictatime").mountAttributes() & 0x70).as("strictatime wins, as in mount(2)")
                .isEqualTo(0x20);
        assertThat(of("suid", "dev").mountAttributes()).isZero();
    }

    @Test
    void kernelParametersKeepTheirOrderAndValues() {
        MountRequest r = of("allow_other", "default_permissions", "max_read=131072", "rootcontext=system_u:r");
        assertThat(r.parameters()).containsExactly("allow_other", "default_permissions", "max_read=131072",
                "rootcontext=system_u:r");
        assertThat(r.data(3, 040000, 0, 0)).isEqualTo("allow_other,default_permissions,max_read=131072,"
                + "rootcontext=system_u:r,fd=3,rootmode=40000,user_id=0,group_id=0");
        assertThat(fusermount(r)).isEqualTo("rw,nosuid,nodev,allow_other,default_permissions,max_read=131072,"
                + "rootcontext=system_u:r,fsname=/dev/fuse");
    }

    @Test
    void fusermountsOwnOptionsNeverReachTheKernel() {
        MountRequest r = of("auto_unmount", "nonempty", "fsname=x", "subtype=y");
        assertThat(r.autoUnmount()).isTrue();
        assertThat(r.nonempty()).isTrue();
        assertThat(r.parameters()).isEmpty();
        assertThat(r.data(3, 040000, 0, 0)).isEqualTo("fd=3,rootmode=40000,user_id=0,group_id=0");
        assertThat(r.source()).isEqualTo("x");
        assertThat(r.type()).isEqualTo("fuse.y");
        assertThat(fusermount(r)).isEqualTo("rw,nosuid,nodev,nonempty,auto_unmount,fsname=x,subtype=y");
    }

    @Test
    void withoutFsnameTheSourceIsTheSubtypeOrTheDeviceAsLibfuseChose() {
        assertThat(of("subtype=y").source()).isEqualTo("y");
        assertThat(of().source()).isEqualTo("/dev/fuse");
        assertThat(of().type()).isEqualTo("fuse");
    }

    @Test
    void blkdevMountsAFuseblk() {
        MountRequest r = of("blkdev", "fsname=/dev/loop0", "blksize=4096");
        assertThat(r.blockDevice()).isTrue();
        assertThat(r.type()).isEqualTo("fuseblk");
        assertThat(r.parameters()).containsExactly("blksize=4096");
        assertThat(fusermount(r)).isEqualTo("rw,nosuid,nodev,blksize=4096,blkdev,fsname=/dev/loop0");
    }

    @Test
    void fusermountGetsWhatWasAskedForEvenWhereLibfuseDroppedIt() {
        // libfuse passed only flags that are set: "suid" vanished and fusermount's default nosuid won silently
        assertThat(fusermount(of("suid", "fsname=x"))).isEqualTo("rw,suid,nodev,fsname=x");
        assertThat(fusermount(of("ro", "noexec", "sync", "noatime", "dirsync", "fsname=x")))
                .isEqualTo("ro,nosuid,nodev,noexec,sync,noatime,dirsync,fsname=x");
    }

    @Test
    void optionsFusermountRefusesAreLeftOutAndNamed() {
        List<String> dropped = new ArrayList<>();
        String o = of("relatime", "strictatime", "nodiratime", "fsname=x").fusermountOptions(dropped);
        assertThat(o).isEqualTo("rw,nosuid,nodev,fsname=x");
        assertThat(dropped).containsExactly("nodiratime", "relatime", "strictatime");
    }

    @Test
    void fsnameAndSubtypeAreEscapedForFusermount() {
        assertThat(fusermount(of("fsname=a\\b", "subtype=c\\d"))).endsWith("fsname=a\\\\b,subtype=c\\\\d");
    }

    @Test
    void largeReadIsNotedNotPassed() {
        MountRequest r = of("large_read");
        assertThat(r.parameters()).isEmpty();
        assertThat(r.notes()).singleElement().asString().contains("large_read");
    }

    @Test
    void allowRootIsRefusedBecauseNothingWouldEnforceIt() {
        assertThatThrownBy(() -> of("allow_root"))
                .isInstanceOfSatisfying(MountException.class,
                        e -> assertThat(e.reason()).isEqualTo(MountException.Reason.OPTION_REJECTED))
                .hasMessageContaining("allow_root").hasMessageContaining("allow_other");
    }

    @Test
    void valuesAreRequiredWhereTheKernelNeedsThem() {
        for (String o : List.of("max_read", "max_read=", "blksize", "context=", "fsname=", "subtype")) {
            assertThatThrownBy(() -> of(o)).as(o).isInstanceOf(MountException.class).hasMessageContaining("value");
        }
    }

    @Test
    void everyKernelOptionMountOptionsAcceptsIsTranslated() {
        for (String o : List.of("allow_other", "default_permissions", "fsname=a", "subtype=b", "ro", "rw",
                "nonempty", "auto_unmount", "blkdev", "blksize=512", "max_read=4096", "dev", "nodev", "suid",
                "nosuid", "exec", "noexec", "atime", "noatime", "sync", "async", "dirsync", "context=c",
                "fscontext=c", "defcontext=c", "rootcontext=c", "large_read", "diratime", "nodiratime", "relatime",
                "norelatime", "strictatime")) {
            List<String> kernel = MountOptions.parse(List.of(o), 1 << 20).kernel();
            assertThat(kernel).as("MountOptions passes %s to the kernel mount", o).containsExactly(o);
            assertThat(MountRequest.of(kernel)).as(o).isNotNull();
        }
    }
}
