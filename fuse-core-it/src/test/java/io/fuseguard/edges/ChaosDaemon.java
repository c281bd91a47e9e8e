package io.fuseguard.edges;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.OperationKind;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.mount.MountStatus;
import io.fuseguard.testkit.SmallFs;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The chaos soak's daemon, in its own JVM: a {@link ChaosFs} mounted with short deadlines, driven through its
 * standard input: {@code arm} (stall handlers of {@code /stall/*} until released; some wait interruptibly, some
 * ignore interrupts), {@code release}, {@code status}, {@code gc}, {@code quit}. Prints {@code READY <connection>}
 * when mounted and {@code UNMOUNTED} at the end.
 */
public final class ChaosDaemon {
    static final Duration METADATA = Duration.ofMillis(1000);
    static final Duration DATA = Duration.ofMillis(2000);

    private ChaosDaemon() {
    }

    /** SmallFs with {@code /data}, {@code /probe} and {@code /stall}, whose stall handlers block while armed. */
    static final class ChaosFs extends SmallFs {
        static final byte[] STALL_FILE = new byte[4096];

        static {
            for (int i = 0; i < STALL_FILE.length; i++) {
                STALL_FILE[i] = (byte) ((i * 7) % 251);
            }
        }

        private final Object monitor = new Object();
        private volatile CountDownLatch gate;
        private Thread holder;
        final AtomicLong stalls = new AtomicLong();
        final AtomicLong ignoring = new AtomicLong();
        final AtomicLong stalledNow = new AtomicLong();

        ChaosFs() {
            super.mkdir("/data", 0755);
            super.mkdir("/stall", 0777);
            withFile("/probe", "probe\n".getBytes(StandardCharsets.UTF_8));
            withFile("/stall/file", STALL_FILE);
        }

        /** Handlers of /stall/* block from now on. */
        synchronized void arm() throws InterruptedException {
            if (gate != null) {
                return;
            }
            CountDownLatch g = new CountDownLatch(1);
            CountDownLatch holding = new CountDownLatch(1);
            holder = new Thread(() -> {
                synchronized (monitor) {
                    holding.countDown();
                    boolean released = false;
                    while (!released) {
                        try {
                            g.await();
                            released = true;
                        } catch (InterruptedException e) {
                            // keeps holding until released
                        }
                    }
                }
            }, "chaos-stall-holder");
            holder.setDaemon(true);
            holder.start();
            holding.await();
            gate = g;
        }

        /** Every stalled handler goes on. */
        synchronized void release() throws InterruptedException {
            CountDownLatch g = gate;
            gate = null;
            if (g != null) {
                g.countDown();
                holder.join();
            }
        }

        private void stall() {
            CountDownLatch g = gate;
            if (g == null) {
                return;
            }
            stalls.incrementAndGet();
            stalledNow.incrementAndGet();
            try {
                if (ThreadLocalRandom.current().nextBoolean()) {
                    ignoring.incrementAndGet();
                    synchronized (monitor) {
                        // a lock: not interruptible
                    }
                } else {
                    try {
                        g.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new ErrnoException(Errno.EINTR, "stall interrupted");
                    }
                }
            } finally {
                stalledNow.decrementAndGet();
            }
        }

        @Override
        public FileAttributes getattr(String path) {
            if (path.startsWith("/stall/s")) {
                stall();
            }
            return super.getattr(path);
        }

        @Override
        public int read(String path, long fh, ByteBuffer dst, long offset) {
            if (path.equals("/stall/file")) {
                stall();
            }
            return super.read(path, fh, dst, offset);
        }

        @Override
        public int write(String path, long fh, ByteBuffer src, long offset) {
            if (path.startsWith("/stall/w")) {
                stall();
            }
            return super.write(path, fh, src, offset);
        }

        @Override
        public void mkdir(String path, int mode) {
            if (path.startsWith("/stall/d")) {
                stall();
            }
            super.mkdir(path, mode);
        }

        @Override
        public void flush(String path, long fh) {
            if (path.startsWith("/stall/w")) {
                stall();
            }
        }
    }

    public static void main(String[] args) throws Exception {
        ChaosFs fs = new ChaosFs();
        FuseMount m = FuseMount.mount(fs, Path.of(args[0]), FuseguardConfig.builder().fsName("chaos")
                .deadline(OperationKind.METADATA, METADATA).deadline(OperationKind.DATA, DATA)
                .deadline(OperationKind.SYNC, DATA).deadline(OperationKind.FLUSH, METADATA)
                .mountOption("attr_timeout=0").mountOption("entry_timeout=0").build());
        System.out.println("READY " + m.connectionId().orElse(-1));
        System.out.flush();
        Thread commands = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    switch (line.trim()) {
                        case "arm" -> fs.arm();
                        case "release" -> fs.release();
                        case "gc" -> {
                            System.gc();
                            System.runFinalization();
                            System.gc();
                            System.out.println("GC done");
                        }
                        case "status" -> System.out.println("STATUS " + status(m, fs));
                        case "quit" -> m.close();
                        default -> System.out.println("UNKNOWN " + line);
                    }
                    System.out.flush();
                }
            } catch (Exception e) {
                System.out.println("COMMANDS failed " + e);
                System.out.flush();
            }
        }, "chaos-commands");
        commands.setDaemon(true);
        commands.start();
        m.awaitUnmount();
        System.out.println("UNMOUNTED");
        System.out.flush();
    }

    /** key=value pairs: the mount's status, the stalls, and the JVM's threads by kind. */
    static String status(FuseMount m, ChaosFs fs) {
        MountStatus s = m.status();
        Map<String, Integer> kinds = new TreeMap<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            String n = t.getName();
            String kind = n.startsWith("fuseguard-close-") ? "closeThreads"
                    : n.startsWith("fuseguard-inprocess-") ? "inprocessThreads"
                    : n.matches("fuseguard-chaos-\\d+") ? "requestThreads" : "otherThreads";
            kinds.merge(kind, 1, Integer::sum);
        }
        StringBuilder b = new StringBuilder();
        b.append("requests=").append(s.requests()).append(" inFlight=").append(s.inFlight())
                .append(" threads=").append(s.threads()).append(" stuck=").append(s.stuckThreads())
                .append(" handles=").append(s.openHandles()).append(" closeWork=").append(s.pendingCloseWork())
                .append(" stalls=").append(fs.stalls.get()).append(" stalledNow=").append(fs.stalledNow.get())
                .append(" ignoringStalls=").append(fs.ignoring.get());
        for (String k : new String[] {"requestThreads", "closeThreads", "inprocessThreads", "otherThreads"}) {
            b.append(' ').append(k).append('=').append(kinds.getOrDefault(k, 0));
        }
        Runtime rt = Runtime.getRuntime();
        b.append(" heapUsedKiB=").append((rt.totalMemory() - rt.freeMemory()) / 1024).append(" heapCommittedKiB=")
                .append(rt.totalMemory() / 1024);
        for (java.lang.management.BufferPoolMXBean p : java.lang.management.ManagementFactory.getPlatformMXBeans(
                java.lang.management.BufferPoolMXBean.class)) {
            b.append(' ').append(p.getName().replaceAll("[^A-Za-z]", "")).append("BuffersKiB=")
                    .append(p.getMemoryUsed() / 1024);
        }
        return b.toString();
    }
}
