package io.fuseguard.engine;

import io.fuseguard.api.FileAttributes;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.DelegatingFs;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * All of the engine's concurrency at once, on MemoryFs: writers write and read back through open descriptors of
 * files whose directory is renamed away and back again and again (a decoy file takes their name each time),
 * close/unlink churn, and handlers that stall past their deadline keeping the lanes busy. At the end every byte is
 * where it belongs, every handle was released, no hidden file is left, and nothing waits in the kernel.
 */
class EngineSoakTest {
    private static final double SECONDS = Double.parseDouble(System.getProperty("fuseguard.engine.soak.seconds",
            "15"));
    private static final int WRITERS = 3;

    /**
     * MemoryFs whose getattr of /stalls/stall-* takes 1.5 s and ignores interrupts (in a directory of their own:
     * the kernel holds a directory's lock while it looks a name up in it, which would hold up renames there).
     */
    static final class StallingMemoryFs extends DelegatingFs {
        StallingMemoryFs() {
            super(new MemoryFs());
        }

        @Override
        public FileAttributes getattr(String path) throws IOException {
            if (path.startsWith("/stalls/stall-")) {
                long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1500);
                while (System.nanoTime() < end) {
                    try {
                        Thread.sleep(Math.max(1, (end - System.nanoTime()) / 1_000_000));
                    } catch (InterruptedException e) {
                        // ignored
                    }
                }
            }
            return super.getattr(path);
        }
    }

    private static Map<String, String> counts(String line) {
        Map<String, String> m = new HashMap<>();
        for (String kv : line.trim().split(" ")) {
            int eq = kv.indexOf('=');
            if (eq > 0) {
                m.put(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        return m;
    }

    private static CompletableFuture<Child.Result> start(String... args) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                List<String> cmd = new ArrayList<>(List.of(Edges.python(), Edges.resource("soak.py").toString()));
                cmd.addAll(List.of(args));
                return Child.run(Duration.ofSeconds((long) SECONDS + 60), cmd).assertOk();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    private static byte[] block(int writer, int k) {
        byte[] unit = String.format("%02d:%08d|", writer, k).getBytes();
        byte[] b = new byte[4096];
        for (int i = 0; i < b.length; i++) {
            b[i] = unit[i % unit.length];
        }
        return b;
    }

    @Test
    void everyByteAndEveryHandleWhereTheyBelongAfterAStorm() throws Exception {
        Edges.assumeFuseAndRoot();
        Path mp = Edges.newDir("soak-");
        FuseMount m = FuseMount.mount(new StallingMemoryFs(), mp, FuseguardConfig.builder().fsName("soak")
                .shutdownHook(false).workerThreads(8).allDeadlines(Duration.ofSeconds(1))
                .cacheTimeouts(Duration.ZERO, Duration.ZERO, Duration.ZERO).build());
        try {
            Path dir = mp.resolve("work");
            Files.createDirectory(dir);
            Files.createDirectory(mp.resolve("churn"));
            Files.createDirectory(mp.resolve("stalls"));
            String secs = Double.toString(SECONDS);
            List<CompletableFuture<Child.Result>> writers = new ArrayList<>();
            for (int i = 0; i < WRITERS; i++) {
                Files.write(dir.resolve("w" + i), new byte[0]);
                writers.add(start("writer", dir.toString(), secs, Integer.toString(i)));
            }
            CompletableFuture<Child.Result> renamer = start("renamer", dir.toString(), mp.resolve("away").toString(),
                    secs);
            CompletableFuture<Child.Result> churn1 = start("churn", mp.resolve("churn").toString(), secs, "1");
            CompletableFuture<Child.Result> churn2 = start("churn", mp.resolve("churn").toString(), secs, "2");
            CompletableFuture<Child.Result> prober = start("prober", mp.resolve("stalls").toString(), secs);

            Child.Result renamed = renamer.get();
            if (!renamed.err().isBlank()) {
                System.out.println("renamer's errors: " + renamed.err().lines().limit(5).toList());
            }
            Map<String, String> ren = counts(renamed.out());
            Map<String, String> c1 = counts(churn1.get().out());
            Map<String, String> c2 = counts(churn2.get().out());
            Map<String, String> pr = counts(prober.get().out());
            List<Map<String, String>> ws = new ArrayList<>();
            for (CompletableFuture<Child.Result> w : writers) {
                ws.add(counts(w.get().out()));
            }
            System.out.printf("engine soak %.0f s: renamer %s, churn %s %s, prober %s, writers %s%n", SECONDS, ren,
                    c1, c2, pr, ws);
            assertThat(Integer.parseInt(ren.get("cycles"))).as("the directory moved away and back, often")
                    .isGreaterThan(20);
            assertThat(ren.get("errors")).isEqualTo("0");
            assertThat(c1.get("errors")).isEqualTo("0");
            assertThat(c2.get("errors")).isEqualTo("0");
            assertThat(Integer.parseInt(pr.get("eio"))).as("stalled handlers answered at their deadline")
                    .isPositive();
            Path where = Files.isDirectory(dir) ? dir : mp.resolve("away");
            for (int i = 0; i < WRITERS; i++) {
                Map<String, String> w = ws.get(i);
                assertThat(w.get("errors")).as("writer %d: no write failed (%s)", i, w.get("first")).isEqualTo("0");
                assertThat(w.get("badreads")).as("writer %d read back its own bytes", i).isEqualTo("0");
                byte[] content = Files.readAllBytes(where.resolve("w" + i));
                int blocks = Integer.parseInt(w.get("blocks"));
                assertThat(content.length).as("writer %d: every block in its file", i).isEqualTo(blocks * 4096);
                for (int k = 0; k < blocks; k++) {
                    byte[] expected = block(i, k);
                    for (int j = 0; j < 4096; j++) {
                        if (content[k * 4096 + j] != expected[j]) {
                            throw new AssertionError("writer " + i + " block " + k + " byte " + j + " is wrong");
                        }
                    }
                }
            }
            await().atMost(Duration.ofSeconds(10)).until(() -> m.status().openHandles() == 0
                    && m.status().pendingCloseWork() == 0);
            try (Stream<Path> s = Files.walk(mp)) {
                assertThat(s.filter(p -> p.getFileName().toString().startsWith(".fuse_hidden")).toList())
                        .as("no hidden file left").isEmpty();
            }
            assertThat(Edges.descendantsInDState()).isEmpty();
            assertThat(m.isMounted()).isTrue();
        } finally {
            m.close();
            Edges.forceUnmount(mp);
        }
    }
}
