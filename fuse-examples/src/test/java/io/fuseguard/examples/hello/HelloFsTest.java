package io.fuseguard.examples.hello;

import io.fuseguard.junit.FuseMountExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * HelloFs through the real kernel, with nothing but java.nio. The extension mounts a fresh HelloFs on a temporary
 * directory before each test, unmounts it after each test (its afterEach), and skips the test with the reason when
 * FUSE is not usable here.
 */
class HelloFsTest {
    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(HelloFs::new);

    private Path hello() {
        return fuse.mountPoint().resolve("hello");
    }

    @Test
    void readsTheGreeting() throws IOException {
        assertThat(Files.readString(hello())).isEqualTo("Hello, world!\n");
    }

    @Test
    void rootListsExactlyHello() throws IOException {
        try (Stream<Path> entries = Files.list(fuse.mountPoint())) {
            assertThat(entries.map(p -> p.getFileName().toString()).toList()).isEqualTo(List.of("hello"));
        }
    }

    @Test
    void statReportsSizeAndReadOnlyRegularFile() throws IOException {
        assertThat(Files.size(hello())).isEqualTo(14);
        assertThat(Files.isRegularFile(hello())).isTrue();
        assertThat(Files.isDirectory(fuse.mountPoint())).isTrue();
    }

    @Test
    void missingFileIsNoSuchFile() {
        assertThatThrownBy(() -> Files.readString(fuse.mountPoint().resolve("missing")))
                .isInstanceOf(NoSuchFileException.class);
    }

    @Test
    void writingIsRefused() throws IOException {
        // Tests run as root, which mode 0444 alone would not stop: the refusal must come from HelloFs.
        assertThatThrownBy(() -> Files.writeString(hello(), "bye\n")).isInstanceOf(IOException.class);
        assertThatThrownBy(() -> Files.writeString(fuse.mountPoint().resolve("new"), "x"))
                .isInstanceOf(IOException.class);
        assertThat(Files.readString(hello())).isEqualTo("Hello, world!\n");
    }
}
