package io.fuseguard.examples.passthrough;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An {@code open(O_CREAT)} of a name the kernel believes missing, while the file exists on the host, is
 * checked by {@link PassthroughFs} itself: the kernel skipped its permission check (it had nothing to check),
 * and the daemon opens the existing file as root. The review's reproduction: a negative dentry cached for 30 s
 * ({@code negative_timeout=30}), the file then made 0600 by root directly on the source, and uid 65534
 * ({@code setpriv}) opening it with {@code O_CREAT}; before the fix it read and appended to the root-only file.
 * And a plain open, which the kernel sends only for a regular file, opens nothing else, whatever the host put
 * under the name meanwhile.
 */
class PassthroughFsCreateAccessTest {
    /** Opens each argv name with the given flags and prints "name: ok DATA" or "name: ERRNO". */
    private static final String OPEN_SCRIPT = """
            import errno, os, sys
            flags = eval(sys.argv[1], {"os": os})
            for name in sys.argv[2:]:
                try:
                    fd = os.open(name, flags, 0o666)
                    try:
                        data = b""
                        if flags & os.O_ACCMODE != os.O_WRONLY:
                            data = os.read(fd, 100)
                        if flags & os.O_ACCMODE != os.O_RDONLY:
                            os.write(fd, b"PWNED\\n")
                        print((name + ": ok " + data.decode().strip()).rstrip(), flush=True)
                    finally:
                        os.close(fd)
                except OSError as e:
                    print(name + ": " + errno.errorcode[e.errno], flush=True)
            """;

    /** Looks each name up (so that the kernel caches its absence) and prints "name: ERRNO" or "name: exists". */
    private static final String LOOKUP_SCRIPT = """
            import errno, os, sys
            for name in sys.argv[1:]:
                try:
                    os.lstat(name)
                    print(name + ": exists", flush=True)
                except OSError as e:
                    print(name + ": " + errno.errorcode[e.errno], flush=True)
            """;

    final Path root = createRoot();
    PassthroughFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false)
            .allowOther(true) // and so default_permissions
            .mountOption("negative_timeout=30").fsName("passthrough-create-access").build());

    private static Path createRoot() {
        // anyone may create here (else the kernel refuses O_CREAT on a name it believes missing by itself)
        return FuseTestSupport.newTempDir("passthrough-access-", "rwxrwxrwx");
    }

    private PassthroughFs newFs() {
        try {
            fs = new PassthroughFs(root);
            return fs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterEach
    void cleanRoot() throws Exception {
        if (fs != null) {
            fs.close();
        }
        Child.runOk("rm", "-rf", root.toString());
    }

    /** Runs python as uid/gid 65534 with the given supplementary groups (none when empty). */
    private List<String> asNobody(List<String> groups, String script, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534"));
        cmd.add(groups.isEmpty() ? "--clear-groups" : "--groups=" + String.join(",", groups));
        cmd.addAll(List.of(Edges.python(), "-c", script));
        for (String a : args) {
            cmd.add(a);
        }
        Child.Result r = Child.run(Duration.ofSeconds(30), cmd).assertOk();
        return r.out().lines().toList();
    }

    /** Makes nobody's kernel cache "no such name" for each name (asserting it was missing). */
    private void cacheAbsence(String... names) throws Exception {
        String[] paths = new String[names.length];
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < names.length; i++) {
            paths[i] = fuse.mountPoint().resolve(names[i]).toString();
            expected.add(paths[i] + ": ENOENT");
        }
        assertThat(asNobody(List.of(), LOOKUP_SCRIPT, paths)).containsExactlyElementsOf(expected);
    }

    /** Creates {@code name} on the source, owned by root:{@code gid} with {@code mode}. */
    private Path hostFile(String name, String content, String mode, int gid) throws Exception {
        Path p = Files.writeString(root.resolve(name), content);
        Child.runOk("chown", "0:" + gid, p.toString());
        Child.runOk("chmod", mode, p.toString());
        return p;
    }

    private String open(List<String> groups, String flags, String name) throws Exception {
        String path = fuse.mountPoint().resolve(name).toString();
        List<String> out = asNobody(groups, OPEN_SCRIPT, flags, path);
        assertThat(out).hasSize(1);
        return out.get(0).substring(path.length() + 2);
    }

    @Test
    void aRootOnlyFileMadeBehindACachedAbsenceIsRefused() throws Exception {
        cacheAbsence("secret");
        Path secret = hostFile("secret", "top secret\n", "600", 0);

        assertThat(open(List.of(), "os.O_CREAT | os.O_RDWR", "secret")).isEqualTo("EACCES");
        assertThat(open(List.of(), "os.O_CREAT | os.O_WRONLY | os.O_APPEND", "secret")).isEqualTo("EACCES");
        assertThat(open(List.of(), "os.O_CREAT | os.O_RDONLY", "secret")).isEqualTo("EACCES");
        assertThat(open(List.of(), "os.O_CREAT | os.O_WRONLY | os.O_TRUNC", "secret")).isEqualTo("EACCES");

        assertThat(Files.readString(secret)).isEqualTo("top secret\n");
        assertThat(Files.getAttribute(secret, "unix:mode")).isEqualTo(0100600);
        assertThat(Files.getAttribute(secret, "unix:uid")).isEqualTo(0);
        assertThat(fs.openHandles()).isZero();
    }

    // A refused create leaves the kernel's negative entry in place, so each refusal below was the daemon's; the
    // first open that succeeds makes the name known, and later opens would be the kernel's to check: so the
    // allowed open comes last.

    @Test
    void aWorldReadableFileOpensForReadingButNotForWriting() throws Exception {
        cacheAbsence("public");
        Path pub = hostFile("public", "for all\n", "644", 0);

        assertThat(open(List.of(), "os.O_CREAT | os.O_RDWR", "public")).isEqualTo("EACCES");
        // O_TRUNC asks for write access even with O_RDONLY, and is not applied before it is granted
        assertThat(open(List.of(), "os.O_CREAT | os.O_RDONLY | os.O_TRUNC", "public")).isEqualTo("EACCES");
        assertThat(Files.readString(pub)).isEqualTo("for all\n");
        assertThat(open(List.of(), "os.O_CREAT | os.O_RDONLY", "public")).isEqualTo("ok for all");
    }

    @Test
    void aSupplementaryGroupGrantsWhatItsBitsSay() throws Exception {
        cacheAbsence("team-read", "team-append");
        Path read = hostFile("team-read", "team notes\n", "640", 4300);
        Path append = hostFile("team-append", "team log\n", "620", 4300);

        assertThat(open(List.of(), "os.O_CREAT | os.O_RDONLY", "team-read")).isEqualTo("EACCES");
        assertThat(open(List.of("4300"), "os.O_CREAT | os.O_RDWR", "team-read")).isEqualTo("EACCES");
        assertThat(open(List.of("4300"), "os.O_CREAT | os.O_RDONLY", "team-read")).isEqualTo("ok team notes");

        assertThat(open(List.of(), "os.O_CREAT | os.O_WRONLY | os.O_APPEND", "team-append")).isEqualTo("EACCES");
        assertThat(open(List.of("4200", "4300"), "os.O_CREAT | os.O_WRONLY | os.O_APPEND", "team-append"))
                .isEqualTo("ok");
        assertThat(Files.readString(append)).isEqualTo("team log\nPWNED\n");
        assertThat(Files.readString(read)).isEqualTo("team notes\n");
    }

    @Test
    void truncationIsAppliedOnceWriteAccessIsGranted() throws Exception {
        cacheAbsence("mine");
        Path mine = hostFile("mine", "old content\n", "600", 65534);
        Child.runOk("chown", "65534", mine.toString());

        assertThat(open(List.of(), "os.O_CREAT | os.O_WRONLY | os.O_TRUNC", "mine")).isEqualTo("ok");
        assertThat(Files.readString(mine)).isEqualTo("PWNED\n");
    }

    @Test
    void aDeviceNodeFoundByCreateIsNotOpened() throws Exception {
        cacheAbsence("null");
        Child.runOk("mknod", "-m", "666", root.resolve("null").toString(), "c", "1", "3");

        // the mount is nodev, so the kernel would refuse to open a device it knew about; and it takes nothing but
        // a regular file as created (before, it answered EIO, after the daemon had opened the device as root)
        assertThat(open(List.of(), "os.O_CREAT | os.O_WRONLY", "null")).isEqualTo("EACCES");
        assertThat(fs.openHandles()).isZero();
    }

    /** The same for a plain open: the kernel sends one only for what it believes is a regular file. */
    @Test
    void aDeviceNodeSwappedInBehindCachedAttributesIsNotOpened() throws Exception {
        Files.writeString(root.resolve("plain"), "plain\n");
        Child.runOk("chmod", "666", root.resolve("plain").toString());
        // within the kernel's attribute and entry cache (1 s): look up, swap on the source, open
        String out = Child.runOk(Edges.python(), "-c", """
                import errno, os, sys
                via, src = sys.argv[1], sys.argv[2]
                os.stat(via)
                os.unlink(src)
                os.mknod(src, 0o666 | 0o020000, os.makedev(1, 3))
                try:
                    os.close(os.open(via, os.O_WRONLY))
                    print("ok")
                except OSError as e:
                    print(errno.errorcode[e.errno])
                """, fuse.mountPoint().resolve("plain").toString(), root.resolve("plain").toString());
        assertThat(out.trim()).isEqualTo("EACCES");
        assertThat(fs.openHandles()).isZero();
    }
}
