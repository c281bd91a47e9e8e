package io.fuseguard.scripts;

import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.NonRootUser;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What {@code scripts/prerequisites} (fuseguard's own needs) and {@code scripts/test-prerequisites} (the drill's
 * and the tests') would install, on machines made to look fresh or not: each runs in a private mount namespace
 * where the fusermount helpers and libfuse.so.2 the test hides are covered by /dev/null, with {@code apt-get}
 * replaced by a stub that writes down what it was asked. Nothing is installed or removed on this machine.
 */
class PrerequisitesTest {
    private static final Path SCRIPTS = Path.of(System.getProperty("user.dir")).getParent().resolve("scripts");
    private Path stubs;
    private Path log;

    @BeforeEach
    void stubs() throws Exception {
        Edges.assumeFuseAndRoot();
        stubs = Files.createTempDirectory(Path.of("/tmp"), "fg-prereq-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        log = stubs.resolve("apt.log");
        Files.writeString(log, "");
        Files.setPosixFilePermissions(log, PosixFilePermissions.fromString("rw-rw-rw-"));
        stub("apt-get", "echo \"apt-get $*\" >> " + log);
        // Ubuntu 24.04 knows libfuse2t64; Debian does not (APT_T64=0 makes this one Ubuntu)
        stub("apt-cache", "[ \"$1 $2\" = \"show libfuse2t64\" ] && exit ${APT_T64:-100}; exit 0");
        stub("ldconfig", "exit 0"); // an empty cache: the libraries are looked for as files
    }

    @AfterEach
    void removeStubs() throws Exception {
        if (stubs != null) {
            Child.runOk("rm", "-rf", stubs.toString());
        }
    }

    private void stub(String name, String body) throws Exception {
        Path p = stubs.resolve(name);
        Files.writeString(p, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /** Hides, in a private mount namespace, what the shell globs name (when they exist), then runs the rest. */
    private static List<String> hiding(String globs, List<String> cmd) {
        String script = "for f in " + globs + "; do if [ -e \"$f\" ]; then mount --bind /dev/null \"$f\" "
                + "|| exit 99; fi; done; exec \"$@\"";
        List<String> c = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private", "sh", "-c",
                script, "hide"));
        c.addAll(cmd);
        return c;
    }

    private static String helpers(String... names) {
        List<String> out = new ArrayList<>();
        List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
        dirs.addAll(List.of("/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"));
        for (String d : dirs) {
            for (String n : names) {
                if (!d.isEmpty()) {
                    out.add(d + "/" + n);
                }
            }
        }
        return String.join(" ", out);
    }

    private static final String LIBFUSE2 = "/usr/lib*/libfuse.so.2 /usr/lib/*/libfuse.so.2 /lib*/libfuse.so.2 "
            + "/lib/*/libfuse.so.2";

    private Child.Result run(String hidden, String script, String... env) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("env", "PATH=" + stubs + ":" + System.getenv("PATH")));
        cmd.addAll(List.of(env));
        cmd.add(SCRIPTS.resolve(script).toString());
        return Child.run(Duration.ofSeconds(60), hiding(hidden, cmd));
    }

    private List<String> aptCalls() throws Exception {
        return Files.readAllLines(log);
    }

    @Test
    void aFreshDebianMachineGetsFuse3AndLibfuse2AndNothingIsRemoved() throws Exception {
        Child.Result r = run(helpers("fusermount3", "fusermount") + " " + LIBFUSE2, "test-prerequisites");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(aptCalls()).containsExactly("apt-get update -qq", "apt-get install -y -qq --no-remove fuse3",
                "apt-get update -qq", "apt-get install -y -qq --no-remove libfuse2");
    }

    @Test
    void ubuntu2404GetsLibfuse2UnderItsNewName() throws Exception {
        Child.Result r = run(helpers("fusermount3", "fusermount") + " " + LIBFUSE2, "test-prerequisites",
                "APT_T64=0");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(aptCalls()).contains("apt-get install -y -qq --no-remove libfuse2t64")
                .doesNotContain("apt-get install -y -qq --no-remove libfuse2");
    }

    @Test
    void aMachineWithLibfuse2sFusermountKeepsItAndGetsNothing() throws Exception {
        // Debian's fuse package (fusermount) conflicts with fuse3: it serves as the helper, fuse3 is not forced in
        Path v2 = Path.of("/usr/bin/fusermount");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(v2)
                && Child.run(Duration.ofSeconds(10), v2.toString(), "-V").out().contains("version: 2."),
                "libfuse 2's fusermount is not installed here");
        Child.Result r = run(helpers("fusermount3"), "test-prerequisites");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(aptCalls()).isEmpty();
    }

    @Test
    void rootAloneNeedsNoPackageAtAll() throws Exception {
        Child.Result r = run(helpers("fusermount3", "fusermount") + " " + LIBFUSE2, "prerequisites");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(aptCalls()).as("fuseguard loads no libfuse and root needs no helper").isEmpty();
    }

    @Test
    void forUsersTheRuntimeScriptInstallsFuse3Only() throws Exception {
        List<String> cmd = new ArrayList<>(List.of("env", "PATH=" + stubs + ":" + System.getenv("PATH"),
                SCRIPTS.resolve("prerequisites").toString(), "--for-users"));
        Child.Result r = Child.run(Duration.ofSeconds(60), hiding(helpers("fusermount3", "fusermount") + " "
                + LIBFUSE2, cmd));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(aptCalls()).containsExactly("apt-get update -qq", "apt-get install -y -qq --no-remove fuse3");
    }

    @Test
    void aUserIsToldWhatToAskRootForAndNothingIsInstalled() throws Exception {
        try (NonRootUser user = NonRootUser.prepare(40012, "fuseguard-it-prereq")) {
            List<String> cmd = new ArrayList<>(List.of("env", "PATH=" + stubs + ":" + System.getenv("PATH")));
            cmd.addAll(user.as(List.of(SCRIPTS.resolve("prerequisites").toString())));
            Child.Result r = Child.run(Duration.ofSeconds(60), hiding(helpers("fusermount3", "fusermount"), cmd));
            assertThat(r.exit()).as(r.err()).isZero();
            assertThat(r.err()).contains("scripts/prerequisites --for-users");
            assertThat(aptCalls()).isEmpty();
        }
    }
}
