package io.fuseguard.edges;

import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.PyClient;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.fuseguard.internal.sys.Syscalls.EIO;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Side effects of handlers that run past their deadline happen where they belong, or not at all (issue 8, "Late
 * side effects"): a late write ends before its handle's release, an in-process call's late handler never sees the
 * caller's reused buffers, and a Java-API read returning -1 is end-of-file.
 */
class LateSideEffectsTest {
    private static final Duration DEADLINE = Duration.ofMillis(1000);
    /** A late handler runs this long: past its deadline, but within the bound release waits for it. */
    private static final Duration LATE = DEADLINE.multipliedBy(3).dividedBy(2);

    private FuseMount mount;
    private Path mp;
    private PyClient client;

    @BeforeEach
    void needsFuse() {
        Edges.assumeFuseAndRoot();
    }

    @AfterEach
    void cleanUp() {
        if (client != null) {
            client.close();
        }
        if (mount != null) {
            mount.close();
        }
        if (mp != null) {
            Edges.forceUnmount(mp);
        }
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private static void ignoringInterrupts(Duration d) {
        long end = System.nanoTime() + d.toNanos();
        while (System.nanoTime() < end) {
            try {
                Thread.sleep(Math.max(1, (end - System.nanoTime()) / 1_000_000));
            } catch (InterruptedException e) {
                // a handler that does not stop
            }
        }
    }

    /**
     * A filesystem with its own file-handle numbers, reused like descriptors (lowest free first), that records
     * the order of what it is asked to do. The first write of {@code /late-*} runs {@link #LATE}.
     */
    static final class FenceFs extends SmallFs {
        final List<String> log = Collections.synchronizedList(new ArrayList<>());
        final Map<Long, String> open = new ConcurrentHashMap<>();
        final List<String> violations = Collections.synchronizedList(new ArrayList<>());
        final java.util.Set<String> slowed = ConcurrentHashMap.newKeySet();

        private synchronized long allocate(String path) {
            long fh = 1;
            while (open.containsKey(fh)) {
                fh++;
            }
            open.put(fh, path);
            return fh;
        }

        @Override
        public synchronized long create(String path, int mode, OpenFlags flags) {
            super.create(path, mode, flags);
            return allocate(path);
        }

        @Override
        public synchronized long open(String path, OpenFlags flags) {
            super.open(path, flags);
            return allocate(path);
        }

        @Override
        public int write(String path, long fh, ByteBuffer src, long offset) {
            if (path.startsWith("/late-") && slowed.add(path)) {
                log.add("write-start " + path + " fh " + fh);
                ignoringInterrupts(LATE);
                String holder = open.get(fh);
                if (!path.equals(holder)) {
                    violations.add("late write of " + path + " ran with fh " + fh + " now held by " + holder);
                }
                int n = super.write(path, fh, src, offset);
                log.add("write-end " + path + " fh " + fh);
                return n;
            }
            return super.write(path, fh, src, offset);
        }

        @Override
        public synchronized void release(String path, long fh, OpenFlags flags) {
            log.add("release " + path + " fh " + fh);
            open.remove(fh);
        }
    }

    @Test
    void releaseRunsOnlyAfterTheLateWriteOfItsHandleReturned() throws Exception {
        FenceFs fs = new FenceFs();
        mp = Edges.newDir("fence-");
        mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("fence")
                .deadline(OperationKind.DATA, DEADLINE).shutdownHook(false).build());
        client = new PyClient();
        Duration limit = LATE.multipliedBy(4);
        client.call(limit, "open late " + mp.resolve("late-file") + " wc").assertOk();
        PyClient.Reply w = client.call(limit, "write late late-bytes");
        System.out.printf("write whose handler runs %d ms (deadline %d ms): %s%n", LATE.toMillis(),
                DEADLINE.toMillis(), w);
        assertThat(w.errno()).as("the write was answered the timeout errno at its deadline").isEqualTo(EIO);
        client.call(limit, "close late").assertOk(); // RELEASE goes to the daemon now, while the write runs on
        // Another file opened right away: with reused handle numbers it could get the late write's number.
        client.call(limit, "open other " + mp.resolve("other") + " wc").assertOk();
        client.call(limit, "write other other-bytes").assertOk();
        client.call(limit, "close other").assertOk();

        await().atMost(LATE.multipliedBy(3)).until(() -> fs.log.stream().anyMatch(l -> l.startsWith(
                "release /late-file")));
        List<String> log = List.copyOf(fs.log);
        System.out.printf("order inside the filesystem: %s%n", log);
        int writeEnd = indexOf(log, "write-end /late-file");
        int release = indexOf(log, "release /late-file");
        assertThat(writeEnd).as("the late write returned").isNotNegative();
        assertThat(release).as("release ran after the late write of its handle returned").isGreaterThan(writeEnd);
        assertThat(fs.violations).as("the late write never ran on a handle number given to another file").isEmpty();
        assertThat(client.call(limit, "readfile " + mp.resolve("other")).assertOk().value())
                .isEqualTo("other-bytes");
    }

    private static int indexOf(List<String> log, String prefix) {
        for (int i = 0; i < log.size(); i++) {
            if (log.get(i).startsWith(prefix)) {
                return i;
            }
        }
        return -1;
    }

    /** Slow in-process handlers that keep the buffers they were given and use them late. */
    static final class LateBufferFs extends SmallFs {
        final CountDownLatch writeDone = new CountDownLatch(1);
        final CountDownLatch readDone = new CountDownLatch(1);
        volatile byte[] stored;

        @Override
        public int write(String path, long fh, ByteBuffer src, long offset) {
            if (path.equals("/slow")) {
                ignoringInterrupts(LATE);
                byte[] b = new byte[src.remaining()];
                src.get(b);
                stored = b;
                writeDone.countDown();
                return b.length;
            }
            return super.write(path, fh, src, offset);
        }

        @Override
        public int read(String path, long fh, ByteBuffer dst, long offset) {
            if (path.equals("/slow")) {
                ignoringInterrupts(LATE);
                int n = 0;
                while (dst.hasRemaining()) {
                    dst.put((byte) 'X');
                    n++;
                }
                readDone.countDown();
                return n;
            }
            return super.read(path, fh, dst, offset);
        }
    }

    @Test
    void inProcessCallsHandLateHandlersCopiesNotTheCallersBuffers() throws Exception {
        LateBufferFs fs = new LateBufferFs();
        mp = Edges.newDir("inproc-");
        mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("inproc")
                .deadline(OperationKind.DATA, DEADLINE).shutdownHook(false).build());
        var daemon = mount.inProcess();
        long fh = daemon.create("/slow", 0644, OpenFlags.of(01 | 0100));

        byte[] original = "original-bytes-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".getBytes(StandardCharsets.US_ASCII);
        ByteBuffer buf = ByteBuffer.wrap(original.clone());
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> daemon.write("/slow", fh, buf, 0)).isInstanceOf(ErrnoException.class)
                .satisfies(e -> assertThat(((ErrnoException) e).code()).isEqualTo(EIO));
        System.out.printf("in-process write answered after %d ms (deadline %d ms)%n", Edges.ms(t0),
                DEADLINE.toMillis());
        Arrays.fill(buf.array(), (byte) 'B'); // the caller reuses its buffer at once
        assertThat(fs.writeDone.await(LATE.multipliedBy(3).toMillis(), TimeUnit.MILLISECONDS)).isTrue();
        assertThat(new String(fs.stored, StandardCharsets.US_ASCII)).as("the late handler stored the original bytes")
                .isEqualTo(new String(original, StandardCharsets.US_ASCII));

        ByteBuffer dst = ByteBuffer.allocate(64);
        assertThatThrownBy(() -> daemon.read("/slow", fh, dst, 0)).isInstanceOf(ErrnoException.class);
        Arrays.fill(dst.array(), (byte) 0); // reused by the caller
        assertThat(fs.readDone.await(LATE.multipliedBy(3).toMillis(), TimeUnit.MILLISECONDS)).isTrue();
        Thread.sleep(50);
        assertThat(dst.position()).as("the late read did not move the caller's buffer").isZero();
        assertThat(new TreeSet<>(asList(dst.array()))).as("the late read never wrote into the caller's buffer")
                .containsExactly((byte) 0);
    }

    private static List<Byte> asList(byte[] b) {
        List<Byte> l = new ArrayList<>();
        for (byte x : b) {
            l.add(x);
        }
        return l;
    }

    /** Reads like {@code FileChannel.read(dst, position)}: -1 at and past the end of the file. */
    static final class ChannelStyleFs extends SmallFs {
        static final byte[] CONTENT = "twelve bytes".getBytes(StandardCharsets.US_ASCII);

        ChannelStyleFs() {
            withFile("/f", CONTENT);
        }

        @Override
        public int read(String path, long fh, ByteBuffer dst, long offset) {
            if (offset >= CONTENT.length) {
                return -1;
            }
            return super.read(path, fh, dst, offset);
        }
    }

    @Test
    void aJavaApiReadReturningMinusOneIsEndOfFile() throws Exception {
        mp = Edges.newDir("eof-");
        // direct_io: every read reaches the filesystem, also the one at the end of the file
        mount = FuseMount.mount(new ChannelStyleFs(), mp, FuseguardConfig.builder().fsName("eof")
                .shutdownHook(false).mountOption("direct_io").build());
        client = new PyClient();
        Duration limit = Duration.ofSeconds(10);
        client.call(limit, "open f " + mp.resolve("f") + " r").assertOk();
        PyClient.Reply atEnd = client.call(limit, "pread f 100 " + ChannelStyleFs.CONTENT.length);
        PyClient.Reply past = client.call(limit, "pread f 100 " + (ChannelStyleFs.CONTENT.length + 4096));
        System.out.printf("read at the end of the file where the filesystem returns -1: %s; past it: %s%n", atEnd,
                past);
        assertThat(atEnd.ok()).as("end of file, not EPERM").isTrue();
        assertThat(atEnd.value()).as("0 bytes").isEmpty();
        assertThat(past.ok()).isTrue();
        assertThat(past.value()).isEmpty();
        assertThat(client.call(limit, "readfile " + mp.resolve("f")).assertOk().value()).isEqualTo("twelve bytes");
        client.call(limit, "close f").assertOk();
    }
}
