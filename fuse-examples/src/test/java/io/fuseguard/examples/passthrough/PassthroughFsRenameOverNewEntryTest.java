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

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A new entry is given to its caller only if it is the one just made: a host process that renames an older
 * root-owned file (one link, right type, owned by the daemon) over the just-made name, between the daemon's
 * {@code mknodat} and its chown/chmod, must not get that file given to the caller (a review reproduced it: uid
 * 4242 read a root 0600 file 34 times in 20,000 rounds), and an open through the mount must not reach that file
 * on the strength of the new entry's attributes the kernel still holds: a regular file is made and given away
 * through one descriptor, and every open checks the caller against the file it actually opens.
 */
class PassthroughFsRenameOverNewEntryTest {
    /** The caller, uid 4242 through the mount: makes and removes the FIFO "n" again and again. */
    private static final String CALLER = """
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

    private static final String SWAPPER = """
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

    @Test
    void anOlderRootFileRenamedOverTheNewNameIsNeverGivenAway() throws Exception {
        Process swapper = Child.start(Edges.python(), "-c", SWAPPER, root.toString(), "10");
        String made = Child.run(Duration.ofSeconds(120), "setpriv", "--reuid=4242", "--regid=4242",
                "--clear-groups", Edges.python(), "-c", CALLER, fuse.mountPoint().toString(), "4000")
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
