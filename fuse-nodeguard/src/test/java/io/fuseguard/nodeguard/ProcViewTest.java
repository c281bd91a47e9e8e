package io.fuseguard.nodeguard;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which /proc the guard accepts: only one that shows every process of the machine (the host's pid namespace). */
class ProcViewTest {
    private static final Optional<String> PROC = Optional.of("proc");

    @TempDir
    Path tmp;

    private Path link(String path, String target) throws Exception {
        Path p = tmp.resolve(path);
        Files.createDirectories(p.getParent());
        Files.createSymbolicLink(p, Path.of(target));
        return p;
    }

    @Test
    void initialPidNamespaceIsPidInitIno() {
        assertThat(ProcView.INIT_PID_NAMESPACE).isEqualTo("pid:[4026531836]");
    }

    @Test
    void pidOneInTheInitialNamespaceIsTheHosts() throws Exception {
        link("1/ns/pid", "pid:[4026531836]");
        assertThat(ProcView.hostProblem(tmp, PROC)).isEmpty();
    }

    @Test
    void pidOneInAChildNamespaceIsRefusedWithWhatToDo() throws Exception {
        link("1/ns/pid", "pid:[4026532999]");
        link("self", "1");
        Optional<String> p = ProcView.hostProblem(tmp, PROC);
        assertThat(p).hasValueSatisfying(s -> assertThat(s).contains("pid:[4026532999]").contains("hostPID: true")
                .contains("--proc").doesNotContain("\n"));
        // a sidecar scoped to its own namespace accepts it: the guard is visible there
        assertThat(ProcView.ownNamespaceProblem(tmp, PROC)).isEmpty();
    }

    @Test
    void aDirectoryThatIsNoProcfsIsRefused() throws Exception {
        // --proc=<empty dir>
        assertThat(ProcView.hostProblem(tmp, PROC)).hasValueSatisfying(s -> assertThat(s).contains("not a procfs"));
        assertThat(ProcView.ownNamespaceProblem(tmp, PROC)).isPresent();
        // --proc=/tmp: another file system type, whatever it holds
        link("1/ns/pid", "pid:[4026531836]");
        assertThat(ProcView.hostProblem(tmp, Optional.of("tmpfs")))
                .hasValueSatisfying(s -> assertThat(s).contains("not a procfs (it is tmpfs)"));
        assertThat(ProcView.hostProblem(tmp)).as("the real type of a temporary directory").isPresent();
    }

    @Test
    void withoutPrivilegeTheReadersOwnNamespaceDecidesWhenItIsVisible() throws Exception {
        // pid 1's ns link unreadable (not root): a directory without the link stands for it
        Files.createDirectories(tmp.resolve("1"));
        link("7/ns/pid", "pid:[4026531836]");
        link("self", "7");
        assertThat(ProcView.hostProblem(tmp, PROC)).isEmpty();
        Files.delete(tmp.resolve("7/ns/pid"));
        link("7/ns/pid", "pid:[4026532999]");
        assertThat(ProcView.hostProblem(tmp, PROC)).hasValueSatisfying(s -> assertThat(s)
                .contains("pid namespace pid:[4026532999]").contains("hostPID"));
    }

    @Test
    void withoutPrivilegeAndInvisibleItCannotTellAndRefuses() throws Exception {
        Files.createDirectories(tmp.resolve("1"));
        assertThat(ProcView.hostProblem(tmp, PROC)).hasValueSatisfying(s -> assertThat(s)
                .contains("cannot tell").contains("self does not show the guard"));
        assertThat(ProcView.ownNamespaceProblem(tmp, PROC)).isPresent();
    }

    @Test
    void thisMachinesProcWhenTheTestRunsInTheInitialNamespace() throws Exception {
        Optional<String> mine = ProcView.namespaceShown(Path.of("/proc"));
        Assumptions.assumeTrue(mine.equals(Optional.of(ProcView.INIT_PID_NAMESPACE)),
                "skipped: this test does not run in the host's pid namespace (" + mine.orElse("unreadable") + ")");
        assertThat(ProcView.hostProblem(Path.of("/proc"))).isEmpty();
        assertThat(ProcView.ownNamespaceProblem(Path.of("/proc"))).isEmpty();
    }
}
