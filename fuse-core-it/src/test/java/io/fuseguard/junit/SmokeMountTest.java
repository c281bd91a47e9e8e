package io.fuseguard.junit;

import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.file.Files;

import static org.assertj.core.api.Assertions.assertThat;

class SmokeMountTest {
    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(() -> new SmallFs().withFile("/hello", "hi\n".getBytes()));

    @Test
    void readsAFileThroughTheKernel() throws Exception {
        System.out.println("mount time " + fuse.mount().mountTime().toMillis() + " ms");
        assertThat(Files.readString(fuse.mountPoint().resolve("hello"))).isEqualTo("hi\n");
        Files.writeString(fuse.mountPoint().resolve("new"), "data");
        assertThat(Files.readString(fuse.mountPoint().resolve("new"))).isEqualTo("data");
        try (var s = Files.list(fuse.mountPoint())) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactlyInAnyOrder("hello", "new");
        }
    }
}
