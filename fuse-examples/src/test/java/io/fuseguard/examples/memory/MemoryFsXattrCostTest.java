package io.fuseguard.examples.memory;

import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.DelegatingFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What extended attributes cost, through the kernel, and that {@link MemoryFs.Builder#xattrs xattrs(false)} saves
 * it: with them, the kernel asks the filesystem for {@code security.capability} before writes and chowns (it must
 * remove file capabilities then, and keeps no answer for a FUSE file); without, the filesystem is asked once,
 * answers ENOSYS, and the kernel never asks again (callers get EOPNOTSUPP).
 */
class MemoryFsXattrCostTest {
    private static final int FILES = 20;

    /** MemoryFs, counting the getxattr calls that reach it by name. */
    static final class Counting extends DelegatingFs {
        final Map<String, AtomicInteger> getxattr = new ConcurrentHashMap<>();

        Counting(boolean xattrs) {
            super(MemoryFs.builder().capacity(16L << 20).xattrs(xattrs).build());
        }

        @Override
        public byte[] getxattr(String path, String name) throws IOException {
            getxattr.computeIfAbsent(name, k -> new AtomicInteger()).incrementAndGet();
            return fs.getxattr(path, name);
        }

        int calls() {
            return getxattr.values().stream().mapToInt(AtomicInteger::get).sum();
        }
    }

    @RegisterExtension
    final FuseMountExtension with = FuseMountExtension.of(() -> new Counting(true),
            MountedFsSupport.cachedConfig());

    @RegisterExtension
    final FuseMountExtension without = FuseMountExtension.of(() -> new Counting(false),
            MountedFsSupport.cachedConfig());

    /**
     * Writes FILES files twice each (two writes) and chowns each, then sets a user xattr on the first; prints
     * "ok" or the errno name the setxattr got (EOPNOTSUPP, which Linux also calls ENOTSUP).
     */
    private static final String SCRIPT = """
            import errno, os, sys
            os.chdir(sys.argv[1])
            for i in range(int(sys.argv[2])):
                fd = os.open("f%d" % i, os.O_CREAT | os.O_WRONLY, 0o644)
                os.write(fd, b"a" * 100)
                os.write(fd, b"b" * 100)
                os.close(fd)
                os.chown("f%d" % i, 1000, 1000)
            try:
                os.setxattr("f0", "user.k", b"v")
                print("ok")
            except OSError as e:
                print("EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP else errno.errorcode[e.errno])
            """;

    private static String writeAndChown(FuseMountExtension m) {
        return MountedFsSupport.run("python3", "-c", SCRIPT, m.mountPoint().toString(), String.valueOf(FILES))
                .assertOk().out().trim();
    }

    @Test
    void withXattrsEveryWriteAndChownAsksForTheFileCapability() {
        Counting fs = (Counting) with.fileSystem();
        assertThat(writeAndChown(with)).as("setxattr of user.k").isEqualTo("ok");
        AtomicInteger caps = fs.getxattr.get("security.capability");
        // 2 writes and 1 chown per file; the kernel asks before each (it may skip none of them: it keeps no
        // answer for a FUSE file), so at least one question per file and at most one per write and chown.
        assertThat(caps).as("getxattr(security.capability) calls reaching MemoryFs").isNotNull();
        assertThat(caps.get()).as("getxattr(security.capability) calls for %d files, 2 writes and a chown each",
                FILES).isBetween(FILES, 3 * FILES);
    }

    @Test
    void withoutXattrsTheKernelStopsAskingAfterOneAnswer() {
        Counting fs = (Counting) without.fileSystem();
        assertThat(writeAndChown(without)).as("setxattr of user.k").isEqualTo("EOPNOTSUPP");
        assertThat(fs.calls()).as("getxattr calls reaching MemoryFs (one ENOSYS, then the kernel stops asking)")
                .isEqualTo(1);
    }
}
