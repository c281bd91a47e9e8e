package io.fuseguard.engine;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.examples.memory.MemoryFs;
import io.fuseguard.examples.passthrough.PassthroughFs;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A path never changes under a running handler: a write through an open descriptor lands in the file it was
 * opened on while its directory is renamed and a new file takes its old name, and the atomic-save pattern
 * (write a temp file, rename it over the name) never lets a reader see a torn record.
 */
class RenameConsistencyTest {
    private static final double SOAK_SECONDS = 8;
    private FuseMount mount;
    private Path mp;

    @BeforeEach
    void prepare() throws Exception {
        Edges.assumeFuseAndRoot();
        mp = Edges.newDir("rename-");
    }

    @AfterEach
    void cleanUp() {
        if (mount != null) {
            mount.close();
        }
        Edges.forceUnmount(mp);
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private void mount(FuseFileSystem fs) {
        mount = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("rename").shutdownHook(false).build());
    }

    /** A filesystem keyed by path whose writes take 5 ms before they touch the file (a slow backend). */
    static final class SlowWriteFs extends SmallFs {
        @Override
        public int write(String path, long fh, ByteBuffer src, long offset) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return super.write(path, fh, src, offset);
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

    @Test
    void aWriteOnAnOpenFileNeverLandsInTheFileThatTakesItsNameAfterARename() throws Exception {
        mount(new SlowWriteFs());
        Files.createDirectory(mp.resolve("d"));
        Files.write(mp.resolve("d/a"), new byte[0]);
        Path script = Edges.resource("write_rename.py");
        CompletableFuture<Child.Result> writer = CompletableFuture.supplyAsync(() -> {
            try {
                return Child.run(Duration.ofSeconds(60), Edges.python(), script.toString(), "writer",
                        mp.resolve("d/a").toString(), "3");
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        Thread.sleep(300);
        Child.Result renamer = Child.run(Duration.ofSeconds(60), Edges.python(), script.toString(), "renamer",
                mp.resolve("d").toString(), mp.resolve("e").toString(), "20").assertOk();
        Map<String, String> w = counts(writer.get().assertOk().out());
        Map<String, String> r = counts(renamer.out());
        System.out.printf("writes through an open descriptor during %s directory renames: %s%n", r.get("renames"), w);
        assertThat(w.get("errors")).as("no write failed (%s)", w.get("first")).isEqualTo("0");
        assertThat(r.get("errors")).isEqualTo("0");
        byte[] written = Files.readAllBytes(mp.resolve("e.0/a"));
        assertThat(written.length).as("every block in the file that was opened")
                .isEqualTo(Integer.parseInt(w.get("blocks")) * 4096);
        for (byte b : written) {
            assertThat(b).isEqualTo((byte) 'W');
        }
        List<Path> others = new ArrayList<>();
        for (int i = 1; i < 20; i++) {
            others.add(mp.resolve("e." + i + "/a"));
        }
        others.add(mp.resolve("d/a"));
        for (Path p : others) {
            byte[] b = Files.readAllBytes(p);
            assertThat(new String(b)).as("%s holds only what its creator wrote", p).isEqualTo("N".repeat(100));
        }
    }

    /**
     * Four writers save records atomically over four names while four readers read them whole. The names exist
     * from the start, so a reader must never find one missing.
     */
    private String atomicSaveSoak(Path dir) throws Exception {
        Path script = Edges.resource("atomic_save.py");
        byte[] payload = "first".getBytes(StandardCharsets.US_ASCII);
        String md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(payload));
        for (int i = 0; i < 4; i++) {
            Files.write(dir.resolve("name_" + i), (md5 + " " + payload.length + "\n" + "first")
                    .getBytes(StandardCharsets.US_ASCII));
        }
        List<CompletableFuture<Child.Result>> runs = new ArrayList<>();
        for (String role : new String[] {"writer", "reader"}) {
            for (int i = 0; i < 4; i++) {
                String index = Integer.toString(i);
                runs.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return Child.run(Duration.ofSeconds(120), Edges.python(), script.toString(), role,
                                dir.toString(), Double.toString(SOAK_SECONDS), index);
                    } catch (Exception e) {
                        throw new RuntimeException(e);
                    }
                }));
            }
        }
        long reads = 0;
        long bad = 0;
        long writes = 0;
        long errors = 0;
        long missing = 0;
        long stale = 0;
        String first = "-";
        for (CompletableFuture<Child.Result> f : runs) {
            Child.Result r = f.get().assertOk();
            if (!r.err().isBlank()) {
                System.out.println("atomic save child's errors: " + r.err().trim());
            }
            Map<String, String> c = counts(r.out());
            reads += Long.parseLong(c.getOrDefault("reads", "0"));
            bad += Long.parseLong(c.getOrDefault("bad", "0"));
            writes += Long.parseLong(c.getOrDefault("writes", "0"));
            errors += Long.parseLong(c.getOrDefault("errors", "0"));
            missing += Long.parseLong(c.getOrDefault("missing", "0"));
            stale += Long.parseLong(c.getOrDefault("stale", "0"));
            if (!"-".equals(c.getOrDefault("first", "-"))) {
                first = c.get("first");
            }
        }
        assertThat(reads).as("the readers read").isGreaterThan(100);
        assertThat(writes).as("the writers wrote").isGreaterThan(100);
        // A name that always exists is never reported missing: an OPEN of a file a rename replaced after the
        // kernel's path walk is answered ESTALE (as libfuse does), and the kernel walks the path again. Only an
        // open that loses that race twice in a row reports ESTALE (measured: 11.5 % ENOENT before, about 0.1 %
        // ESTALE after, on MemoryFs with one writer and one reader).
        assertThat(missing).as("opens of a name that always existed that failed with ENOENT").isZero();
        assertThat(stale).as("opens that lost the race with a rename twice (ESTALE), of %s", reads)
                .isLessThanOrEqualTo(reads / 100);
        return "reads=" + reads + " bad=" + bad + " writes=" + writes + " errors=" + errors + " missing=" + missing
                + " stale=" + stale + " first=" + first;
    }

    private static void assertNoTornRead(String result, String fs) {
        System.out.println("atomic save soak on " + fs + ": " + result);
        assertThat(result).contains(" bad=0 ").contains(" errors=0 ");
    }

    @Test
    void atomicSaveNeverTearsOnMemoryFs() throws Exception {
        mount(new MemoryFs());
        assertNoTornRead(atomicSaveSoak(mp), "MemoryFs");
    }

    @Test
    void atomicSaveNeverTearsOnPassthroughFs() throws Exception {
        mount(new PassthroughFs(Edges.newDir("rename-src-")));
        assertNoTornRead(atomicSaveSoak(mp), "PassthroughFs");
    }
}
