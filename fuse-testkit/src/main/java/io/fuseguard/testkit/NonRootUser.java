package io.fuseguard.testkit;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * An ordinary user for tests that run a daemon without root, prepared by a test running as root the way a
 * developer machine is: a real user (fusermount needs a name for the uid; created if missing and deleted again),
 * {@code /dev/fuse} usable by everybody, a class path the user can read (jars under {@code /root} copied), and
 * {@code /etc/fuse.conf} as each test needs it. {@link #close} restores the machine.
 */
public final class NonRootUser implements AutoCloseable {
    private static final Path FUSE_CONF = Path.of("/etc/fuse.conf");
    private static final String SETPRIV = program("setpriv");

    private final int uid;
    private final int gid;
    private final boolean created;
    private final String name;
    private final Path base;
    private final String classPath;
    private final String devFuseMode;
    private final String fuseConf;

    private NonRootUser(int uid, String name, boolean created, Path base) throws IOException, InterruptedException {
        this.uid = uid;
        this.name = name;
        this.created = created;
        this.base = base;
        this.gid = Integer.parseInt(Child.runOk("id", "-g", Integer.toString(uid)).trim());
        this.devFuseMode = Child.runOk("stat", "-c", "%a", "/dev/fuse").trim();
        Child.runOk("chmod", "0666", "/dev/fuse");
        this.fuseConf = Files.exists(FUSE_CONF) ? Files.readString(FUSE_CONF) : null;
        this.classPath = readableClassPath(base.resolve("cp"));
    }

    /**
     * Prepares user {@code uid} (created as {@code name} if this machine has no such uid) and a directory
     * under {@code /tmp} that user can reach.
     */
    public static NonRootUser prepare(int uid, String name) throws IOException, InterruptedException {
        boolean created = false;
        if (Child.run(Duration.ofSeconds(10), "getent", "passwd", Integer.toString(uid)).exit() != 0) {
            Child.runOk("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--uid",
                    Integer.toString(uid), "--user-group", name);
            created = true;
        }
        Path base = Files.createTempDirectory(Path.of("/tmp"), "fg-user-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        return new NonRootUser(uid, name, created, base);
    }

    /** The user's id. */
    public int uid() {
        return uid;
    }

    /** The user's primary group id. */
    public int gid() {
        return gid;
    }

    /** A directory everybody may enter (for mount points and helper directories). */
    public Path base() {
        return base;
    }

    /** A new directory owned by the user. */
    public Path ownedDirectory(String name) throws IOException, InterruptedException {
        Path d = Files.createDirectory(base.resolve(name));
        Child.runOk("chown", uid + ":" + gid, d.toString());
        return d;
    }

    /**
     * {@code cmd} run as the user (no root, no capabilities, no supplementary groups). {@code setpriv} is named by
     * its path, so a test may run the whole command with a PATH of its own.
     */
    public List<String> as(List<String> cmd) {
        List<String> c = new ArrayList<>(List.of(SETPRIV, "--reuid=" + uid, "--regid=" + gid, "--clear-groups",
                "--inh-caps=-all"));
        c.addAll(cmd);
        return c;
    }

    /** A JVM running {@code main} as the user with the test class path, the JVM options and the arguments. */
    public List<String> java(List<String> jvmOptions, Class<?> main, String... args) {
        List<String> c = new ArrayList<>();
        c.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        c.addAll(jvmOptions);
        c.addAll(List.of("-cp", classPath, main.getName()));
        c.addAll(List.of(args));
        return as(c);
    }

    /** Replaces {@code /etc/fuse.conf} (the original comes back at {@link #close}); null removes it. */
    public void writeFuseConf(String content) throws IOException {
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

    /** The machine's {@code /etc/fuse.conf} as it was, or null. */
    public String originalFuseConf() {
        return fuseConf;
    }

    @Override
    public void close() throws IOException, InterruptedException {
        if (created) {
            Child.run(Duration.ofSeconds(10), "userdel", name);
        }
        Child.runOk("chmod", devFuseMode, "/dev/fuse");
        writeFuseConf(fuseConf);
        Child.run(Duration.ofSeconds(20), "rm", "-rf", base.toString());
    }

    /** A program's path on this JVM's PATH (the name itself when it is not found: the run then says so). */
    public static String program(String name) {
        for (String d : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, name))) {
                return Path.of(d, name).toString();
            }
        }
        return name;
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
}
