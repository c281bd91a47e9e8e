package io.fuseguard.edges;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.passthrough.PassthroughFs;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.PyClient;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A file unlinked while open is hidden in the backing store under a {@code .fuse_hidden*} name (as libfuse does)
 * and removed from there when it is released: after its last close, and also when it is still open at unmount
 * (issue 8: "{@code .fuse_hidden*} files are left in the backing store").
 *
 * <p>Before: at unmount the hidden files' removal went through the kernel and was answered ENOTCONN, so they
 * stayed in the backing directory for good.
 */
class HiddenFilesTest {
    private Path root;
    private Path mp;
    private FuseMount mount;
    private PassthroughFs fs;
    private PyClient client;

    @BeforeEach
    void mount() throws Exception {
        Edges.assumeFuseAndRoot();
        root = Edges.newDir("passthrough-root-");
        mp = Edges.newDir("passthrough-mnt-");
        fs = new PassthroughFs(root);
        mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("hidden").shutdownHook(false).build());
        client = new PyClient();
    }

    @AfterEach
    void cleanUp() {
        if (client != null) {
            client.close();
        }
        if (mount != null) {
            mount.close();
        }
        if (fs != null) {
            fs.closeAll();
        }
        Edges.forceUnmount(mp);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private List<String> hiddenInBackingStore() throws IOException {
        try (Stream<Path> s = Files.walk(root)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".fuse_hidden")).toList();
        }
    }

    /** Opens {@code name}, writes, unlinks it while open; the backing store then holds it under a hidden name. */
    private void openWriteUnlink(String name) throws Exception {
        Duration limit = Duration.ofSeconds(10);
        client.call(limit, "open f " + mp.resolve(name) + " rwc").assertOk();
        client.call(limit, "write f still-readable").assertOk();
        client.call(limit, "unlink " + mp.resolve(name)).assertOk();
        assertThat(hiddenInBackingStore()).as("hidden while open, as libfuse does").hasSize(1);
        assertThat(Files.exists(root.resolve(name))).isFalse();
        assertThat(client.call(limit, "pread f 100 0").assertOk().value()).as("still readable through the descriptor")
                .isEqualTo("still-readable");
    }

    @Test
    void aFileUnlinkedWhileOpenLeavesNothingAfterItsLastClose() throws Exception {
        openWriteUnlink("a");
        client.call(Duration.ofSeconds(10), "close f").assertOk();
        await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(hiddenInBackingStore()).isEmpty());
        try (Stream<Path> s = Files.list(root)) {
            assertThat(s.toList()).as("the backing directory is empty").isEmpty();
        }
    }

    @Test
    void aFileUnlinkedAndStillOpenAtUnmountLeavesNothing() throws Exception {
        openWriteUnlink("b");
        long t0 = System.nanoTime();
        mount.close();
        System.out.printf("close() with an unlinked file still open: %d ms; left in the backing store: %s%n",
                Edges.ms(t0), hiddenInBackingStore());
        assertThat(hiddenInBackingStore()).as("nothing hidden left behind after close()").isEmpty();
        try (Stream<Path> s = Files.list(root)) {
            assertThat(s.toList()).as("the backing directory is empty").isEmpty();
        }
        client.call(Duration.ofSeconds(10), "close f");
    }
}
