package io.fuseguard.cli;

import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.testkit.Child;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The {@code fuseguard} command run by an ordinary user, as on a developer machine: the daemon runs with
 * {@code setpriv} as uid 40001 (no root, no capabilities), mounts through the setuid fusermount, and unmounts
 * on SIGTERM. The test (root, as CI runs) prepares what such a machine has and restores it afterwards: /dev/fuse
 * usable by everybody, {@code user_allow_other} in /etc/fuse.conf, a class path the user can read.
 */
class NonRootMountTest {
    private static final int USER = 40001;
    private static final int OTHER = 40002;
    private static final Path FUSE_CONF = Path.of("/etc/fuse.conf");
    private static final List<String> CREATED_USERS = new ArrayList<>();
    private static String devFuseMode;
    private static String fuseConf;
    private static Path base;
    private static String classPath;

    @BeforeAll
    static void prepare() throws Exception {
        FuseAvailability.assumeUsable();
        boolean root = Child.runOk("id", "-u").trim().equals("0");
        if (!root && FuseAvailability.required()) {
            throw new AssertionError("FUSEGUARD_REQUIRE_FUSE=true but not root: the non-root tests prepare the machine as root");
        }
        Assumptions.assumeTrue(root, "needs root to prepare a non-root user's environment");
        // fusermount needs a user name for the uid: real (system) users, created if this machine lacks them.
        ensureUser(USER, "fuseguard-it-user");
        ensureUser(OTHER, "fuseguard-it-other");
        devFuseMode = Child.runOk("stat", "-c", "%a", "/dev/fuse").trim();
        Child.runOk("chmod", "0666", "/dev/fuse");
        fuseConf = Files.exists(FUSE_CONF) ? Files.readString(FUSE_CONF) : null;
        base = Files.createTempDirectory(Path.of("/tmp"), "fg-nonroot-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        classPath = readableClassPath(base.resolve("cp"));
    }

    private static void ensureUser(int uid, String name) throws Exception {
        if (Child.run(Duration.ofSeconds(10), "getent", "passwd", Integer.toString(uid)).exit() == 0) {
            return;
        }
        Child.runOk("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--uid",
                Integer.toString(uid), "--user-group", name);
        CREATED_USERS.add(name);
    }

    @AfterAll
    static void restore() throws Exception {
        for (String u : CREATED_USERS) {
            Child.run(Duration.ofSeconds(10), "userdel", u);
        }
        if (devFuseMode != null) {
            Child.runOk("chmod", devFuseMode, "/dev/fuse");
        }
        writeFuseConf(fuseConf);
        if (base != null) {
            Child.run(Duration.ofSeconds(20), "rm", "-rf", base.toString());
        }
    }

    private static void writeFuseConf(String content) throws IOException {
        if (content == null) {
            Files.deleteIfExists(FUSE_CONF);
            return;
        }
        // Written to a temporary file and renamed: the file is never seen half-written.
        Path tmp = FUSE_CONF.resolveSibling(".fuse.conf.fuseguard-test");
        Files.writeString(tmp, content);
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
        Files.move(tmp, FUSE_CONF, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The test class path, with every jar the user cannot read copied to a readable directory. */
    private static String readableClassPath(Path dir) throws IOException, InterruptedException {
        Files.createDirectories(dir);
        List<String> out = new ArrayList<>();
        int i = 0;
        for (String e : System.getProperty("java.class.path").split(":")) {
            Path p = Path.of(e);
            if (Files.isRegularFile(p) && p.startsWith("/root")) {
                Path copy = dir.resolve((i++) + "-" + p.getFileName());
                Files.copy(p, copy, StandardCopyOption.REPLACE_EXISTING);
                out.add(copy.toString());
            } else {
                out.add(e);
            }
        }
        Child.runOk("chmod", "-R", "a+rX", dir.toString());
        return String.join(":", out);
    }

    private static List<String> asUser(int uid, String... cmd) {
        List<String> c = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups",
                "--inh-caps=-all"));
        c.addAll(List.of(cmd));
        return c;
    }

    private static List<String> fuseguardAs(int uid, String... args) {
        List<String> c = asUser(uid, Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                classPath, FuseguardCommand.class.getName());
        c.addAll(List.of(args));
        return c;
    }

    private Path userMountPoint(String name) throws IOException, InterruptedException {
        Path mp = Files.createDirectory(base.resolve(name));
        Child.runOk("chown", USER + ":" + USER, mp.toString());
        return mp;
    }

    /** Starts the daemon as the user and waits until it serves. */
    private static Process daemon(Path mp, String... extra) throws Exception {
        List<String> args = new ArrayList<>(List.of("mount", "memory", mp.toString(), "--capacity", "64M"));
        args.addAll(List.of(extra));
        Process p = new ProcessBuilder(fuseguardAs(USER, args.toArray(String[]::new)))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
        StringBuilder log = new StringBuilder();
        CompletableFuture<Boolean> ready = CompletableFuture.supplyAsync(() -> {
            try {
                String l;
                while ((l = err.readLine()) != null) {
                    log.append(l).append('\n');
                    if (l.contains("Serving memory")) {
                        return true;
                    }
                }
            } catch (IOException e) {
                return false;
            }
            return false;
        });
        Boolean ok;
        try {
            ok = ready.get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            ok = false;
        }
        if (!Boolean.TRUE.equals(ok)) {
            p.destroyForcibly();
            throw new AssertionError("the daemon did not serve:\n" + log);
        }
        return p;
    }

    private static void stopAndCheckUnmounted(Process p, Path mp) throws Exception {
        try {
            long t0 = System.nanoTime();
            Child.runOk("kill", "-TERM", Long.toString(p.pid()));
            assertThat(p.waitFor(10, TimeUnit.SECONDS)).as("SIGTERM stops the non-root daemon").isTrue();
            System.out.printf("non-root fuseguard mount stopped %d ms after SIGTERM%n",
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            assertThat(MountTable.load().findByMountPoint(mp)).as("unmounted with fusermount").isEmpty();
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            if (MountTable.load().findByMountPoint(mp).isPresent()) {
                Child.run(Duration.ofSeconds(10), "umount", "-l", mp.toString());
            }
        }
    }

    @Test
    void aUsersOwnMountIsOwnedByTheUserAndClosedToOthers() throws Exception {
        writeFuseConf(fuseConf);
        Path mp = userMountPoint("own");
        Process d = daemon(mp);
        try {
            Child.Result mine = Child.run(Duration.ofSeconds(10), asUser(USER, "sh", "-c", "echo hi > " + mp
                    + "/f && cat " + mp + "/f && stat -c %u:%g " + mp));
            assertThat(mine.exit()).as(mine.err()).isZero();
            assertThat(mine.out()).isEqualTo("hi\n" + USER + ":" + USER + "\n");
            Child.Result other = Child.run(Duration.ofSeconds(10), asUser(OTHER, "cat", mp + "/f"));
            assertThat(other.exit()).as("another user, without allow_other").isNotZero();
            assertThat(other.err()).contains("Permission denied");
        } finally {
            stopAndCheckUnmounted(d, mp);
        }
    }

    @Test
    void allowOtherLetsOthersInUnderThePermissions() throws Exception {
        writeFuseConf((fuseConf == null ? "" : fuseConf) + "\nuser_allow_other\n");
        Path mp = userMountPoint("shared");
        Process d = daemon(mp, "--allow-other");
        try {
            Child.runOk(asUser(USER, "sh", "-c", "echo open > " + mp + "/open && chmod 644 " + mp + "/open && "
                    + "echo secret > " + mp + "/secret && chmod 600 " + mp + "/secret").toArray(String[]::new));
            assertThat(Child.run(Duration.ofSeconds(10), asUser(OTHER, "cat", mp + "/open")).out())
                    .isEqualTo("open\n");
            Child.Result secret = Child.run(Duration.ofSeconds(10), asUser(OTHER, "cat", mp + "/secret"));
            assertThat(secret.exit()).isNotZero();
            assertThat(secret.err()).contains("Permission denied");
            Child.Result write = Child.run(Duration.ofSeconds(10), asUser(OTHER, "sh", "-c", "echo x > " + mp
                    + "/theirs"));
            assertThat(write.exit()).as("the root directory is the user's, 0755").isNotZero();
        } finally {
            stopAndCheckUnmounted(d, mp);
        }
    }

    @Test
    void connectionsAndAbortSayWhatNeedsRoot() throws Exception {
        writeFuseConf(fuseConf);
        Path own = userMountPoint("own-tools");
        Path rootsMp = Files.createDirectory(base.resolve("roots"));
        Process d = daemon(own);
        try (io.fuseguard.mount.FuseMount rootMount = io.fuseguard.mount.FuseMount.mount(
                new io.fuseguard.testkit.SmallFs(), rootsMp, io.fuseguard.config.FuseguardConfig.builder()
                        .shutdownHook(false).build())) {
            Child.Result list = Child.run(Duration.ofSeconds(30), fuseguardAs(USER, "connections"));
            assertThat(list.exit()).isZero();
            assertThat(list.out()).contains(own.toString()).contains(rootsMp.toString())
                    .contains("needs root");

            // Another user's connection: refused, and it says why.
            Child.Result refused = Child.run(Duration.ofSeconds(30), fuseguardAs(USER, "abort", rootsMp.toString()));
            assertThat(refused.exit()).isEqualTo(1);
            assertThat(refused.err()).startsWith("fuseguard: ").contains("needs root").contains("uid 0");
            assertThat(MountTable.load().findByMountPoint(rootsMp)).as("nothing was aborted").isPresent();
            assertThat(rootMount.isMounted()).isTrue();

            // Its own: the kernel gives a mount's control files to its owner, so the user may abort it.
            Child.Result aborted = Child.run(Duration.ofSeconds(30), fuseguardAs(USER, "abort", own.toString(),
                    "--unmount"));
            assertThat(aborted.exit()).as(aborted.err()).isZero();
            assertThat(aborted.out()).contains("Aborted FUSE connection");
            assertThat(MountTable.load().findByMountPoint(own)).isEmpty();
        } finally {
            d.destroyForcibly();
            d.waitFor(10, TimeUnit.SECONDS);
            if (MountTable.load().findByMountPoint(own).isPresent()) {
                Child.run(Duration.ofSeconds(10), "umount", "-l", own.toString());
            }
        }
    }
}
