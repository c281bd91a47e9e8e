package io.fuseguard.examples.memory;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.mount.FuseMount;

import java.nio.file.Path;

/**
 * Mounts a {@link MemoryFs} for an external POSIX conformance suite (pjdfstest) and serves it until the process
 * is killed; SIGTERM unmounts cleanly through the shutdown hook.
 *
 * <pre>{@code
 * java -cp TEST_CLASSPATH io.fuseguard.examples.memory.MemoryFsConformanceMain /mnt/mem
 * cd /mnt/mem && prove -rv /path/to/pjdfstest/tests
 * }</pre>
 *
 * The options are the CLI's ({@code allowOther}, which adds {@code default_permissions}, and a refused
 * self-access) plus what such a suite needs: {@code use_ino} so hard links share an inode number, and zero
 * cache timeouts so every stat sees the filesystem's current answer.
 */
public final class MemoryFsConformanceMain {
    private MemoryFsConformanceMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: MemoryFsConformanceMain MOUNTPOINT");
            System.exit(2);
        }
        FuseguardConfig config = FuseguardConfig.builder()
                .fsName("memoryfs")
                .allowOther(true)
                .mountOption("use_ino")
                .mountOption("attr_timeout=0")
                .mountOption("entry_timeout=0")
                .mountOption("negative_timeout=0")
                .selfAccessPolicy(SelfAccessPolicy.REFUSE)
                .build();
        FuseMount mount = FuseMount.mount(MemoryFs.builder().capacity(1L << 30).build(), Path.of(args[0]), config);
        System.out.println("mounted " + args[0]);
        mount.awaitUnmount();
    }
}
