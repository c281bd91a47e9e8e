package io.fuseguard.examples.upload;

import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The {@link Backend} contract on a {@link DirectoryBackend}. */
class DirectoryBackendContractTest extends BackendContractTest {
    @TempDir
    Path dir;

    @Override
    Backend newBackend() throws Exception {
        return new DirectoryBackend(dir.resolve("store"));
    }

    @Override
    void assertNoUploadLeftBehind() throws Exception {
        try (Stream<Path> s = Files.list(((DirectoryBackend) backend).root().resolve(DirectoryBackend.INCOMING))) {
            assertThat(s).isEmpty();
        }
    }
}
