package io.fuseguard.examples.memory;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.testkit.Child;
import jnr.ffi.LastError;
import jnr.ffi.LibraryLoader;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Shared helpers of the MemoryFs mount tests: the mount configuration and child processes. */
final class MountedFsSupport {
    /** The unprivileged user tests run programs as. */
    static final String NOBODY = "65534";
    /** setxattr(2) flag: fail with EEXIST if the attribute exists. */
    static final int XATTR_CREATE = 1;
    /** setxattr(2) flag: fail with ENODATA if the attribute does not exist. */
    static final int XATTR_REPLACE = 2;

    private MountedFsSupport() {
    }

    /**
     * The configuration of the mount tests. The test JVM is the daemon, so self-access is allowed and no
     * shutdown hook is installed. {@code allowOther} lets another uid in and adds {@code default_permissions}
     * (the kernel checks permission bits); {@code use_ino} reports MemoryFs's inode numbers; zero cache
     * timeouts make every stat see the filesystem's current answer (a change through one hard link is seen
     * through the other at once).
     */
    static FuseguardConfig config() {
        return FuseguardConfig.builder()
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING)
                .shutdownHook(false)
                .fsName("memoryfs")
                .allowOther(true)
                .mountOption("use_ino")
                .mountOption("attr_timeout=0")
                .mountOption("entry_timeout=0")
                .mountOption("negative_timeout=0")
                .build();
    }

    /** What a child process did. */
    record Result(int exit, String out, String err) {
        Result assertOk() {
            if (exit != 0) {
                throw new AssertionError("exit " + exit + ", stderr: " + err + ", stdout: " + out);
            }
            return this;
        }
    }

    /** Runs a program (as root) and waits for it, at most 60 s. */
    /**
     * The configuration of the tests that count what reaches the filesystem: attributes and entries cached for a
     * minute, so only what the kernel cannot serve from its cache reaches it.
     */
    static FuseguardConfig cachedConfig() {
        return FuseguardConfig.builder()
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING)
                .shutdownHook(false)
                .mountOption("attr_timeout=60")
                .mountOption("entry_timeout=60")
                .build();
    }

    static Result run(String... cmd) {
        return run(List.of(cmd));
    }

    /** Runs a program as uid/gid 65534 with no supplementary groups. */
    static Result runAsNobody(String... cmd) {
        List<String> full = new ArrayList<>(List.of("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY,
                "--clear-groups"));
        full.addAll(List.of(cmd));
        return run(full);
    }

    /** Runs {@code sh -c script}. */
    static Result sh(String script) {
        return run("sh", "-c", script);
    }

    static Result run(List<String> cmd) {
        try {
            Child.Result r = Child.run(Duration.ofSeconds(60), cmd);
            if (r.timedOut()) {
                throw new AssertionError("timed out: " + cmd);
            }
            return new Result(r.exit(), r.out(), r.err());
        } catch (IOException e) {
            throw new AssertionError("cannot run " + cmd + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(cmd + ": interrupted", e);
        }
    }

    /** {@code stat -c FORMAT path}, trimmed. */
    static String stat(String format, Path path) {
        return run("stat", "-c", format, path.toString()).assertOk().out().trim();
    }

    /** The C library's setxattr(2), to pass XATTR_CREATE / XATTR_REPLACE (Java's xattr view cannot). */
    public interface XattrLibc {
        int setxattr(String path, String name, byte[] value, long size, int flags);
    }

    private static final XattrLibc LIBC = LibraryLoader.create(XattrLibc.class).load("c");

    /** setxattr(2): 0, or the errno it failed with. */
    static int setxattr(Path path, String name, byte[] value, int flags) {
        int r = LIBC.setxattr(path.toString(), name, value, value.length, flags);
        return r == 0 ? 0 : LastError.getLastError(jnr.ffi.Runtime.getRuntime(LIBC));
    }
}
