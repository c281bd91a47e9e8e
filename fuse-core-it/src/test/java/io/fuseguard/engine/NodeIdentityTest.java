package io.fuseguard.engine;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.examples.passthrough.PassthroughFs;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the kernel sees as one file: inode numbers stay below 2^32 (32-bit {@code stat()} callers get EOVERFLOW
 * otherwise) however often node ids are reused, and two names the filesystem reports as one file (hard links)
 * are one kernel inode with one page cache: a write through one name is read through an already open descriptor
 * of the other, and {@code git clone} of a local repository (which hard-links its objects) works.
 */
class NodeIdentityTest {
    private FuseMount mount;
    private Path mp;

    @BeforeEach
    void prepare() throws Exception {
        Edges.assumeFuseAndRoot();
        mp = Edges.newDir("identity-");
    }

    @AfterEach
    void cleanUp() {
        if (mount != null) {
            mount.close();
        }
        Edges.forceUnmount(mp);
    }

    private void mount(FuseFileSystem fs) {
        mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("identity").shutdownHook(false).build());
    }

    @Test
    void inodeNumbersStayBelow2To32WhenNodeIdsAreReused() throws Exception {
        mount(new SmallFs());
        String script = "import os, sys\n"
                + "d = sys.argv[1]\n"
                + "top = 0\n"
                + "for i in range(3000):\n"
                + "    p = os.path.join(d, 'f%d' % i)\n"
                + "    open(p, 'w').close()\n"
                + "    top = max(top, os.stat(p).st_ino)\n"
                + "    os.unlink(p)\n"
                + "for i in range(50):\n"
                + "    p = os.path.join(d, 'g%d' % i)\n"
                + "    open(p, 'w').close()\n"
                + "    top = max(top, os.stat(p).st_ino)\n"
                + "print(top)\n";
        long top = Long.parseLong(Child.run(Duration.ofSeconds(120), Edges.python(), "-c", script, mp.toString())
                .assertOk().out().trim());
        System.out.println("largest inode number after 3000 create+unlink and 50 creates: " + top);
        assertThat(top).isLessThan(1L << 32);
    }

    /** Links a to b, holds b open, writes through a, reads through the open b; prints "ino_a ino_b content". */
    private static String writeThroughOneReadThroughOther(Path dir) throws Exception {
        String script = "import os, sys\n"
                + "a, b = os.path.join(sys.argv[1], 'a'), os.path.join(sys.argv[1], 'b')\n"
                + "with open(a, 'wb') as f: f.write(b'old content')\n"
                + "os.link(a, b)\n"
                + "held = open(b, 'rb')\n"
                + "held.read()\n"
                + "with open(a, 'r+b') as f: f.write(b'NEW')\n"
                + "held.seek(0)\n"
                + "print(os.stat(a).st_ino, os.stat(b).st_ino, held.read().decode())\n";
        return Child.run(Duration.ofSeconds(30), Edges.python(), "-c", script, dir.toString()).assertOk().out()
                .trim();
    }

    private static void assertOneFile(String result, String fs) {
        System.out.println(fs + ", hard link written through one name, read through the other: " + result);
        String[] f = result.split(" ", 3);
        assertThat(f[0]).as("one inode number").isEqualTo(f[1]);
        assertThat(f[2]).as("one page cache: the open descriptor reads the new bytes").isEqualTo("NEW content");
    }

    @Test
    void hardLinksOfMemoryFsAreOneInode() throws Exception {
        mount(new MemoryFs());
        assertOneFile(writeThroughOneReadThroughOther(mp), "MemoryFs");
    }

    @Test
    void hardLinksOfPassthroughFsAreOneInode() throws Exception {
        Path source = Edges.newDir("identity-src-");
        mount(new PassthroughFs(source));
        assertOneFile(writeThroughOneReadThroughOther(mp), "PassthroughFs");
        long hostIno = (Long) Files.getAttribute(source.resolve("a"), "unix:ino");
        assertThat((Long) Files.getAttribute(mp.resolve("b"), "unix:ino")).as("the host's inode number")
                .isEqualTo(hostIno);
    }

    @Test
    void gitCloneOfALocalRepositoryWorks() throws Exception {
        mount(new MemoryFs());
        Path repo = mp.resolve("repo");
        Files.createDirectories(repo);
        git(repo, "init", "-q").assertOk();
        Files.writeString(repo.resolve("file.txt"), "content\n");
        git(repo, "add", "file.txt").assertOk();
        git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "first").assertOk();
        Child.Result r = git(mp, "clone", "-q", "repo", "clone");
        System.out.println("git clone of a local repository on MemoryFs: exit " + r.exit() + " " + r.err().trim());
        assertThat(r.exit()).as("git clone: %s", r.err()).isZero();
        assertThat(Files.readString(mp.resolve("clone/file.txt"))).isEqualTo("content\n");
    }

    /** git in {@code dir}, with no system or user configuration. */
    private static Child.Result git(Path dir, String... args) throws Exception {
        String[] cmd = new String[args.length + 6];
        cmd[0] = "env";
        cmd[1] = "GIT_CONFIG_NOSYSTEM=1";
        cmd[2] = "HOME=/nonexistent";
        cmd[3] = "git";
        cmd[4] = "-C";
        cmd[5] = dir.toString();
        System.arraycopy(args, 0, cmd, 6, args.length);
        return Child.run(Duration.ofSeconds(60), cmd);
    }
}
