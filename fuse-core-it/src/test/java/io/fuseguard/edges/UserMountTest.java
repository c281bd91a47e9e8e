package io.fuseguard.edges;

import io.fuseguard.kernel.MountEntry;
import io.fuseguard.mount.MountRouteDaemon;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.NonRootUser;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A daemon run by an ordinary user (uid 40011, no capabilities) mounts through the setuid helper, as on a
 * developer machine: {@code fusermount3} (libfuse 3) or libfuse 2's {@code fusermount} when only that is
 * installed, each alone on the daemon's PATH; it unmounts with the helper on SIGTERM, and with
 * {@code auto_unmount} a {@code kill -9} leaves a plain directory. The helper's refusal reaches the user in its
 * own words, and a machine without a helper is told what to install.
 */
class UserMountTest {
    private static NonRootUser user;
    private final List<Path> mountPoints = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();

    @BeforeAll
    static void prepare() throws Exception {
        Edges.assumeFuseAndRoot();
        user = NonRootUser.prepare(40011, "fuseguard-it-mounter");
    }

    @AfterAll
    static void restore() throws Exception {
        if (user != null) {
            user.close();
        }
    }

    @BeforeEach
    void defaultFuseConf() throws Exception {
        user.writeFuseConf(user.originalFuseConf());
    }

    @AfterEach
    void cleanUp() {
        processes.forEach(Edges::kill);
        mountPoints.forEach(Edges::forceUnmount);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    /** Every executable of that name on this JVM's PATH or in the usual directories, by real path. */
    private static List<Path> installed(String name) throws Exception {
        Set<Path> found = new LinkedHashSet<>();
        List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "").split(":")));
        dirs.addAll(List.of("/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin", "/sbin"));
        for (String d : dirs) {
            Path p = d.isEmpty() ? null : Path.of(d, name);
            if (p != null && Files.isRegularFile(p) && Files.isExecutable(p)) {
                found.add(p.toRealPath());
            }
        }
        return List.copyOf(found);
    }

    private static Path fusermount3() throws Exception {
        List<Path> all = installed("fusermount3");
        if (all.isEmpty()) {
            if (libfuse2Helper().isPresent()) {
                // Debian's fuse package conflicts with fuse3 and the prerequisites never remove it
                Assumptions.abort("fusermount3 is not installed: this machine has libfuse 2's fusermount (package "
                        + "fuse, which conflicts with fuse3); the fusermount tests cover the helper here");
            }
            Edges.unusable("no fusermount helper is installed (scripts/test-prerequisites installs fuse3)");
        }
        return all.get(0);
    }

    private static Optional<Path> libfuse2Helper() throws Exception {
        for (Path p : installed("fusermount")) {
            if (Child.run(Duration.ofSeconds(10), p.toString(), "-V").out().contains("version: 2.")) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    private static Path libfuse2Fusermount() throws Exception {
        // A fuse3 machine has no libfuse 2 helper (its fusermount is fusermount3): nothing to test there.
        return libfuse2Helper().orElseGet(() -> {
            Assumptions.abort("libfuse 2's fusermount is not installed");
            return null;
        });
    }

    /** The helper fuseguard would pick: fusermount3, else libfuse 2's fusermount; with its name. */
    private static Map.Entry<String, Path> anyHelper() throws Exception {
        List<Path> v3 = installed("fusermount3");
        if (!v3.isEmpty()) {
            return Map.entry("fusermount3", v3.get(0));
        }
        Optional<Path> v2 = libfuse2Helper();
        if (v2.isEmpty()) {
            Edges.unusable("no fusermount helper is installed (scripts/test-prerequisites installs fuse3)");
        }
        return Map.entry("fusermount", v2.get());
    }

    /** A directory holding only {@code name}, a link to the helper: the daemon's whole PATH. */
    private static String pathWith(String name, Path helper) throws Exception {
        Path dir = Files.createTempDirectory(user.base(), "bin-");
        Files.createSymbolicLink(dir.resolve(name), helper);
        Child.runOk("chmod", "755", dir.toString());
        return dir.toString();
    }

    private Path mountPoint(String name) throws Exception {
        Path mp = user.ownedDirectory(name).toRealPath();
        mountPoints.add(mp);
        return mp;
    }

    private List<String> daemonCommand(String path, Path mp, String... options) {
        List<String> args = new ArrayList<>(List.of(mp.toString()));
        for (String o : options) {
            args.addAll(List.of("-o", o));
        }
        List<String> cmd = new ArrayList<>(List.of("env", "PATH=" + path));
        cmd.addAll(user.java(List.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"), MountRouteDaemon.class,
                args.toArray(String[]::new)));
        return cmd;
    }

    private DaemonProcess daemon(String path, Path mp, String... options) throws Exception {
        DaemonProcess d = new DaemonProcess(daemonCommand(path, mp, options));
        processes.add(d.process());
        return d;
    }

    /** {@code READY <connection> <helper pid> <route>}, split. */
    private static String[] ready(DaemonProcess d) throws InterruptedException {
        return d.expectLine("READY", Duration.ofSeconds(30)).split(" ", 4);
    }

    private void servesAndUnmountsOnSigterm(String name, Path helper) throws Exception {
        Path mp = mountPoint("mp-" + name);
        try (DaemonProcess d = daemon(pathWith(name, helper), mp)) {
            String[] r = ready(d);
            assertThat(Path.of(r[3]).getFileName().toString()).as("mounted by").isEqualTo(name);
            Optional<MountEntry> e = Edges.mountAt(mp);
            assertThat(e).isPresent();
            assertThat(e.get().options()).contains("user_id=" + user.uid()).contains("group_id=" + user.gid());
            assertThat(e.get().source()).startsWith("fuseguard:").endsWith(":route-daemon");
            assertThat(e.get().fsType()).isEqualTo("fuse.fuseguard");
            Child.Result read = Child.run(Duration.ofSeconds(10), user.as(List.of("cat", mp + "/hello")));
            assertThat(read.out()).as(read.err()).isEqualTo("hello\n");

            long t0 = System.nanoTime();
            Edges.sigterm(d.process().pid());
            assertThat(d.process().waitFor(20, TimeUnit.SECONDS)).as("SIGTERM stops the daemon").isTrue();
            System.out.printf("user mount via %s (%s): unmounted %d ms after SIGTERM%n", name, helper, Edges.ms(t0));
            assertThat(d.awaitLine("UNMOUNTED", Duration.ofSeconds(5))).isPresent();
            assertThat(Edges.mountAt(mp)).as("unmounted by %s -u", name).isEmpty();
            assertThat(d.stderr()).doesNotContain("failed").doesNotContain("Cannot unmount");
        }
    }

    @Test
    void aUserMountsAndUnmountsThroughFusermount3() throws Exception {
        servesAndUnmountsOnSigterm("fusermount3", fusermount3());
    }

    @Test
    void aUserMountsThroughLibfuse2sFusermountWhenOnlyThatIsInstalled() throws Exception {
        servesAndUnmountsOnSigterm("fusermount", libfuse2Fusermount());
    }

    /** The minor version of a fusermount3 ({@code fusermount3 version: 3.14.0}). */
    private static int minorVersion(Path fusermount3) throws Exception {
        String v = Child.runOk(fusermount3.toString(), "-V").trim();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("version: 3\\.(\\d+)").matcher(v);
        assertThat(m.find()).as(v).isTrue();
        return Integer.parseInt(m.group(1));
    }

    private void killedDaemonLeavesAPlainDirectory(String name, Path helper, String... options) throws Exception {
        Path mp = mountPoint("mp-auto-" + name);
        List<String> all = new ArrayList<>(List.of(options));
        all.add("auto_unmount");
        try (DaemonProcess d = daemon(pathWith(name, helper), mp, all.toArray(String[]::new))) {
            String[] r = ready(d);
            assertThat(Integer.parseInt(r[2])).as("the helper stays").isPositive();
            long t0 = System.nanoTime();
            Child.kill9(d.process());
            assertThat(d.process().waitFor(10, TimeUnit.SECONDS)).isTrue();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (Edges.mountAt(mp).isPresent() && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            System.out.printf("user auto_unmount via %s (%s, -o %s): mount point clean %d ms after kill -9%n", name,
                    helper, all, Edges.ms(t0));
            assertThat(Edges.mountAt(mp)).as("the helper unmounted the dead mount").isEmpty();
            Child.Result after = Child.run(Duration.ofSeconds(15), user.as(List.of("timeout", "5", "ls", "-a",
                    mp.toString())));
            assertThat(after.exit()).as(after.err()).isZero();
        }
    }

    @Test
    void withAutoUnmountAUsersKilledDaemonLeavesAPlainDirectoryThroughFusermount3() throws Exception {
        Path helper = fusermount3();
        if (minorVersion(helper) >= 15) {
            killedDaemonLeavesAPlainDirectory("fusermount3", helper);
        } else {
            // Before 3.15 the helper checks the dead mount as root: only a mount open to others lets it.
            user.writeFuseConf("user_allow_other\n");
            killedDaemonLeavesAPlainDirectory("fusermount3", helper, "allow_other");
        }
    }

    @Test
    void withAutoUnmountAUsersKilledDaemonLeavesAPlainDirectoryThroughLibfuse2sFusermount() throws Exception {
        killedDaemonLeavesAPlainDirectory("fusermount", libfuse2Fusermount());
    }

    @Test
    void aUserIsWarnedExactlyWhenFusermount3CannotAutoUnmount() throws Exception {
        Path helper = fusermount3();
        boolean old = minorVersion(helper) < 15;
        Path mp = mountPoint("mp-auto-warn");
        try (DaemonProcess d = daemon(pathWith("fusermount3", helper), mp, "auto_unmount")) {
            ready(d);
            Edges.sigterm(d.process().pid());
            assertThat(d.process().waitFor(20, TimeUnit.SECONDS)).isTrue();
            if (old) {
                assertThat(d.stderr()).as("fusermount3 3.%d", minorVersion(helper))
                        .contains("cannot auto_unmount this mount when the daemon dies").contains("3.15");
            } else {
                assertThat(d.stderr()).doesNotContain("cannot auto_unmount");
            }
        }
    }

    @Test
    void theHelpersRefusalReachesTheUserInItsOwnWords() throws Exception {
        user.writeFuseConf("# fuseguard test: no user_allow_other\n");
        Path mp = mountPoint("mp-other");
        Map.Entry<String, Path> helper = anyHelper();
        Child.Result r = Child.run(Duration.ofSeconds(60), daemonCommand(pathWith(helper.getKey(),
                helper.getValue()), mp, "allow_other"));
        assertThat(r.exit()).as(r.err()).isEqualTo(2);
        assertThat(r.out()).startsWith("FAILED OPTION_REJECTED").contains(helper.getKey() + " could not mount")
                .contains("user_allow_other");
        assertThat(Edges.mountAt(mp)).isEmpty();
    }

    @Test
    void aUserWithoutAHelperIsToldWhatToInstall() throws Exception {
        Path mp = mountPoint("mp-none");
        List<String> cmd = new ArrayList<>(MountRoutesDaemonTest.hidingHelpers());
        cmd.addAll(daemonCommand("/nonexistent", mp));
        Child.Result r = Child.run(Duration.ofSeconds(60), cmd);
        assertThat(r.exit()).as(r.out() + r.err()).isEqualTo(2);
        assertThat(r.out()).startsWith("FAILED FUSERMOUNT_MISSING").contains("may not mount").contains("fuse3");
        assertThat(Edges.mountAt(mp)).isEmpty();
    }
}
