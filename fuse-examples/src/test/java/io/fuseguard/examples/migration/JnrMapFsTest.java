package io.fuseguard.examples.migration;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The unchanged jnr-fuse filesystem, mounted through fuseguard with one line, driven by real processes. */
class JnrMapFsTest {
    @TempDir
    Path mp;

    @Test
    void anUnchangedJnrFuseFilesystemReadsWritesListsAndDeletes() throws Exception {
        FuseAvailability.assumeUsable();
        JnrMapFs fs = new JnrMapFs();
        fs.files().put("/hello", "hello\n".getBytes(StandardCharsets.UTF_8));
        try (FuseMount m = JnrFuseMount.mount(fs, mp, FuseguardConfig.builder().shutdownHook(false).build())) {
            assertThat(Child.run(Duration.ofSeconds(5), "cat", mp.resolve("hello").toString()).out())
                    .isEqualTo("hello\n");
            assertThat(Child.run(Duration.ofSeconds(5), "sh", "-c", "echo one > " + mp.resolve("new")
                    + " && echo two >> " + mp.resolve("new")).exit()).isZero();
            assertThat(new String(fs.files().get("/new"), StandardCharsets.UTF_8)).isEqualTo("one\ntwo\n");
            assertThat(Child.run(Duration.ofSeconds(5), "ls", mp.toString()).out().split("\n"))
                    .containsExactlyInAnyOrder("hello", "new");
            assertThat(Child.run(Duration.ofSeconds(5), "truncate", "-s", "3", mp.resolve("new").toString())
                    .exit()).isZero();
            assertThat(Files.readString(mp.resolve("new"))).isEqualTo("one");
            Files.delete(mp.resolve("new"));
            assertThat(fs.files()).doesNotContainKey("/new");
            assertThatThrownBy(() -> Files.readString(mp.resolve("missing"))).isInstanceOf(NoSuchFileException.class);
        }
    }

    @Test
    void writesPastTheSizeLimitGetEfbig() throws Exception {
        FuseAvailability.assumeUsable();
        JnrMapFs fs = new JnrMapFs(8);
        try (FuseMount m = JnrFuseMount.mount(fs, mp, FuseguardConfig.builder().shutdownHook(false).build())) {
            Files.writeString(mp.resolve("small"), "1234");
            assertThatThrownBy(() -> Files.writeString(mp.resolve("big"), "0123456789"))
                    .hasMessageContaining("File too large");
            assertThat(fs.files().get("/small")).hasSize(4);
            assertThat(fs.files().get("/big")).isEmpty();
        }
    }
}
