package io.fuseguard.kernel;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

class MountTableTest {

    private static final String MOUNTINFO = String.join("\n",
            "22 27 0:21 / /proc rw,relatime - proc proc rw",
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
            "42 23 0:39 / /sys/fs/fuse/connections rw,relatime - fusectl none rw",
            "100 27 0:50 / /mnt/my\\040dir rw,nosuid,nodev,relatime shared:5 - fuse.sshfs user@host:/remote\\040x rw,user_id=0,group_id=0",
            "101 27 8:17 / /media/usb rw,relatime - fuseblk /dev/sdb1 rw,user_id=0,group_id=0,allow_other,blksize=4096",
            "102 27 0:51 / /tmp/stack rw,relatime - fuse fuseguard:123:a rw,user_id=0,group_id=0",
            "103 102 0:52 / /tmp/stack rw,relatime - fuse fuseguard:124:b rw,user_id=0,group_id=0",
            "104 27 0:53 / /tmp/tab\\011and\\134back\\012nl rw master:3 propagate_from:2 - fuse src rw",
            "105 27 0:51 /sub /srv/bind rw,relatime - fuse fuseguard:123:a rw,user_id=0,group_id=0",
            "106 27 0:60 / /data/caf\u00c3\u00a9 rw - tmpfs tmpfs rw",
            "garbage line",
            "107 27 x:y / /bad rw - tmpfs tmpfs rw",
            "") ;

    private final MountTable table = new MountTable(MOUNTINFO);

    @Test
    void parsesAllWellFormedLinesAndSkipsBadOnes() {
        assertThat(table.entries()).extracting(MountEntry::mountId)
                .containsExactly(22, 27, 42, 100, 101, 102, 103, 104, 105, 106);
    }

    @Test
    void parsesFields() {
        MountEntry e = table.entries().get(3);
        assertThat(e.mountId()).isEqualTo(100);
        assertThat(e.major()).isZero();
        assertThat(e.minor()).isEqualTo(50);
        assertThat(e.mountPoint()).isEqualTo(Path.of("/mnt/my dir"));
        assertThat(e.fsType()).isEqualTo("fuse.sshfs");
        assertThat(e.subtype()).isEqualTo("sshfs");
        assertThat(e.source()).isEqualTo("user@host:/remote x");
        assertThat(e.options()).isEqualTo("rw,nosuid,nodev,relatime,user_id=0,group_id=0");
        assertThat(e.connectionId()).isEqualTo(50);
    }

    @Test
    void unescapesOctalEscapes() {
        assertThat(table.entries().get(7).mountPoint()).isEqualTo(Path.of("/tmp/tab\tand\\back\nnl"));
        assertThat(MountTable.unescape("a\\040b")).isEqualTo("a b");
        assertThat(MountTable.unescape("no\\escape")).isEqualTo("no\\escape");
        assertThat(MountTable.unescape("trailing\\04")).isEqualTo("trailing\\04");
    }

    @Test
    void decodesUtf8BytesReadAsLatin1() {
        assertThat(table.entries().get(9).mountPoint()).isEqualTo(Path.of("/data/caf\u00e9"));
    }

    @Test
    void fuseMountsIncludeFuseFuseblkAndSubtypesButNotFusectl() {
        assertThat(table.fuseMounts()).extracting(MountEntry::mountId)
                .containsExactly(100, 101, 102, 103, 104, 105);
        assertThat(table.fuseMounts()).extracting(MountEntry::fsType)
                .containsOnly("fuse.sshfs", "fuseblk", "fuse");
    }

    @Test
    void fuseblkConnectionIdIncludesTheMajor() {
        MountEntry usb = table.findByMountPoint(Path.of("/media/usb")).orElseThrow();
        assertThat(usb.connectionId()).isEqualTo((8L << 20) | 17);
        assertThat(table.findByConnection((8L << 20) | 17)).contains(usb);
    }

    @Test
    void stackedMountsLastOneWins() {
        assertThat(table.findByMountPoint(Path.of("/tmp/stack")))
                .hasValueSatisfying(e -> assertThat(e.mountId()).isEqualTo(103));
        assertThat(table.findByMountPoint(Path.of("/tmp//stack/./")))
                .hasValueSatisfying(e -> assertThat(e.mountId()).isEqualTo(103));
        assertThat(table.findByMountPoint(Path.of("/tmp/x/../stack")))
                .hasValueSatisfying(e -> assertThat(e.mountId()).isEqualTo(103));
        assertThat(table.findByMountPoint(Path.of("/tmp"))).isEmpty();
    }

    @Test
    void findByConnectionReturnsTheFirstFuseMountOfTheConnection() {
        assertThat(table.findByConnection(51)).hasValueSatisfying(e -> assertThat(e.mountId()).isEqualTo(102));
        assertThat(table.allByConnection(51)).extracting(MountEntry::mountId).containsExactly(102, 105);
        assertThat(table.findByConnection(39)).as("fusectl is not a FUSE mount").isEmpty();
        assertThat(table.findByConnection(9999)).isEmpty();
    }

    @Test
    void isMountedChecksType() {
        assertThat(table.isMounted(Path.of("/sys/fs/fuse/connections"), "fusectl")).isTrue();
        assertThat(table.isMounted(Path.of("/sys/fs/fuse/connections"), "fuse")).isFalse();
    }

    @Test
    void readsTheRealMountTable() throws Exception {
        List<MountEntry> entries = MountTable.read();
        assertThat(entries).isNotEmpty();
        assertThat(entries).anyMatch(e -> e.mountPoint().equals(Path.of("/")));
    }

    @Test
    void emptyInput() {
        assertThat(new MountTable("").entries()).isEmpty();
        assertThat(MountTable.parse("\n\n")).isEmpty();
    }
}
