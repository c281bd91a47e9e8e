package io.fuseguard.engine;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A program whose threads are signalled all the time (a profiler's timer, a JVM's or Go runtime's own signals),
 * with handlers installed with SA_RESTART, sees no EINTR from the mount, as from any local filesystem: the
 * kernel cannot restart a call the daemon answered EINTR, so fuseguard answers EINTR only to callers that are
 * being killed. And a change is never reported "interrupted" while it happened.
 */
class SignalsTest {
    private FuseMount mount;
    private Path mp;

    /** Every handler takes about a millisecond (a remote backend), so the signals land during requests. */
    static final class SlowFs extends SmallFs {
        private static void pause() {
            try {
                Thread.sleep(1);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public FileAttributes getattr(String path) {
            pause();
            return super.getattr(path);
        }

        @Override
        public long create(String path, int mode, OpenFlags flags) {
            pause();
            return super.create(path, mode, flags);
        }

        @Override
        public int write(String path, long fh, ByteBuffer src, long offset) {
            pause();
            return super.write(path, fh, src, offset);
        }

        @Override
        public int read(String path, long fh, ByteBuffer dst, long offset) {
            pause();
            return super.read(path, fh, dst, offset);
        }

        @Override
        public void mkdir(String path, int mode) {
            pause();
            super.mkdir(path, mode);
        }

        @Override
        public void rename(String from, String to) {
            pause();
            super.rename(from, to);
        }

        @Override
        public void rmdir(String path) {
            pause();
            super.rmdir(path);
        }

        @Override
        public void unlink(String path) {
            pause();
            super.unlink(path);
        }

        @Override
        public void readdir(String path, DirectorySink sink) {
            pause();
            super.readdir(path, sink);
        }
    }

    @BeforeEach
    void prepare() throws Exception {
        Edges.assumeFuseAndRoot();
        mp = Edges.newDir("signals-");
        mount = FuseMount.mount(new SlowFs(), mp, FuseguardConfig.builder().fsName("signals").shutdownHook(false)
                .cacheTimeouts(Duration.ZERO, Duration.ZERO, Duration.ZERO).mountOption("direct_io").build());
    }

    @AfterEach
    void cleanUp() {
        if (mount != null) {
            mount.close();
        }
        Edges.forceUnmount(mp);
    }

    @Test
    void aProgramSignalledEvery10MsWithSaRestartSeesNoEintr() throws Exception {
        Path sigloop = Edges.compiled("sigloop");
        Child.Result r = Child.run(Duration.ofSeconds(60), sigloop.toString(), mp.toString(), "4", "10000")
                .assertOk();
        Map<String, String> c = new HashMap<>();
        for (String kv : r.out().trim().split(" ")) {
            c.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
        }
        long ignored = mount.status().interruptsLetPass();
        System.out.printf("signalled every 10 ms (SA_RESTART) for 4 s: %s; interrupts the kernel sent and "
                + "fuseguard let pass: %d%n", r.out().trim(), ignored);
        assertThat(Long.parseLong(c.get("signals"))).as("the timer fired").isGreaterThan(200);
        assertThat(ignored).as("signals landed during requests (the kernel sent INTERRUPTs)").isPositive();
        assertThat(c.get("eintr")).as("no EINTR (first failure: %s)", c.get("first")).isEqualTo("0");
        assertThat(c.get("eintr_done")).as("no change reported EINTR while it happened").isEqualTo("0");
        assertThat(c.get("errors")).as("no failure at all (first: %s)", c.get("first")).isEqualTo("0");
    }
}
