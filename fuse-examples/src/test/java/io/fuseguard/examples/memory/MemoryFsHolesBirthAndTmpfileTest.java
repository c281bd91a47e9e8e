package io.fuseguard.examples.memory;

import io.fuseguard.junit.FuseMountExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What MemoryFs has the data for, through the kernel, against a directory of the host's /tmp (ext4 here): its
 * holes ({@code SEEK_DATA}/{@code SEEK_HOLE} at 4 KiB granularity, as ext4's blocks), its birth times (kept
 * across writes and renames), and {@code O_TMPFILE} files (no link until {@code linkat} gives them one, gone at
 * their last close otherwise). Also that {@code copy_file_range}, which MemoryFs leaves to the kernel, still
 * copies.
 */
class MemoryFsHolesBirthAndTmpfileTest {
    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(
            () -> MemoryFs.builder().capacity(64L << 20).build(), MountedFsSupport.config());

    @TempDir
    Path local;

    private static final String SCRIPT = """
            import ctypes, errno, os, struct, sys, time
            os.chdir(sys.argv[1])
            libc = ctypes.CDLL(None, use_errno=True)
            def step(name, fn):
                try:
                    r = fn()
                    print(name, "ok" if r is None else r)
                except OSError as e:
                    print(name, errno.errorcode[e.errno])
            fd = os.open("sparse", os.O_CREAT | os.O_RDWR, 0o644)
            os.pwrite(fd, b"a" * 4096, 0)
            os.pwrite(fd, b"b" * 100, 1 << 20)
            for w, n in ((os.SEEK_DATA, "data"), (os.SEEK_HOLE, "hole")):
                for off in (0, 100, 4096, (1 << 20) + 50, (1 << 20) + 100):
                    step("seek %s %d" % (n, off), lambda off=off, w=w: os.lseek(fd, off, w))
            os.ftruncate(fd, 3 << 20)
            step("hole after growing", lambda: os.lseek(fd, (1 << 20) + 4096, os.SEEK_HOLE))
            step("no data after growing", lambda: os.lseek(fd, (1 << 20) + 4096, os.SEEK_DATA))
            os.close(fd)

            def btime(p):
                buf = ctypes.create_string_buffer(256)
                if libc.statx(-100, p.encode(), 0x100, 0xfff, buf) != 0:
                    e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
                if not struct.unpack_from("<I", buf, 0)[0] & 0x800:
                    return None
                return struct.unpack_from("<qI", buf, 80)
            t0 = time.time()
            with open("born", "w") as f:
                f.write("x")
            b0 = btime("born")
            step("birth time kept", lambda: "yes" if b0 and abs(b0[0] - t0) < 5 else "no: %s" % (b0,))
            time.sleep(0.05)
            with open("born", "a") as f:
                f.write("y")
            os.rename("born", "reborn")
            step("after a write and a rename", lambda: "same" if btime("reborn") == b0 else "changed")

            def tmp():
                t = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
                os.write(t, b"tmp")
                st = os.fstat(t)
                r = "nlink=%d size=%d" % (st.st_nlink, st.st_size)
                if libc.linkat(-100, ("/proc/self/fd/%d" % t).encode(), -100, b"named", 0x400) != 0:
                    e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
                r += " linked nlink=%d" % os.fstat(t).st_nlink
                os.close(t)
                return r + " " + open("named").read()
            step("tmpfile", tmp)
            def gone():
                t = os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o600)
                os.write(t, b"z" * 10000)
                os.close(t)
            step("tmpfile never named", gone)
            step("names", lambda: " ".join(sorted(os.listdir("."))))

            with open("src", "wb") as f:
                f.write(bytes(range(256)) * 4096)
            i = os.open("src", os.O_RDONLY)
            o = os.open("dst", os.O_CREAT | os.O_WRONLY, 0o644)
            step("copy_file_range", lambda: os.copy_file_range(i, o, 1 << 20))
            os.close(i); os.close(o)
            step("copied", lambda: "same" if open("src", "rb").read() == open("dst", "rb").read() else "differs")
            """;

    private static List<String> run(Path dir) {
        return MountedFsSupport.run("python3", "-c", SCRIPT, dir.toString()).assertOk().out().lines().toList();
    }

    @Test
    void holesBirthTimesAndTmpfilesAsOnTheHost() {
        List<String> expected = List.of(
                "seek data 0 0", "seek data 100 100", "seek data 4096 1048576", "seek data 1048626 1048626",
                "seek data 1048676 ENXIO",
                "seek hole 0 4096", "seek hole 100 4096", "seek hole 4096 4096", "seek hole 1048626 1048676",
                "seek hole 1048676 ENXIO",
                "hole after growing 1052672", "no data after growing ENXIO",
                "birth time kept yes", "after a write and a rename same",
                "tmpfile nlink=0 size=3 linked nlink=1 tmp", "tmpfile never named ok", "names named reborn sparse",
                "copy_file_range 1048576", "copied same");
        assertThat(run(local)).as("the host's /tmp").isEqualTo(expected);
        assertThat(run(fuse.mountPoint())).as("MemoryFs through the kernel").isEqualTo(expected);
    }

    /**
     * {@code O_TMPFILE}, {@code linkat} to a name, close, and at once open by that name: the open runs while the
     * close's release removes the reserved name. Before the removal took the name's lock, 1 to 3 opens in 300
     * failed with ENOENT (the open reached MemoryFs with the reserved name, just dropped).
     */
    @Test
    void aLinkedTmpfileOpensByItsNameWhileItsCloseIsHandled() {
        String out = MountedFsSupport.run("python3", "-c", """
                import ctypes, os, sys
                libc = ctypes.CDLL(None, use_errno=True)
                os.chdir(sys.argv[1])
                bad = []
                for i in range(300):
                    t = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
                    os.write(t, b"tmp%d" % i)
                    name = "linked%d" % i
                    if libc.linkat(-100, ("/proc/self/fd/%d" % t).encode(), -100, name.encode(), 0x400) != 0:
                        raise OSError(ctypes.get_errno(), "linkat")
                    os.close(t)
                    try:
                        with open(name, "rb") as f:
                            if f.read() != b"tmp%d" % i:
                                bad.append("%s: wrong content" % name)
                    except OSError as e:
                        bad.append("%s: %s" % (name, e.strerror))
                    os.unlink(name)
                print(len(bad), bad[:3])
                """, fuse.mountPoint().toString()).assertOk().out().trim();
        assertThat(out).as("opens that failed, of 300").isEqualTo("0 []");
    }

    @Test
    void aTmpfileThatNeverGotANameLeavesNothingBehind() {
        MemoryFs fs = (MemoryFs) fuse.fileSystem();
        long inodes = fs.usedInodes();
        long bytes = fs.usedBytes();
        MountedFsSupport.run("python3", "-c", """
                import os, sys
                for _ in range(20):
                    t = os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY, 0o600)
                    os.write(t, b"z" * 100000)
                    os.close(t)
                """, fuse.mountPoint().toString()).assertOk();
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                .until(() -> fs.usedInodes() == inodes && fs.usedBytes() == bytes);
    }
}
