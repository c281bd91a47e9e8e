package io.fuseguard.examples.memory;

import io.fuseguard.junit.FuseMountExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code renameat2}'s NOREPLACE and EXCHANGE, and {@code fallocate}, through the kernel: the same script runs in a
 * directory of the host's /tmp and in the mount, and both transcripts must be the expected one. Some refusals
 * (NOREPLACE onto an existing name, EXCHANGE with a missing one, a directory into itself) are the kernel's own
 * and never reach MemoryFs; {@code MemoryFsSemanticsTest} checks MemoryFs's.
 */
class MemoryFsRenameAndFallocateTest {
    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(
            () -> MemoryFs.builder().capacity(64L << 20).build(), MountedFsSupport.config());

    @TempDir
    Path local;

    /** Each step prints one line: its name and "ok" or the errno's name. */
    private static final String SCRIPT = """
            import ctypes, errno, os, sys
            os.chdir(sys.argv[1])
            libc = ctypes.CDLL(None, use_errno=True)
            AT = -100
            def step(name, fn):
                try:
                    r = fn()
                    print(name, "ok" if r is None else r)
                except OSError as e:
                    print(name, errno.errorcode[e.errno])
            def rename2(a, b, flags):
                if libc.renameat2(AT, a.encode(), AT, b.encode(), flags) != 0:
                    e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
            def fallocate(path, mode, off, length):
                fd = os.open(path, os.O_RDWR)
                try:
                    if libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(length)) != 0:
                        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
                finally:
                    os.close(fd)
            def read(p):
                with open(p) as f: return f.read()
            def write(p, s):
                with open(p, "w") as f: f.write(s)
            write("a", "A"); write("b", "B"); os.mkdir("d"); write("d/c", "C")
            step("noreplace onto existing", lambda: rename2("a", "b", 1))
            step("noreplace onto new", lambda: rename2("a", "a2", 1))
            step("  a2 has", lambda: read("a2"))
            step("exchange files", lambda: rename2("a2", "b", 2))
            step("  a2 has", lambda: read("a2"))
            step("  b has", lambda: read("b"))
            step("exchange with missing", lambda: rename2("b", "nothing", 2))
            step("exchange file and dir", lambda: rename2("b", "d", 2))
            step("  d is a file", lambda: os.path.isfile("d"))
            step("  b/c has", lambda: read("b/c"))
            step("exchange dir into itself", lambda: rename2("b", "b/c", 2))
            step("both flags", lambda: rename2("a2", "d", 3))
            write("f", "0123456789")
            step("fallocate grow", lambda: fallocate("f", 0, 8, 100))
            step("  size", lambda: os.stat("f").st_size)
            step("fallocate keep size", lambda: fallocate("f", 1, 0, 4096))
            step("  size", lambda: os.stat("f").st_size)
            step("punch hole", lambda: fallocate("f", 3, 2, 3))
            step("  data", lambda: read("f")[:10].encode().hex())
            """;

    private static final String EXPECTED = """
            noreplace onto existing EEXIST
            noreplace onto new ok
              a2 has A
            exchange files ok
              a2 has B
              b has A
            exchange with missing ENOENT
            exchange file and dir ok
              d is a file True
              b/c has C
            exchange dir into itself EINVAL
            both flags EINVAL
            fallocate grow ok
              size 108
            fallocate keep size ok
              size 108
            punch hole ok
              data 30310000003536373839
            """;

    @Test
    void renameFlagsAndFallocateBehaveAsOnTheHost() {
        String host = MountedFsSupport.run("python3", "-c", SCRIPT, local.toString()).assertOk().out();
        String mounted = MountedFsSupport.run("python3", "-c", SCRIPT, fuse.mountPoint().toString()).assertOk().out();
        assertThat(host).as("the host's answers (the script's own check)").isEqualTo(EXPECTED);
        assertThat(mounted).as("MemoryFs through the kernel").isEqualTo(EXPECTED);
    }
}
