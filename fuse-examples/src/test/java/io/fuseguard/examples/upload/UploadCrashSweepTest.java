package io.fuseguard.examples.upload;

import io.fuseguard.api.OpenFlags;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The crash-point sweep of the crash-consistency model (docs/upload-example.md): for every operation of the
 * model, a daemon in a child JVM first runs it with the {@link CrashPoints} trace on, which tells the points
 * the operation passes (the uploads after it included); then, for each of those points (its first pass, and
 * for fsync and the directory rename its last one too), a fresh daemon on the same starting state runs it again
 * with that point armed and halts there ({@code Runtime.halt}, as {@code kill -9}). A filesystem restarted on the same cache and backend must then show, through a real mount
 * and in the backend alike, one of the states the model allows for what the operation had acknowledged, with
 * nothing pending, no hidden name anywhere, and an fsync that answered 0 already in the backend at the crash.
 * A few crashes are followed by a second one during the restart's replay.
 */
class UploadCrashSweepTest {
    private static final int KIB = 1024;
    private static final byte[] A = random(64 * KIB, 1);
    private static final byte[] B = random(32 * KIB, 2);
    private static final byte[] C = random(1024 * KIB, 3);
    private static final byte[] D = random(100_000, 4);
    private static final byte[] R = random(300_000, 5);
    private static final int DIR_FILES = 20;

    /** The operation, as a script run against the mount; it prints ACK after every call that succeeded. */
    private static final String SCRIPT = """
            import os, sys
            op, mnt, src = sys.argv[1], sys.argv[2], sys.argv[3]
            def ack(s): print("ACK " + s, flush=True)
            def data(n): return open(os.path.join(src, n), "rb").read()
            def P(p): return os.path.join(mnt, p)
            try:
                if op == "write":
                    fd = os.open(P("f"), os.O_RDWR); ack("open")
                    os.pwrite(fd, data("C"), 4096); ack("write")
                    os.close(fd); ack("close")
                elif op == "close":
                    fd = os.open(P("n"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644); ack("create")
                    os.write(fd, data("D")); ack("write")
                    os.close(fd); ack("close")
                elif op == "fsync":
                    fd = os.open(P("f"), os.O_RDWR); ack("open")
                    os.pwrite(fd, data("C")[:65536], 0); ack("write")
                    os.fsync(fd); ack("fsync")
                    os.pwrite(fd, b"late", 0); ack("write2")
                    os.close(fd); ack("close")
                elif op == "read":
                    fd = os.open(P("r"), os.O_RDONLY); ack("open")
                    while os.read(fd, 65536): pass
                    ack("read")
                    os.close(fd); ack("close")
                elif op == "create-hidden":
                    fd = os.open(P(".fuse_hidden_by_hand"), os.O_CREAT | os.O_WRONLY, 0o644); ack("create")
                    os.write(fd, b"hidden"); ack("write")
                    os.close(fd); ack("close")
                elif op == "truncate":
                    os.truncate(P("f"), 1000); ack("truncate")
                elif op == "rename-file":
                    os.rename(P("f"), P("h")); ack("rename")
                elif op == "rename-replace":
                    os.rename(P("f"), P("g")); ack("rename")
                elif op == "rename-dir":
                    os.rename(P("d"), P("e")); ack("rename")
                elif op == "unlink":
                    os.unlink(P("f")); ack("unlink")
                elif op == "unlink-open":
                    fd = os.open(P("f"), os.O_RDWR); ack("open")
                    os.pwrite(fd, data("C")[:65536], 0); ack("write")
                    os.unlink(P("f")); ack("unlink")
                    os.pwrite(fd, b"late", 0); ack("write2")
                    os.close(fd); ack("close")
                print("DONE", flush=True)
            except OSError as e:
                print("ERR %d" % e.errno, flush=True)
            """;

    /** The operations of the model. */
    private static final List<String> OPS = List.of("write", "close", "fsync", "truncate", "rename-file",
            "rename-replace", "rename-dir", "unlink", "unlink-open", "read", "create-hidden");

    /**
     * Operations also crashed at the last pass of each point, where the last pass means more than the first: the
     * write after an acknowledged fsync, the last of a directory's 20 files.
     */
    private static final Set<String> LAST_PASS_TOO = Set.of("fsync", "rename-dir");

    /** Crashes followed by a second one in the restart's replay: op, first point, replay point. */
    private static final List<String[]> DOUBLE = List.of(
            new String[] {"rename-file", "cache-rename", "replay-resolved"},
            new String[] {"rename-dir", "cache-rename", "replay-resolved"},
            new String[] {"rename-dir", "journal-rename-intent", "replay-resolved"},
            new String[] {"rename-dir", "cache-rename", "journal-compact-written"},
            new String[] {"unlink", "journal-delete", "replay-cleaned"},
            new String[] {"unlink-open", "cache-rename", "replay-cleaned"},
            // journal-put: the point a write passes with and without FUSE passthrough (with it, the kernel writes
            // the cache file itself and the daemon journals the file at its open; no cache-write point is passed)
            new String[] {"write", "journal-put", "journal-compact-written"});

    private static Path work;
    private static Path src;
    private static String classpath;
    private static final Map<String, String> TABLE = new TreeMap<>();
    private static final Map<String, Set<String>> PASSED = new TreeMap<>();
    private static int runs;
    private static long started;

    @BeforeAll
    static void setUp() throws Exception {
        FuseAvailability.assumeUsable();
        work = FuseTestSupport.newTempDir("upload-sweep-", "rwx------");
        src = Files.createDirectories(work.resolve("src"));
        Files.write(src.resolve("C"), C);
        Files.write(src.resolve("D"), D);
        classpath = UploadCrashRecoveryTest.snapshotClasspath(work.resolve("cp"));
        started = System.nanoTime();
    }

    @AfterAll
    static void report() throws Exception {
        if (work == null) {
            return;
        }
        System.out.printf("crash-point sweep: %d daemon runs in %d s%n", runs,
                TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started));
        TABLE.forEach((k, v) -> System.out.println("  " + k + ": " + v));
        StringBuilder m = new StringBuilder("points each operation passes (x: crashed there and checked):\n");
        m.append(String.format("  %-26s", ""));
        List<String> columns = new ArrayList<>(OPS);
        columns.add("replay"); // the second crash, during the restart after a first one
        columns.forEach(op -> m.append(String.format(" %-14s", op)));
        for (CrashPoints.Point p : CrashPoints.Point.values()) {
            m.append(String.format("%n  %-26s", p.label()));
            columns.forEach(op -> m.append(String.format(" %-14s", PASSED.getOrDefault(op, Set.of())
                    .contains(p.label()) ? "x" : "-")));
        }
        System.out.println(m);
        new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(60, TimeUnit.SECONDS);
    }

    @TestFactory
    Stream<DynamicTest> everyOperationCrashedAtEveryPointItPasses() {
        return OPS.stream().map(op -> DynamicTest.dynamicTest(op, () -> sweep(op)));
    }

    @TestFactory
    Stream<DynamicTest> aSecondCrashDuringReplay() {
        return DOUBLE.stream().map(d -> DynamicTest.dynamicTest(d[0] + " @ " + d[1] + " then @ " + d[2],
                () -> doubleCrash(d[0], d[1], d[2])));
    }

    // ---------------------------------------------------------------- the sweep

    private void sweep(String op) throws Exception {
        Path trace = work.resolve(op + "-trace");
        seed(trace);
        Run t = run(trace, op, Map.of(CrashPoints.TRACE_PROPERTY, "true"));
        assertThat(t.acks).as("%s without a crash: %s", op, t.out).contains(lastStep(op));
        Map<String, int[]> points = pointsAfterReady(t.lines);
        assertThat(points).as("points %s passes", op).isNotEmpty();
        PASSED.put(op, points.keySet());
        List<String> violations = new ArrayList<>();
        violations.addAll(check(op, "(no crash)", t, trace));
        for (Map.Entry<String, int[]> p : points.entrySet()) {
            int first = p.getValue()[0];
            int last = p.getValue()[1];
            for (int hit : first == last || !LAST_PASS_TOO.contains(op) ? new int[] {first} : new int[] {first, last}) {
                String name = p.getKey() + ":" + hit;
                Path dir = work.resolve(op + "-" + p.getKey() + "-" + hit);
                seed(dir);
                Run r = run(dir, op, Map.of(CrashPoints.PROPERTY, name));
                List<String> v = new ArrayList<>();
                if (!p.getKey().equals(r.crashedAt)) {
                    v.add("did not crash at " + name + " (crashed at " + r.crashedAt + ")");
                }
                v.addAll(check(op, name, r, dir));
                TABLE.put(op + " @ " + (hit == first ? "first " : "last ") + p.getKey(),
                        (v.isEmpty() ? "ok" : "VIOLATION " + v) + ", acknowledged " + r.acks);
                violations.addAll(v);
            }
        }
        assertThat(violations).as("violations of the model by %s", op).isEmpty();
    }

    private void doubleCrash(String op, String first, String replayPoint) throws Exception {
        Path dir = work.resolve(op + "-" + first + "-" + replayPoint);
        seed(dir);
        Run r = run(dir, op, Map.of(CrashPoints.PROPERTY, first + ":" + (1 + startupHits(first))));
        assertThat(r.crashedAt).as("first crash of %s", op).isEqualTo(first);
        // the restart crashes in its replay: no operation runs, the daemon halts before READY
        Path mnt = Files.createDirectories(dir.resolve("mnt2"));
        String secondCrash;
        try {
            secondCrash = crashDuringStart(dir, mnt, replayPoint);
        } finally {
            UploadCrashRecoveryTest.cleanupMount(mnt);
        }
        List<String> v = new ArrayList<>();
        if (!replayPoint.equals(secondCrash)) {
            v.add("the replay did not crash at " + replayPoint + " (" + secondCrash + ")");
        }
        v.addAll(check(op, first + "+" + replayPoint, r, dir));
        TABLE.put(op + " @ " + first + " then " + replayPoint, v.isEmpty() ? "ok" : "VIOLATION " + v);
        synchronized (PASSED) {
            PASSED.computeIfAbsent("replay", k -> new java.util.TreeSet<>()).add(replayPoint);
        }
        assertThat(v).isEmpty();
    }

    /** Starts a daemon on {@code dir} with {@code point} armed, expecting it to halt before it is ready. */
    private String crashDuringStart(Path dir, Path mnt, String point) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                "-D" + CrashPoints.PROPERTY + "=" + point, "-cp", classpath, UploadDaemonMain.class.getName(),
                mnt.toString(), dir.resolve("cache").toString(), dir.resolve("backend").toString(), "false"));
        Child.Result res = Child.run(Duration.ofSeconds(20), cmd); // killed at the limit if it mounted after all
        runs++;
        return res.out().lines().filter(l -> l.startsWith("CRASH ")).map(l -> l.substring(6)).findFirst()
                .orElse(null);
    }

    /** How often {@code point} is passed while a daemon starts (before READY), from a trace of the op. */
    private int startupHits(String point) {
        return "journal-compact-written".equals(point) ? 1 : 0;
    }

    // ---------------------------------------------------------------- one run

    /** What a run of an operation left: the acknowledged steps, the crash point, the backend at the crash. */
    private record Run(Set<String> acks, String out, String crashedAt, List<String> lines,
                       Map<String, byte[]> backendAtCrash) {
    }

    /** Runs {@code op} against a daemon on {@code dir}'s cache and backend, with {@code props} set in it. */
    private Run run(Path dir, String op, Map<String, String> props) throws Exception {
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        CrashRig.Daemon d = null;
        try {
            d = CrashRig.Daemon.start(classpath, props, dir.resolve("daemon.log"), mnt.toString(),
                    dir.resolve("cache").toString(), dir.resolve("backend").toString(), "false");
            runs++;
            Child.Result r = Child.run(Duration.ofSeconds(30), "python3", "-c", SCRIPT, op, mnt.toString(),
                    src.toString());
            Set<String> acks = new LinkedHashSet<>();
            r.out().lines().filter(l -> l.startsWith("ACK ")).forEach(l -> acks.add(l.substring(4)));
            // background work (the upload after a close) may still reach the armed point: give it time
            if (!d.awaitExit(Duration.ofSeconds(props.containsKey(CrashPoints.PROPERTY) ? 10 : 0))) {
                if (props.containsKey(CrashPoints.TRACE_PROPERTY)) {
                    awaitQuiet(d);
                }
                d.term();
            }
            String crashed = d.crashedAt();
            Map<String, byte[]> backendNow = CrashRig.files(dir.resolve("backend"), DirectoryBackend.INCOMING);
            return new Run(acks, r.out(), crashed, d.lines(), backendNow);
        } finally {
            if (d != null) {
                d.kill();
            }
            UploadCrashRecoveryTest.cleanupMount(mnt);
        }
    }

    /** Waits until a traced daemon has passed no new point for a while (its uploads are done). */
    private static void awaitQuiet(CrashRig.Daemon d) throws InterruptedException {
        int seen = -1;
        for (int i = 0; i < 100; i++) {
            Thread.sleep(300);
            int now = d.lines().size();
            if (now == seen) {
                return;
            }
            seen = now;
        }
    }

    /**
     * The points passed after READY (while the operation and its uploads ran), each with the number of its
     * first and last pass counted from the daemon's start: the values to arm it with.
     */
    private static Map<String, int[]> pointsAfterReady(List<String> lines) {
        Map<String, Integer> count = new LinkedHashMap<>();
        Map<String, int[]> after = new LinkedHashMap<>();
        boolean ready = false;
        for (String l : lines) {
            if (l.startsWith("READY")) {
                ready = true;
            } else if (l.startsWith("POINT ")) {
                String p = l.substring(6);
                int n = count.merge(p, 1, Integer::sum);
                if (ready) {
                    after.computeIfAbsent(p, k -> new int[] {n, n})[1] = n;
                }
            }
        }
        return after;
    }

    // ---------------------------------------------------------------- the starting state

    /** Files /f, /g and /d/x00../d/x19, uploaded, in {@code dir}'s cache and backend. */
    private static void seed(Path dir) throws Exception {
        try (CachedUploadFs fs = new CachedUploadFs(dir.resolve("cache"),
                new DirectoryBackend(Files.createDirectories(dir.resolve("backend"))),
                CachedUploadFs.Settings.defaults().withUploadDelay(Duration.ZERO))) {
            put(fs, "/f", A);
            put(fs, "/g", B);
            fs.mkdir("/d", 0755);
            for (int i = 0; i < DIR_FILES; i++) {
                put(fs, dirFile("/d", i), dirContent(i));
            }
            assertThat(fs.awaitIdle(Duration.ofSeconds(20))).isTrue();
        }
        Files.write(dir.resolve("backend").resolve("r"), R); // in the backend only: a read fetches it
    }

    private static void put(CachedUploadFs fs, String path, byte[] content) throws Exception {
        long fh = fs.create(path, 0644, OpenFlags.of(1));
        fs.write(path, fh, ByteBuffer.wrap(content), 0);
        fs.release(path, fh, OpenFlags.of(1));
    }

    private static String dirFile(String dir, int i) {
        return String.format("%s/x%02d", dir, i);
    }

    private static byte[] dirContent(int i) {
        return random(8 * KIB, 100 + i);
    }

    // ---------------------------------------------------------------- the model

    private List<String> check(String op, String point, Run r, Path dir) throws Exception {
        List<String> v = new ArrayList<>();
        if (op.equals("fsync") && r.acks.contains("fsync")) {
            // what fsync covered, or the later write on top of it (uploaded after the close)
            byte[] synced = overlay(A, Arrays.copyOf(C, 65536), 0);
            byte[] atCrash = r.backendAtCrash.get("/f");
            if (atCrash == null || !(Arrays.equals(atCrash, synced)
                    || Arrays.equals(atCrash, overlay(synced, "late".getBytes(java.nio.charset.StandardCharsets.UTF_8), 0)))) {
                v.add("fsync answered 0 but the backend did not have the data when the daemon died");
            }
        }
        CrashRig.Recovered rec = CrashRig.recover(dir.resolve("cache"), dir.resolve("backend"),
                dir.resolve("mnt-recovered"), Duration.ofSeconds(20));
        if (!rec.idle()) {
            v.add("still pending after the restart: " + rec.pending());
        }
        if (!rec.hidden().isEmpty()) {
            v.add("hidden names in the mount: " + rec.hidden());
        }
        List<String> cacheHidden = CrashRig.named(dir.resolve("cache").resolve("data"), ".fuse_hidden");
        if (!cacheHidden.isEmpty()) {
            v.add("hidden names in the cache: " + cacheHidden);
        }
        if (!same(rec.mount(), rec.backend())) {
            v.add("mount and backend differ: mount " + describe(rec.mount()) + ", backend " + describe(rec.backend()));
        }
        if (!allowed(op, r.acks).test(rec.mount())) {
            v.add("state not allowed after acks " + r.acks + ": " + describe(rec.mount()));
        }
        return v;
    }

    /** The states the model allows after {@code op} acknowledged {@code acks} (and crashed, or not). */
    private static Predicate<Map<String, byte[]>> allowed(String op, Set<String> acks) {
        Map<String, byte[]> base = base();
        byte[] c64 = Arrays.copyOf(C, 65536);
        return switch (op) {
            case "write" -> s -> {
                if (!sameExcept(s, base, "/f")) {
                    return false;
                }
                byte[] f = s.get("/f");
                if (acks.contains("write")) {
                    return Arrays.equals(f, overlay(A, C, 4096));
                }
                return f != null && prefixOverlay(f, A, C, 4096);
            };
            case "close" -> s -> {
                if (!sameExcept(s, base, "/n")) {
                    return false;
                }
                byte[] n = s.get("/n");
                if (acks.contains("write")) {
                    return Arrays.equals(n, D);
                }
                return n == null || (n.length <= D.length && Arrays.equals(n, Arrays.copyOf(D, n.length)));
            };
            case "fsync" -> s -> {
                byte[] f = s.get("/f");
                byte[] late = overlay(overlay(A, c64, 0), "late".getBytes(java.nio.charset.StandardCharsets.UTF_8), 0);
                return sameExcept(s, base, "/f") && (Arrays.equals(f, late)
                        || (!acks.contains("write2") && Arrays.equals(f, overlay(A, c64, 0)))
                        || (!acks.contains("write") && Arrays.equals(f, A)));
            };
            case "read", "create-hidden" -> s -> same(s, base);
            case "truncate" -> s -> sameExcept(s, base, "/f") && (Arrays.equals(s.get("/f"), Arrays.copyOf(A, 1000))
                    || (!acks.contains("truncate") && Arrays.equals(s.get("/f"), A)));
            case "rename-file" -> s -> {
                Map<String, byte[]> moved = new TreeMap<>(base);
                moved.put("/h", moved.remove("/f"));
                return same(s, moved) || (!acks.contains("rename") && same(s, base));
            };
            case "rename-replace" -> s -> {
                Map<String, byte[]> moved = new TreeMap<>(base);
                moved.put("/g", moved.remove("/f"));
                return same(s, moved) || (!acks.contains("rename") && same(s, base));
            };
            case "rename-dir" -> s -> {
                Map<String, byte[]> moved = new TreeMap<>();
                base.forEach((k, b) -> moved.put(k.startsWith("/d/") ? "/e/" + k.substring(3) : k, b));
                return same(s, moved) || (!acks.contains("rename") && same(s, base));
            };
            case "unlink" -> s -> {
                Map<String, byte[]> gone = new TreeMap<>(base);
                gone.remove("/f");
                return same(s, gone) || (!acks.contains("unlink") && same(s, base));
            };
            case "unlink-open" -> s -> {
                Map<String, byte[]> gone = new TreeMap<>(base);
                gone.remove("/f");
                if (acks.contains("unlink")) {
                    return same(s, gone);
                }
                boolean written = sameExcept(s, base, "/f") && Arrays.equals(s.get("/f"), overlay(A, c64, 0));
                if (acks.contains("write")) {
                    return written || same(s, gone); // the unlink was under way
                }
                return written || same(s, base);
            };
            default -> throw new IllegalArgumentException(op);
        };
    }

    private static String lastStep(String op) {
        return switch (op) {
            case "write", "close", "fsync", "unlink-open", "read", "create-hidden" -> "close";
            case "truncate" -> "truncate";
            case "unlink" -> "unlink";
            default -> "rename";
        };
    }

    private static Map<String, byte[]> base() {
        Map<String, byte[]> m = new TreeMap<>();
        m.put("/f", A);
        m.put("/g", B);
        m.put("/r", R);
        for (int i = 0; i < DIR_FILES; i++) {
            m.put(dirFile("/d", i), dirContent(i));
        }
        return m;
    }

    private static boolean sameExcept(Map<String, byte[]> s, Map<String, byte[]> base, String path) {
        Map<String, byte[]> a = new TreeMap<>(s);
        Map<String, byte[]> b = new TreeMap<>(base);
        a.remove(path);
        b.remove(path);
        return same(a, b);
    }

    private static boolean same(Map<String, byte[]> a, Map<String, byte[]> b) {
        if (!a.keySet().equals(b.keySet())) {
            return false;
        }
        for (String k : a.keySet()) {
            if (!Arrays.equals(a.get(k), b.get(k))) {
                return false;
            }
        }
        return true;
    }

    /** {@code base} with {@code data} written at {@code offset}. */
    private static byte[] overlay(byte[] base, byte[] data, int offset) {
        byte[] out = Arrays.copyOf(base, Math.max(base.length, offset + data.length));
        System.arraycopy(data, 0, out, offset, data.length);
        return out;
    }

    /** Whether {@code f} is {@code base} with some prefix of {@code data} written at {@code offset}. */
    private static boolean prefixOverlay(byte[] f, byte[] base, byte[] data, int offset) {
        for (int k = 0; k <= data.length; k += 4096) {
            byte[] candidate = overlay(base, Arrays.copyOf(data, k), offset);
            if (candidate.length == f.length && Arrays.equals(candidate, f)) {
                return true;
            }
        }
        return false;
    }

    private static String describe(Map<String, byte[]> s) {
        Map<String, Integer> sizes = new TreeMap<>();
        s.forEach((k, b) -> sizes.put(k, b.length));
        return sizes.toString();
    }

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }
}
