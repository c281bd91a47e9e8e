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
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A new entry is given to its caller by descriptor, not by name: a host process that swaps the just-made name for
 * a hard link to another file, between the daemon's {@code mknodat} and its chown/chmod, must not get that file
 * given away or its mode changed. The race is run many times with a host process watching for the name; whatever
 * the interleaving, the other file keeps its owner and mode (when the daemon still acted by name, a run of
 * 3000 rounds gave it to uid 4242).
 *
 * <p>And the other way round: a host process that renames an older root-owned file (one link, right type, owned
 * by the daemon) over the just-made name must neither get it given away nor let the caller read it through the
 * mount on the strength of attributes the kernel still holds (a review reproduced that: uid 4242 read a root 0600
 * file 34 times in 20,000 rounds).
 */
class PassthroughFsNewEntryRaceTest {
    /** The caller, uid 4242 through the mount: makes and removes the FIFO "n" again and again. */
    private static final String CALLER = """
            import os, sys
            n = os.path.join(sys.argv[1], "n")
            made = 0
            for i in range(int(sys.argv[2])):
                try:
                    os.mkfifo(n, 0o666)
                    made += 1
                except OSError:
                    pass
                try:
                    os.unlink(n)
                except OSError:
                    pass
            print(made, flush=True)
            """;

    /** The host process: whenever "n" is a FIFO, replaces it by a hard link to "target". */
    private static final String SWAPPER = """
            import os, stat, sys, time
            d = sys.argv[1]
            n, tmp, target = os.path.join(d, "n"), os.path.join(d, "tmp"), os.path.join(d, "target")
            end = time.time() + float(sys.argv[2])
            swaps = 0
            while time.time() < end:
                try:
                    if stat.S_ISFIFO(os.lstat(n).st_mode):
                        try:
                            os.link(target, tmp)
                        except FileExistsError:
                            pass
                        os.rename(tmp, n)
                        swaps += 1
                except OSError:
                    pass
            print(swaps, flush=True)
            """;

    final Path root = createRoot();
    PassthroughFs fs;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false)
            .allowOther(true).mountOption("attr_timeout=0").mountOption("entry_timeout=0")
            .mountOption("negative_timeout=0").fsName("passthrough-race").build());

    private static Path createRoot() {
        return FuseTestSupport.newTempDir("passthrough-race-", "rwxrwxrwx");
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

    /** The caller for a rename over the new name: makes regular files and tries to read what it made. */
    private static final String READING_CALLER = """
            import os, sys, stat
            n = os.path.join(sys.argv[1], "n")
            made = 0
            hits = 0
            for i in range(int(sys.argv[2])):
                try:
                    os.mknod(n, 0o666 | stat.S_IFREG)
                    made += 1
                except OSError:
                    pass
                try:
                    with open(n) as f:
                        if f.read().startswith("root's"):
                            hits += 1
                except OSError:
                    pass
                try:
                    os.unlink(n)
                except OSError:
                    pass
            print("made %d hits %d" % (made, hits), flush=True)
            """;

    /** Renames a fresh root 0600 file over the caller's new empty root-owned file whenever it sees one. */
    private static final String RENAMER = """
            import os, stat, sys, time
            d = sys.argv[1]
            n = os.path.join(d, "n")
            end = time.time() + float(sys.argv[2])
            def make(i):
                t = os.path.join(d, "t%d" % i)
                with open(t, "w") as f:
                    f.write("root's secret\\n")
                os.chmod(t, 0o600)
                return t
            i = 0
            t = make(i)
            while time.time() < end:
                try:
                    st = os.lstat(n)
                    if stat.S_ISREG(st.st_mode) and st.st_uid == 0 and st.st_size == 0:
                        os.rename(t, n)
                        i += 1
                        t = make(i)
                except OSError:
                    pass
            print("swaps %d" % i, flush=True)
            """;


    @Test
    void aNameSwappedForAHardLinkIsNotGivenAway() throws Exception {
        Path target = Files.writeString(root.resolve("target"), "root's\n");
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-------"));
        Process swapper = Child.start(Edges.python(), "-c", SWAPPER, root.toString(), "20");
        try {
            String made = Child.run(Duration.ofSeconds(60), "setpriv", "--reuid=4242", "--regid=4242",
                    "--clear-groups", Edges.python(), "-c", CALLER, fuse.mountPoint().toString(), "3000")
                    .assertOk().out().trim();
            assertThat(Integer.parseInt(made)).as("FIFOs made through the mount").isPositive();
        } finally {
            Child.kill9(swapper);
        }
        assertThat(Files.getAttribute(target, "unix:uid")).isEqualTo(0);
        assertThat(Files.getAttribute(target, "unix:gid")).isEqualTo(0);
        assertThat(Files.getAttribute(target, "unix:mode")).isEqualTo(0100600);
        assertThat(Files.readString(target)).isEqualTo("root's\n");
    }

    @Test
    void anOlderRootFileRenamedOverTheNewNameIsNeverGivenAway() throws Exception {
        Process swapper = Child.start(Edges.python(), "-c", RENAMER, root.toString(), "10");
        String made = Child.run(Duration.ofSeconds(120), "setpriv", "--reuid=4242", "--regid=4242",
                "--clear-groups", Edges.python(), "-c", READING_CALLER, fuse.mountPoint().toString(), "4000")
                .assertOk().out().trim();
        String out = new String(swapper.getInputStream().readAllBytes()).trim();
        swapper.waitFor();
        System.out.println("rename over a new entry: " + made + "; swapper: " + out);
        assertThat(made).startsWith("made ").endsWith("hits 0");
        // and no root file was handed to the caller on the host side either
        try (var files = Files.list(root)) {
            files.filter(p -> p.getFileName().toString().startsWith("t")).forEach(p -> {
                try {
                    assertThat((Integer) Files.getAttribute(p, "unix:uid")).as("owner of %s", p).isZero();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
