package io.fuseguard.edges;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.PyClient;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static io.fuseguard.internal.sys.Syscalls.EIO;
import static io.fuseguard.internal.sys.Syscalls.ENOSPC;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A close-time failure that arrives late (a FLUSH answered at its deadline whose handler fails afterwards, under
 * the BOUNDED flush policy) belongs to the file that was closed: it is reported at the next fsync of that file
 * (any handle of it, also one opened again before it was removed), and never to an unrelated file that later
 * gets the same path.
 *
 * <p>Before: the late failures were kept in a map keyed by path, so a new file created at the path of a removed
 * one got the old file's error at its fsync.
 */
class LateCloseFailureTest {
    private static final Duration FLUSH_DEADLINE = Duration.ofMillis(800);
    /** How long a failing flush runs: well past its deadline. */
    private static final Duration FLUSH_TIME = FLUSH_DEADLINE.multipliedBy(2);

    private FuseMount mount;
    private Path mp;
    private PyClient client;

    /** SmallFs whose first flush of each {@code /late-*} path runs past the deadline and then fails ENOSPC. */
    static final class LateFlushFs extends SmallFs {
        final Set<String> flushedOnce = ConcurrentHashMap.newKeySet();
        final Set<String> failed = ConcurrentHashMap.newKeySet();
        final AtomicInteger fsyncs = new AtomicInteger();

        @Override
        public void fsync(String path, long fh, boolean dataOnly) {
            fsyncs.incrementAndGet();
        }

        @Override
        public void flush(String path, long fh) {
            if (path.startsWith("/late-") && flushedOnce.add(path)) {
                long end = System.nanoTime() + FLUSH_TIME.toNanos();
                while (System.nanoTime() < end) {
                    try {
                        Thread.sleep(Math.max(1, (end - System.nanoTime()) / 1_000_000));
                    } catch (InterruptedException e) {
                        // ignores interrupts: an upload that cannot be stopped
                    }
                }
                failed.add(path);
                throw new ErrnoException(Errno.ENOSPC, "upload of " + path + " failed");
            }
        }
    }

    private LateFlushFs fs;

    @BeforeEach
    void mount() throws Exception {
        Edges.assumeFuseAndRoot();
        fs = new LateFlushFs();
        mp = Edges.newDir("lateflush-");
        mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("lateflush")
                .flushPolicy(FlushPolicy.BOUNDED).deadline(OperationKind.FLUSH, FLUSH_DEADLINE)
                .shutdownHook(false).build());
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
        Edges.forceUnmount(mp);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private PyClient.Reply call(String cmd) throws Exception {
        return client.call(FLUSH_TIME.multipliedBy(5), cmd);
    }

    /** Writes and closes {@code name}: the close gets the timeout errno at the FLUSH deadline. */
    private void writeAndCloseLate(String handle, String file) throws Exception {
        PyClient.Reply close = call("close " + handle);
        System.out.printf("close() of %s whose flush runs past its deadline: %s%n", file, close);
        assertThat(close.errno()).as("close() answered the timeout errno at the FLUSH deadline").isEqualTo(EIO);
        assertThat(close.ms()).isLessThan(FLUSH_TIME.toMillis());
        await().atMost(FLUSH_TIME.multipliedBy(3)).until(() -> fs.failed.contains(file));
        Thread.sleep(100); // the framework records the failure right after the handler returned
    }

    @Test
    void aLateFailureIsNeverReportedToANewFileAtTheSamePath() throws Exception {
        Path f = mp.resolve("late-a");
        call("open old " + f + " wc").assertOk();
        call("write old old-content").assertOk();
        writeAndCloseLate("old", "/late-a");

        call("unlink " + f).assertOk();
        call("open new " + f + " wc").assertOk();
        call("write new new-content").assertOk();
        int fsyncsBefore = fs.fsyncs.get();
        PyClient.Reply fsync = call("fsync new");
        System.out.printf("fsync of a new file at the path of a file whose flush failed late: %s%n", fsync);
        assertThat(fs.fsyncs.get()).as("the fsync reached the filesystem").isEqualTo(fsyncsBefore + 1);
        assertThat(fsync.ok()).as("the new file's fsync does not get the removed file's failure").isTrue();
        call("close new").assertOk();
        assertThat(call("readfile " + f).assertOk().value()).isEqualTo("new-content");
    }

    @Test
    void aLateFailureIsReportedAtTheNextFsyncOfTheSameFile() throws Exception {
        Path f = mp.resolve("late-b");
        call("open first " + f + " wc").assertOk();
        call("write first old-content").assertOk();
        call("open second " + f + " rw").assertOk(); // another descriptor of the same file, opened before close
        writeAndCloseLate("first", "/late-b");

        PyClient.Reply fsync = call("fsync second");
        System.out.printf("fsync of the same file (another descriptor) after its flush failed late: %s%n", fsync);
        assertThat(fsync.errno()).as("the late failure is reported at the file's next fsync").isEqualTo(ENOSPC);
        assertThat(call("fsync second").ok()).as("reported once").isTrue();

        // Removed while still open, then a new file at the same path: it starts clean.
        call("unlink " + f).assertOk();
        call("open new " + f + " wc").assertOk();
        call("write new new-content").assertOk();
        assertThat(call("fsync new").ok()).as("the new file at the path starts clean").isTrue();
        call("close second");
        call("close new").assertOk();
    }

    @Test
    void aLateFailureIsReportedToTheFileOpenedAgainBeforeItWasRemoved() throws Exception {
        Path f = mp.resolve("late-c");
        call("open first " + f + " wc").assertOk();
        call("write first old-content").assertOk();
        writeAndCloseLate("first", "/late-c");

        call("open again " + f + " rw").assertOk(); // the same file, opened again after the close
        PyClient.Reply fsync = call("fsync again");
        System.out.printf("fsync of the same file opened again after its flush failed late: %s%n", fsync);
        assertThat(fsync.errno()).as("the late failure is reported at the file's next fsync").isEqualTo(ENOSPC);
        call("close again").assertOk();
    }
}
