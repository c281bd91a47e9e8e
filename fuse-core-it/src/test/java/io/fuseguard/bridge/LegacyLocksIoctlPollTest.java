package io.fuseguard.bridge;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.examples.migration.JnrMapFs;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import jnr.ffi.Pointer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.struct.Flock;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.FusePollhandle;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A jnr-fuse filesystem's own {@code lock}, {@code flock}, {@code ioctl} and {@code poll}, which the adapter now
 * calls the way libfuse 2 does: record locks with the kernel's lock owner in {@code fi.lock_owner} (released at
 * the release of the open file they were taken through), flock with {@code LOCK_NB} when the caller does not wait,
 * restricted ioctls with their argument's bytes, and poll with a handle that {@code fuse_notify_poll} later uses
 * to wake the poller.
 */
class LegacyLocksIoctlPollTest {
    @TempDir
    Path mp;

    private LockingFs fs;
    private FuseMount mount;

    /** A lock held in the filesystem's own table. */
    record Held(long owner, int type, long start, long end, int pid) {
    }

    /** JnrMapFs with a lock table, a flock table, three ioctls and a pollable /ready file. */
    static final class LockingFs extends JnrMapFs {
        final List<Held> locks = new ArrayList<>();
        final List<String> calls = new CopyOnWriteArrayList<>();
        long flockOwner;
        int flockType; // 0 none, 1 shared, 2 exclusive
        volatile boolean ready;
        volatile FusePollhandle waiting;
        int stored;

        LockingFs() {
            files().put("/f", new byte[100]);
            files().put("/ready", new byte[1]);
        }

        private static long end(Flock l) {
            long len = l.l_len.get();
            return len == 0 ? Long.MAX_VALUE : l.l_start.get() + len - 1;
        }

        private Held conflict(long owner, int type, long start, long end) {
            for (Held h : locks) {
                if (h.owner != owner && h.start <= end && start <= h.end && (h.type == 1 || type == 1)) {
                    return h;
                }
            }
            return null;
        }

        @Override
        public synchronized int lock(String path, FuseFileInfo fi, int cmd, Flock l) {
            long owner = fi.lock_owner.get();
            int type = l.l_type.get();
            long start = l.l_start.get();
            long end = end(l);
            calls.add("lock cmd=" + cmd + " type=" + type + " owner=" + (owner != 0));
            if (cmd == 5) { // F_GETLK
                Held h = conflict(owner, type, start, end);
                if (h == null) {
                    l.l_type.set((short) 2);
                } else {
                    l.l_type.set((short) h.type);
                    l.l_start.set(h.start);
                    l.l_len.set(h.end == Long.MAX_VALUE ? 0 : h.end - h.start + 1);
                    l.l_pid.set(h.pid);
                }
                return 0;
            }
            if (type == 2) { // F_UNLCK: drop the owner's locks in the range (whole ones, enough here)
                locks.removeIf(h -> h.owner == owner && h.start <= end && start <= h.end);
                return 0;
            }
            while (conflict(owner, type, start, end) != null) {
                if (cmd == 6) {
                    return -ErrorCodes.EAGAIN();
                }
                try {
                    wait(5); // F_SETLKW: interruptible, as a waiting handler must be
                } catch (InterruptedException e) {
                    return -ErrorCodes.EINTR();
                }
            }
            locks.add(new Held(owner, type, start, end, (int) l.l_pid.get()));
            return 0;
        }

        @Override
        public synchronized int flock(String path, FuseFileInfo fi, int op) {
            long owner = fi.lock_owner.get();
            calls.add("flock op=" + op);
            if ((op & 8) != 0) { // LOCK_UN
                if (flockOwner == owner) {
                    flockType = 0;
                }
                return 0;
            }
            int want = (op & 2) != 0 ? 2 : 1;
            if (flockType != 0 && flockOwner != owner && (want == 2 || flockType == 2)) {
                return -ErrorCodes.EWOULDBLOCK();
            }
            flockOwner = owner;
            flockType = want;
            return 0;
        }

        @Override
        public int ioctl(String path, int cmd, Pointer arg, FuseFileInfo fi, long flags, Pointer data) {
            switch (cmd) {
                case 0x80045201 -> data.putInt(0, 42); // _IOR('R', 1, int)
                case 0x40045202 -> stored = data.getInt(0); // _IOW('R', 2, int)
                case 0xc0045203 -> data.putInt(0, data.getInt(0) * 2); // _IOWR('R', 3, int)
                default -> {
                    return -ErrorCodes.ENOTTY();
                }
            }
            return 0;
        }

        @Override
        public int poll(String path, FuseFileInfo fi, FusePollhandle ph, Pointer reventsp) {
            if (ready) {
                reventsp.putInt(0, 1); // POLLIN
            } else if (ph != null) {
                waiting = ph; // told when ready (fuse_notify_poll)
            }
            return 0;
        }

        /** Makes /ready readable and wakes the poller, as a jnr-fuse filesystem does through libfuse. */
        void becomeReady() {
            ready = true;
            FusePollhandle ph = waiting;
            if (ph != null) {
                libFuse.fuse_notify_poll(ph);
                libFuse.fuse_pollhandle_destroy(ph);
            }
        }
    }

    @BeforeEach
    void mount() {
        FuseAvailability.assumeUsable();
        fs = new LockingFs();
        mount = JnrFuseMount.mount(fs, mp, FuseguardConfig.builder().shutdownHook(false)
                .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).build());
    }

    @AfterEach
    void unmount() {
        if (mount != null) {
            mount.close();
        }
    }

    private static final String LOCKS = """
            import errno, fcntl, os, struct, sys, time
            p = sys.argv[1]
            def t(name, fn):
                try:
                    r = fn(); print(name, "ok" if r is None else r)
                except OSError as e:
                    print(name, errno.errorcode[e.errno])
                sys.stdout.flush()
            fd = os.open(p, os.O_RDWR)
            t("lock", lambda: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0))
            me = os.getpid()
            pid = os.fork()
            if pid == 0:
                c = os.open(p, os.O_RDWR)
                t("child-conflict", lambda: fcntl.lockf(c, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0))
                r = fcntl.fcntl(c, fcntl.F_GETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 10, 0))
                typ, _, start, ln, lpid = struct.unpack("hhqqi4x", r)
                t("child-getlk", lambda: "type=%d start=%d len=%d by-parent=%s" % (typ, start, ln, lpid == me))
                os._exit(0)
            os.waitpid(pid, 0)
            os.close(fd)
            c = os.open(p, os.O_RDWR)
            end = time.time() + 3
            while True:  # the release of the parent's open file reaches the filesystem a moment later
                try:
                    fcntl.lockf(c, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0); print("after-close ok"); break
                except OSError:
                    if time.time() > end: print("after-close EAGAIN"); break
                    time.sleep(0.01)
            a = os.open(p, os.O_RDWR); b = os.open(p, os.O_RDWR)
            t("flock", lambda: fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB))
            t("flock-other", lambda: fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB))
            os.close(a)
            # the kernel keeps no flock of its own here: the RELEASE of a's open file (asynchronous) drops it
            end = time.time() + 3
            while True:
                try:
                    fcntl.flock(b, fcntl.LOCK_EX | fcntl.LOCK_NB); print("flock-after-close ok"); break
                except OSError:
                    if time.time() > end: print("flock-after-close EAGAIN"); break
                    time.sleep(0.01)
            """;

    @Test
    void recordLocksAndFlockAreTheFilesystems() throws Exception {
        List<String> out = Child.run(Duration.ofSeconds(20), "python3", "-c", LOCKS, mp.resolve("f").toString())
                .assertOk().out().lines().toList();
        assertThat(out).containsExactly("lock ok", "child-conflict EAGAIN",
                "child-getlk type=1 start=0 len=10 by-parent=True", "after-close ok", "flock ok",
                "flock-other EAGAIN", "flock-after-close ok");
        assertThat(fs.calls).contains("lock cmd=6 type=1 owner=true", "lock cmd=5 type=1 owner=true",
                "lock cmd=6 type=2 owner=true" /* the release of the parent's open file */, "flock op=6",
                "flock op=8" /* flock's unlock at the release */);
        assertThat(mount.protocol().uses("posix_locks")).isTrue();
        assertThat(mount.protocol().uses("flock_locks")).isTrue();
    }

    @Test
    void restrictedIoctlsCarryTheirArgumentsBothWays() throws Exception {
        String out = Child.run(Duration.ofSeconds(20), "python3", "-c", """
                import array, errno, fcntl, os, sys
                fd = os.open(sys.argv[1], os.O_RDWR)
                buf = array.array("i", [0]); fcntl.ioctl(fd, 0x80045201, buf, True); print("ior", buf[0])
                buf = array.array("i", [7]); fcntl.ioctl(fd, 0x40045202, buf, True); print("iow ok")
                buf = array.array("i", [21]); fcntl.ioctl(fd, 0xc0045203, buf, True); print("iowr", buf[0])
                try:
                    fcntl.ioctl(fd, 0x5204, 0); print("unknown ok")
                except OSError as e:
                    print("unknown", errno.errorcode[e.errno])
                """, mp.resolve("f").toString()).assertOk().out();
        assertThat(out.lines().toList()).containsExactly("ior 42", "iow ok", "iowr 42", "unknown ENOTTY");
        assertThat(fs.stored).isEqualTo(7);
    }

    @Test
    void aPollIsWokenByTheFilesystemsNotification() throws Exception {
        Process p = Child.start("python3", "-c", """
                import os, select, sys, time
                fd = os.open(sys.argv[1], os.O_RDONLY)
                po = select.poll(); po.register(fd, select.POLLIN)
                t0 = time.time()
                ev = po.poll(10000)
                print("events %s after %.2f" % ([e for _, e in ev], time.time() - t0))
                """, mp.resolve("ready").toString());
        try {
            org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> fs.waiting != null);
            Thread.sleep(300);
            assertThat(p.isAlive()).as("polling: not ready yet").isTrue();
            fs.becomeReady();
            assertThat(p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            String out = new String(p.getInputStream().readAllBytes()).trim();
            assertThat(out).startsWith("events [1] after ");
            double s = Double.parseDouble(out.substring(out.lastIndexOf(' ') + 1));
            assertThat(s).as("woken by the notification, not the 10 s timeout").isBetween(0.25, 5.0);
        } finally {
            Child.kill9(p);
        }
    }
}
