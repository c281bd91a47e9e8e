package io.fuseguard.examples.upload;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A download changes what the kernel caches of a file (a backend-only file gets a cache file of its own, with its
 * own inode number and change time): with the mount's notifier the kernel sees the new attributes at once, even
 * with attributes cached for 60 s; without it, it keeps the backend entry's until the timeout.
 */
class CachedUploadFsNotifyTest {
    private final Path work = FuseTestSupport.newTempDir("upload-notify-", "rwxr-xr-x");
    private CachedUploadFs fs;
    private FuseMount mount;

    @AfterEach
    void tearDown() throws Exception {
        if (mount != null) {
            mount.close();
        }
        if (fs != null) {
            fs.close();
        }
        Child.runOk("rm", "-rf", work.toString());
    }

    /** Inode number and change time through the mount, before and right after a read that downloads the file. */
    private String[] beforeAndAfterDownload(boolean notify) throws Exception {
        FuseAvailability.assumeUsable();
        DirectoryBackend backend = new DirectoryBackend(Files.createDirectories(work.resolve("backend")));
        byte[] data = "from the backend".getBytes(StandardCharsets.UTF_8);
        backend.put("/remote", new ByteArrayInputStream(data), data.length);
        Files.setLastModifiedTime(work.resolve("backend/remote"), java.nio.file.attribute.FileTime.fromMillis(
                1_000_000_000_000L)); // a backend time well apart from the download's
        fs = new CachedUploadFs(work.resolve("cache"), backend);
        Path mp = Files.createDirectories(work.resolve("mnt"));
        mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().shutdownHook(false)
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).mountOption("attr_timeout=60")
                .mountOption("entry_timeout=60").build());
        if (notify) {
            fs.notifyKernel(mount.notifier());
        }
        String file = mp.resolve("remote").toString();
        String before = Child.run(Duration.ofSeconds(10), "stat", "-c", "%i %Z", file).assertOk().out().trim();
        assertThat(Child.run(Duration.ofSeconds(10), "cat", file).assertOk().out()).isEqualTo("from the backend");
        await().atMost(Duration.ofSeconds(10)).until(() -> Files.exists(work.resolve("cache/data/remote")));
        Thread.sleep(200); // the notification is queued by the fetcher as it installs the file
        String after = Child.run(Duration.ofSeconds(10), "stat", "-c", "%i %Z", file).assertOk().out().trim();
        return new String[] {before, after};
    }

    @Test
    void withTheNotifierTheKernelSeesTheDownloadedFilesAttributesAtOnce() throws Exception {
        String[] seen = beforeAndAfterDownload(true);
        String host = Child.run(Duration.ofSeconds(10), "stat", "-c", "%i %Z",
                work.resolve("cache/data/remote").toString()).assertOk().out().trim();
        assertThat(seen[1]).isNotEqualTo(seen[0]).isEqualTo(host);
    }

    @Test
    void withoutItTheKernelKeepsTheBackendEntrysUntilTheTimeout() throws Exception {
        String[] seen = beforeAndAfterDownload(false);
        assertThat(seen[1]).isEqualTo(seen[0]);
    }
}
