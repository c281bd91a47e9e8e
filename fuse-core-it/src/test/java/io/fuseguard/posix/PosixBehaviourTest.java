package io.fuseguard.posix;

import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.Instant;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** POSIX behaviour through a real mount, with Java's file APIs and with ordinary programs. */
class PosixBehaviourTest {
    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(SmallFs::new);

    private Path p(String name) {
        return fuse.mountPoint().resolve(name);
    }

    private static Child.Result sh(String script) throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(20), "sh", "-c", script);
        assertThat(r.timedOut()).isFalse();
        return r;
    }

    @Test
    void createWriteReadAppendTruncate() throws Exception {
        Files.writeString(p("f"), "hello");
        Files.writeString(p("f"), " world", StandardOpenOption.APPEND);
        assertThat(Files.readString(p("f"))).isEqualTo("hello world");
        try (var ch = Files.newByteChannel(p("f"), StandardOpenOption.WRITE)) {
            ch.truncate(5);
        }
        assertThat(Files.readString(p("f"))).isEqualTo("hello");
        assertThat(sh("truncate -s 8 " + p("f") + " && stat -c %s " + p("f")).out().trim()).isEqualTo("8");
        assertThat(Files.readAllBytes(p("f"))).containsExactly('h', 'e', 'l', 'l', 'o', 0, 0, 0);
    }

    @Test
    void programsCopyAndConcatenate() throws Exception {
        byte[] data = new byte[1_000_000];
        new java.util.Random(1).nextBytes(data);
        Path src = Files.createTempFile("src", ".bin");
        try {
            Files.write(src, data);
            assertThat(sh("cp " + src + " " + p("big") + " && cat " + p("big") + " > /dev/null").exit()).isZero();
            assertThat(Files.readAllBytes(p("big"))).isEqualTo(data);
            assertThat(sh("cmp " + src + " " + p("big")).exit()).isZero();
            assertThat(sh("echo a >> " + p("log") + "; echo b >> " + p("log") + "; cat " + p("log")).out())
                    .isEqualTo("a\nb\n");
        } finally {
            Files.deleteIfExists(src);
        }
    }

    @Test
    void renameAndUnlink() throws Exception {
        Files.writeString(p("a"), "A");
        Files.writeString(p("b"), "B");
        Files.move(p("a"), p("b"), StandardCopyOption.REPLACE_EXISTING);
        assertThat(Files.exists(p("a"))).isFalse();
        assertThat(Files.readString(p("b"))).isEqualTo("A");
        assertThat(sh("mv " + p("b") + " " + p("c") + " && cat " + p("c")).out()).isEqualTo("A");
        Files.delete(p("c"));
        assertThatThrownBy(() -> Files.readString(p("c"))).isInstanceOf(NoSuchFileException.class);
    }

    @Test
    void directories() throws Exception {
        Files.createDirectories(p("d/e"));
        Files.writeString(p("d/e/f"), "x");
        try (Stream<Path> s = Files.list(p("d"))) {
            assertThat(s.map(x -> x.getFileName().toString())).containsExactly("e");
        }
        assertThat(sh("ls -a " + p("d")).out().split("\n")).containsExactly(".", "..", "e");
        assertThatThrownBy(() -> Files.delete(p("d/e"))).isInstanceOf(DirectoryNotEmptyException.class);
        assertThat(sh("rm -r " + p("d") + " && test ! -e " + p("d")).exit()).isZero();
    }

    @Test
    void symlinks() throws Exception {
        Files.writeString(p("target"), "through the link");
        Files.createSymbolicLink(p("link"), Path.of("target"));
        assertThat(Files.readSymbolicLink(p("link"))).isEqualTo(Path.of("target"));
        assertThat(Files.readString(p("link"))).isEqualTo("through the link");
        assertThat(sh("readlink " + p("link")).out().trim()).isEqualTo("target");
        assertThat(sh("ln -s /nowhere " + p("dangling") + " && test -L " + p("dangling")).exit()).isZero();
    }

    @Test
    void specialFiles() throws Exception {
        assertThat(sh("mkfifo " + p("fifo") + " && stat -c %F " + p("fifo")).out().trim()).isEqualTo("fifo");
        assertThat(sh("(cat " + p("fifo") + " &) ; echo through > " + p("fifo")).exit()).isZero();
        assertThat(sh("mknod " + p("null") + " c 1 3 && stat -c '%t %T %F' " + p("null")).out().trim())
                .isEqualTo("1 3 character special file");
        // FUSE mounts are nodev: the kernel refuses to open a device node there, which shows it is one.
        assertThat(sh("echo x > " + p("null")).err()).contains("Permission denied");
    }

    @Test
    void chmodAndUtimens() throws Exception {
        Files.writeString(p("m"), "x");
        Files.setPosixFilePermissions(p("m"), PosixFilePermissions.fromString("rwxr-x---"));
        assertThat(sh("stat -c %a " + p("m")).out().trim()).isEqualTo("750");
        assertThat(sh("chmod 604 " + p("m") + " && stat -c %a " + p("m")).out().trim()).isEqualTo("604");
        Instant when = Instant.parse("2001-02-03T04:05:06Z");
        Files.setLastModifiedTime(p("m"), FileTime.from(when));
        assertThat(Files.getLastModifiedTime(p("m")).toInstant()).isEqualTo(when);
        assertThat(sh("touch -m -d '2010-01-01 00:00:00 UTC' " + p("m") + " && stat -c %Y " + p("m")).out().trim())
                .isEqualTo("1262304000");
    }

    @Test
    void statfs() throws Exception {
        Files.write(p("blob"), new byte[1 << 20]);
        FileStore store = Files.getFileStore(p("blob"));
        assertThat(store.getTotalSpace()).isEqualTo(64L << 20);
        assertThat(store.getUsableSpace()).isEqualTo((64L << 20) - (1L << 20));
        assertThat(sh("df -k " + fuse.mountPoint() + " | tail -1").out()).contains("65536");
    }

    @Test
    void writesFromManyProcessesAtOnce() throws Exception {
        StringBuilder script = new StringBuilder();
        for (int i = 0; i < 16; i++) {
            script.append("(head -c 200000 /dev/zero | tr '\\0' 'x' > ").append(p("par" + i)).append(") & ");
        }
        script.append("wait");
        assertThat(sh(script.toString()).exit()).isZero();
        for (int i = 0; i < 16; i++) {
            byte[] b = Files.readAllBytes(p("par" + i));
            assertThat(b).hasSize(200_000);
            assertThat(new String(b, StandardCharsets.US_ASCII).chars().allMatch(c -> c == 'x')).isTrue();
        }
    }
}
