package io.fuseguard.drill;

import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.mount.FuseMount;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.Deque;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The migration table of issue 7, measured: the unchanged {@link NdriveFs} (a jnr-fuse filesystem that uploads in
 * {@code flush}, starts and drains an uploader in {@code init}/{@code destroy}, and whose indexer reads its own
 * mount) served side by side by plain jnr-fuse, by fuseguard with its defaults (the one-line migration) and by
 * fuseguard with {@link FlushPolicy#BOUNDED}. Prints a Markdown table on standard output, progress on standard
 * error.
 *
 * <p>{@code java -cp fuseguard-cli/target/fuseguard.jar io.fuseguard.drill.MigrationReport [--stall-seconds N]
 * [--repeat N] [--quick] [--work-dir DIR]}. Needs root, {@code /dev/fuse}, fusectl and {@code unshare}/{@code
 * setpriv} (util-linux). {@code --quick}: a 2 s stall and 1 repetition. The work directory (default: a new one
 * under /tmp) must be searchable by uid 65534.
 *
 * <p>The shell operations, the stalled upload and the caller's uid are measured on mounts of this process; the
 * indexer and the seed (pid namespace killed) on daemon processes ({@link DrillDaemon}, {@link DrillRunner}).
 * Every mount is aborted through fusectl and detached, and every process killed by pid, even on failure.
 */
public final class MigrationReport {
    /** Twelve everyday shell operations; prints what they produced (shared with NdriveMigrationTest). */
    public static final String SHELL_SCRIPT = String.join("\n",
            "set -e",
            "cd \"$1\"",
            "printf 'hello\\n' > a.txt",
            "cp a.txt b.txt",
            "cat b.txt",
            "printf 'more\\n' >> b.txt",
            "mv b.txt c.txt",
            "mkdir d && mv c.txt d/",
            "truncate -s 3 a.txt",
            "dd if=/dev/zero of=big bs=64k count=16 2>/dev/null",
            "chmod 600 a.txt",
            "touch d/e",
            "rm big",
            "for f in a.txt d/c.txt d/e; do stat -c '%n %s %A' \"$f\"; done",
            "ls -1 . d",
            "cat a.txt d/c.txt | od -c",
            "df -P . | tail -1 | awk '{print $2}'");

    /** The three ways of serving the filesystem. */
    public enum Column {
        /** The filesystem's own {@code mount()}: jnr-fuse and libfuse. */
        PLAIN("plain jnr-fuse", "plain", List.of()),
        /** {@code JnrFuseMount.mount(fs, path, FuseguardConfig.defaults())}. */
        DEFAULTS("fuseguard defaults", "fuseguard", List.of("policy=default")),
        /** The same with {@code flushPolicy(FlushPolicy.BOUNDED)}. */
        BOUNDED("fuseguard `BOUNDED`", "fuseguard", List.of("policy=bounded"));

        private final String header;
        private final String impl;
        private final List<String> daemonArgs;

        Column(String header, String impl, List<String> daemonArgs) {
            this.header = header;
            this.impl = impl;
            this.daemonArgs = daemonArgs;
        }

        /** The column's title. */
        public String header() {
            return header;
        }
    }

    /** The rows, in the order printed. */
    public enum Row {
        /** The script's output compared with plain jnr-fuse's. */
        SHELL("12 shell operations (cp, cat, >>, mv, mkdir, truncate, dd, chmod, touch, rm, stat, ls): output "
                + "identical to plain jnr-fuse's"),
        /** A cp'd file in the store after a clean unmount. */
        CP_STORED("file in the remote store after `cp` + clean unmount"),
        /** The whole store after the unmount, compared with plain jnr-fuse's. */
        STORE_SAME("remote store after the unmount: the same objects with the same bytes as plain jnr-fuse's"),
        /** Namespace changes right after close(). */
        RACE("`rm` right after the writer's `close()` (`dd ...; rm`) ×%s / `mv` right after it (`printf ...; mv`) "
                + "×%s: files the store still holds after `rm` / files whose bytes reached the store under no name"),
        /** flush/init/destroy calls. */
        CALLS("calls of the filesystem's `flush` / `init` / `destroy` (the 12 operations, the `cp`, the unmount)"),
        /** The mount-time warning about flush. */
        WARNING("warning at mount that `flush()` behaves differently (which)"),
        /** The daemon's indexer. */
        INDEXER("daemon's indexer reading its own mount (every 100 ms for 2 s)"),
        /** getContext() uid. */
        UID("`getContext()` uid in `read()` for a caller of uid 65534 (`setpriv ... cat`, allowOther)"),
        /** cp with a stalled upload: cp's time and status. */
        STALL_CP("`cp` while the upload stalls %s: `cp` returned after, exit status"),
        /** cp with a stalled upload: the store. */
        STALL_STORED("... the file in the remote store (time from the start of `cp`)"),
        /** The seed. */
        SEED("the seed: pid namespace, indexer holding its file, 3 clients, `kill -9` of init, ×%s: teardown"),
        /** The seed with the indexer allowed. */
        SEED_ALLOWED("same with the indexer allowed (`self=ALLOW_WITH_WARNING`), ×%s");

        private final String label;

        Row(String label) {
            this.label = label;
        }
    }

    /** What to measure. */
    public record Options(Duration stall, int repetitions, Path workDir) {
        /** The full run: a 12 s stall, 3 repetitions. */
        public static Options full() {
            return new Options(Duration.ofSeconds(12), 3, null);
        }

        /** The quick run (tests): a 2 s stall, 1 repetition. */
        public static Options quick() {
            return new Options(Duration.ofSeconds(2), 1, null);
        }
    }

    /** The measured table. */
    public static final class Report {
        private final List<String> header;
        private final Map<Row, Map<Column, String>> cells;
        private final Options options;

        Report(List<String> header, Map<Row, Map<Column, String>> cells, Options options) {
            this.header = List.copyOf(header);
            this.cells = cells;
            this.options = options;
        }

        /** One cell. */
        public String cell(Row row, Column column) {
            return cells.getOrDefault(row, Map.of()).getOrDefault(column, "not measured");
        }

        /** Machine, kernel, date, commit. */
        public List<String> header() {
            return header;
        }

        /** The report as Markdown: the header lines, then the table. */
        public String markdown() {
            StringBuilder sb = new StringBuilder();
            for (String h : header) {
                sb.append(h).append("  \n");
            }
            sb.append('\n').append("| |");
            for (Column c : Column.values()) {
                sb.append(' ').append(c.header()).append(" |");
            }
            sb.append("\n|---|");
            for (int i = 0; i < Column.values().length; i++) {
                sb.append("---|");
            }
            sb.append('\n');
            for (Row r : Row.values()) {
                String label = switch (r) {
                    case STALL_CP -> String.format(r.label, options.stall().toSeconds() + " s");
                    case SEED, SEED_ALLOWED -> String.format(r.label, options.repetitions());
                    case RACE -> String.format(r.label, RACE_FILES, RACE_FILES);
                    default -> r.label;
                };
                sb.append("| ").append(escape(label)).append(" |");
                for (Column c : Column.values()) {
                    sb.append(' ').append(escape(cell(r, c))).append(" |");
                }
                sb.append('\n');
            }
            return sb.toString();
        }

        private static String escape(String s) {
            return s.replace("|", "\\|").replace("\n", " ");
        }
    }

    /** Files of each kind in the rm/mv-after-close row. */
    static final int RACE_FILES = 20;

    private final Options options;
    private final Path base;
    private final String classPath;
    private final Deque<AutoCloseable> cleanup = new ArrayDeque<>();
    private final Map<Row, Map<Column, String>> cells = new EnumMap<>(Row.class);

    private MigrationReport(Options options, Path base, String classPath) {
        this.options = options;
        this.base = base;
        this.classPath = classPath;
    }

    /**
     * Measures the table. Every mount and process made is cleaned up before it returns, also when it fails.
     *
     * @throws IllegalStateException when this machine cannot run it (not root, no FUSE, no unshare)
     */
    public static Report run(Options options) throws Exception {
        Optional<String> why = DrillRunner.unavailableReason();
        if (why.isPresent()) {
            throw new IllegalStateException("the migration report cannot run here: " + why.get());
        }
        Path base = options.workDir() != null
                ? Files.createDirectories(options.workDir()).resolve("migration-report-" + System.nanoTime())
                : Files.createTempDirectory(Path.of("/tmp"), "migration-report-");
        Files.createDirectories(base);
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
        List<String> header = headerLines(options); // the commit measured is the one checked out at the start
        MigrationReport r = new MigrationReport(options, base, System.getProperty("java.class.path"));
        Thread hook = new Thread(r::cleanUp, "migration-report-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            r.measure();
            return new Report(header, r.cells, options);
        } finally {
            r.cleanUp();
            r.removeBase();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException e) {
                // shutting down
            }
        }
    }

    /** Entry point: prints the Markdown table on standard output. */
    public static void main(String[] args) throws Exception {
        Duration stall = null;
        Integer repeat = null;
        boolean quick = false;
        Path workDir = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--stall-seconds" -> stall = Duration.ofSeconds(Long.parseLong(args[++i]));
                case "--repeat" -> repeat = Integer.parseInt(args[++i]);
                case "--quick" -> quick = true;
                case "--work-dir" -> workDir = Path.of(args[++i]);
                case "-h", "--help" -> {
                    System.out.println("usage: MigrationReport [--stall-seconds N (default 12)] [--repeat N "
                            + "(default 3)] [--quick (2 s stall, 1 repetition)] [--work-dir DIR]");
                    return;
                }
                default -> {
                    System.err.println("unknown argument " + args[i] + " (--help)");
                    System.exit(2);
                }
            }
        }
        Options base = quick ? Options.quick() : Options.full();
        Options o = new Options(stall != null ? stall : base.stall(), repeat != null ? repeat : base.repetitions(),
                workDir);
        quietFuseguardInfo();
        Report report;
        try {
            report = run(o);
        } catch (IllegalStateException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        System.out.print(report.markdown());
        System.out.flush();
        System.exit(0); // plain jnr-fuse leaves non-daemon threads behind
    }

    /** fuseguard's INFO lines (mounted, unmounted) would bury the progress lines; its warnings stay. */
    private static void quietFuseguardInfo() {
        if (System.getenv("FUSEGUARD_LOG_LEVEL") == null
                && org.slf4j.LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext ctx) {
            ctx.getLogger("io.fuseguard").setLevel(ch.qos.logback.classic.Level.WARN);
        }
    }

    private static void progress(String format, Object... args) {
        System.err.println("migration-report: " + String.format(format, args));
        System.err.flush();
    }

    private void put(Row row, Column column, String value) {
        cells.computeIfAbsent(row, k -> new EnumMap<>(Column.class)).put(column, value);
    }

    // ---- the measurements ----------------------------------------------------------------------------------

    private void measure() throws Exception {
        byte[] source = new byte[256 * 1024];
        new Random(7).nextBytes(source);
        Path src = Files.write(base.resolve("source.bin"), source);

        Map<Column, String> outputs = new EnumMap<>(Column.class);
        Map<Column, Map<String, String>> stores = new EnumMap<>(Column.class);
        for (Column c : Column.values()) {
            progress("%s: 12 shell operations, cp, unmount", c.header());
            operations(c, src, source, outputs, stores);
        }
        for (Column c : Column.values()) {
            progress("%s: rm and mv right after close()", c.header());
            namespaceRightAfterClose(c);
        }
        for (Column c : Column.values()) {
            progress("%s: getContext() of a uid 65534 caller", c.header());
            callerUid(c);
        }
        for (Column c : Column.values()) {
            progress("%s: cp while the upload stalls %d s", c.header(), options.stall().toSeconds());
            stalledUpload(c, src, source);
        }
        for (Column c : Column.values()) {
            progress("%s: the daemon's indexer on its own mount", c.header());
            indexer(c);
        }
        seeds();
    }

    /** The script, a cp, a clean unmount: output, store, calls, the mount-time warning. */
    private void operations(Column c, Path src, byte[] source, Map<Column, String> outputs,
                            Map<Column, Map<String, String>> stores) throws Exception {
        Path dir = dir("ops-" + c.name().toLowerCase());
        NdriveFs.RemoteStore remote = new NdriveFs.RemoteStore(dir.resolve("store"));
        Path mp = mountPoint(dir);
        NdriveFs fs = new NdriveFs(remote, mp);
        WarnCapture capture = WarnCapture.start();
        Mounted m;
        try {
            m = mount(c, fs, mp, false);
        } finally {
            capture.stop();
        }
        List<String> warns = capture.lines();
        Ran script = run(Duration.ofSeconds(60), "sh", "-c", SHELL_SCRIPT, "script", mp.toString());
        Ran cp = run(Duration.ofSeconds(60), "cp", src.toString(), mp.resolve("copied").toString());
        m.unmount();
        if (c == Column.PLAIN) {
            awaitTrue(Duration.ofSeconds(5), () -> fs.destroys() > 0); // libfuse calls it as its loop ends
        }
        String output = script.exit() == 0 ? script.out() : "FAILED (exit " + script.exit() + "): " + script.err();
        outputs.put(c, output);
        if (c == Column.PLAIN) {
            put(Row.SHELL, c, script.exit() == 0 ? "reference" : "script failed: " + oneLine(script.err()));
        } else if (script.exit() != 0) {
            put(Row.SHELL, c, "no: the script failed (exit " + script.exit() + "): " + oneLine(script.err()));
        } else {
            put(Row.SHELL, c, output.equals(outputs.get(Column.PLAIN)) ? "yes"
                    : "no: " + firstDifference(outputs.get(Column.PLAIN), output));
        }
        Path object = remote.objectPath("/copied");
        boolean stored = Files.exists(object) && Arrays.equals(Files.readAllBytes(object), source);
        put(Row.CP_STORED, c, cp.exit() != 0 ? "cp failed (exit " + cp.exit() + "): " + oneLine(cp.err())
                : stored ? "yes" : Files.exists(object) ? "no: other bytes" : "no");
        Map<String, String> store = storeContents(dir.resolve("store"));
        stores.put(c, store);
        if (c == Column.PLAIN) {
            put(Row.STORE_SAME, c, "reference (" + store.size() + " objects)");
        } else {
            put(Row.STORE_SAME, c, compareStores(stores.get(Column.PLAIN), store));
        }
        put(Row.CALLS, c, fs.flushes() + " / " + fs.inits() + " / " + fs.destroys());
        if (c == Column.PLAIN) {
            put(Row.WARNING, c, "– (plain jnr-fuse logs nothing)");
        } else {
            Optional<String> flushNote = warns.stream().filter(w -> w.contains("differences from plain"))
                    .map(MigrationReport::flushClause).filter(s -> !s.isEmpty()).findFirst();
            put(Row.WARNING, c, flushNote.map(n -> "yes, WARN: \u201c" + n + "\u201d").orElse(
                    "none" + (warns.isEmpty() ? "" : " (other warnings: " + warns.size() + ")")));
        }
    }

    /** The clause of the mount-time WARN about flush(), up to its first ';'. */
    private static String flushClause(String warning) {
        int i = warning.indexOf("flush()");
        if (i < 0) {
            return "";
        }
        int end = warning.indexOf(';', i);
        return warning.substring(i, end < 0 ? warning.length() : end).trim();
    }

    /**
     * A shell that removes or renames a file right after writing it, as scripts do: what the remote store holds
     * afterwards. NdriveFs deletes an object in {@code unlink} and keeps it under its old name at {@code rename}.
     */
    private void namespaceRightAfterClose(Column c) throws Exception {
        Path dir = dir("race-" + c.name().toLowerCase());
        NdriveFs.RemoteStore remote = new NdriveFs.RemoteStore(dir.resolve("store"));
        Path mp = mountPoint(dir);
        NdriveFs fs = new NdriveFs(remote, mp);
        Mounted m = mount(c, fs, mp, false);
        StringBuilder script = new StringBuilder("cd \"$1\"\n");
        for (int i = 0; i < RACE_FILES; i++) {
            script.append("dd if=/dev/zero of=r").append(i).append(" bs=64k count=4 2>/dev/null; rm r").append(i)
                    .append('\n');
            script.append("printf 'm").append(i).append("' > m").append(i).append("; mv m").append(i).append(" n")
                    .append(i).append('\n');
        }
        Ran ran = run(Duration.ofSeconds(60), "sh", "-c", script.toString(), "race", mp.toString());
        m.unmount();
        if (ran.exit() != 0) {
            put(Row.RACE, c, "script failed: " + oneLine(ran.err()));
            return;
        }
        int stale = 0;
        int nowhere = 0;
        for (int i = 0; i < RACE_FILES; i++) {
            if (Files.exists(remote.objectPath("/r" + i))) {
                stale++;
            }
            byte[] want = ("m" + i).getBytes(StandardCharsets.UTF_8);
            boolean somewhere = false;
            for (String name : List.of("/m" + i, "/n" + i)) {
                Path o = remote.objectPath(name);
                somewhere |= Files.exists(o) && Arrays.equals(Files.readAllBytes(o), want);
            }
            if (!somewhere) {
                nowhere++;
            }
        }
        long hidden = 0;
        try (Stream<Path> s = Files.list(dir.resolve("store"))) {
            hidden = s.filter(p -> p.getFileName().toString().startsWith(".fuse_hidden")).count();
        }
        put(Row.RACE, c, (stale > 0 ? "**" + stale + "**" : "0") + " / " + (nowhere > 0 ? "**" + nowhere + "**" : "0")
                + (hidden > 0 ? " (+" + hidden + " `.fuse_hidden` objects)" : ""));
    }

    private void callerUid(Column c) throws Exception {
        Path dir = dir("uid-" + c.name().toLowerCase());
        Path mp = mountPoint(dir);
        NdriveFs fs = new NdriveFs(new NdriveFs.RemoteStore(dir.resolve("store")), mp)
                .withFile("/shared", "shared\n".getBytes(StandardCharsets.UTF_8));
        Mounted m = mount(c, fs, mp, true);
        Ran cat = run(Duration.ofSeconds(30), "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "cat",
                mp.resolve("shared").toString());
        Integer uid = fs.callerUid("/shared");
        m.unmount();
        put(Row.UID, c, cat.exit() != 0 ? "cat failed: " + oneLine(cat.err()) : uid == null ? "never called"
                : Integer.toString(uid));
    }

    private void stalledUpload(Column c, Path src, byte[] source) throws Exception {
        Path dir = dir("stall-" + c.name().toLowerCase());
        NdriveFs.RemoteStore remote = new NdriveFs.RemoteStore(dir.resolve("store"));
        Path mp = mountPoint(dir);
        NdriveFs fs = new NdriveFs(remote, mp);
        Mounted m = mount(c, fs, mp, false);
        long stallMs = options.stall().toMillis();
        remote.stallFor(stallMs);
        long t0 = System.nanoTime();
        Ran cp = run(options.stall().plusSeconds(60), "cp", src.toString(), mp.resolve("stalled").toString());
        Path object = remote.objectPath("/stalled");
        long until = t0 + options.stall().plusSeconds(15).toNanos();
        boolean landed = false;
        while (System.nanoTime() < until) {
            if (Files.exists(object)) {
                landed = true;
                break;
            }
            Thread.sleep(20);
        }
        long landedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        boolean same = landed && Arrays.equals(Files.readAllBytes(object), source);
        m.unmount();
        String status = "exit " + cp.exit() + (cp.exit() == 0 ? "" : " (" + oneLine(cp.err().replace(mp.toString(),
                "<mount>")) + ")");
        put(Row.STALL_CP, c, seconds(cp.millis()) + ", " + status);
        put(Row.STALL_STORED, c, landed ? (same ? "yes" : "other bytes") + ", at " + seconds(landedMs)
                : "no (not within " + options.stall().plusSeconds(15).toSeconds() + " s; after the unmount: "
                + (Files.exists(object) ? "yes" : "no") + ")");
    }

    /** A daemon serving the filesystem, its indexer reading every 100 ms, counted after 2 s. */
    private void indexer(Column c) throws Exception {
        Path dir = dir("indexer-" + c.name().toLowerCase());
        Path mp = mountPoint(dir);
        Path log = dir.resolve("daemon.log");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                        .toString(), "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", classPath,
                DrillDaemon.class.getName(), c.impl, mp.toString(), "fs=ndrive", "store=" + dir.resolve("store"),
                "indexer", "indexer-interval-ms=100", "indexer-report-ms=2000"));
        cmd.addAll(c.daemonArgs);
        Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
        cleanup.push(() -> stopDaemon(p, mp));
        String line;
        try {
            line = DrillRunner.awaitLine(p, "INDEXER", Duration.ofSeconds(60));
        } catch (IOException e) {
            put(Row.INDEXER, c, "daemon failed: " + oneLine(e.getMessage()));
            stopDaemon(p, mp);
            return;
        }
        stopDaemon(p, mp);
        Map<String, String> kv = new LinkedHashMap<>();
        for (String part : line.substring("INDEXER ".length()).split(" ", 3)) {
            int eq = part.indexOf('=');
            if (eq > 0) {
                kv.put(part.substring(0, eq), part.substring(eq + 1));
            }
        }
        long indexed = Long.parseLong(kv.getOrDefault("indexed", "0"));
        long errors = Long.parseLong(kv.getOrDefault("errors", "0"));
        String last = kv.getOrDefault("last", "");
        String daemonLog = Files.exists(log) ? Files.readString(log) : "";
        String said = daemonLog.contains("on its own mount: allowed") ? "; INFO at the first open says why it is safe"
                : daemonLog.contains("Refused") && daemonLog.contains("EDEADLK") ? "; WARN says why and names "
                + "inProcess() and the no-flush policies" : "";
        String counts = indexed + " files read, " + errors + " errors";
        if (errors == 0 && indexed > 0) {
            put(Row.INDEXER, c, "works (" + counts + said + ")");
        } else if (last.contains("Resource deadlock avoided") || last.contains("EDEADLK")) {
            put(Row.INDEXER, c, "EDEADLK (" + counts + said + ")");
        } else {
            put(Row.INDEXER, c, "fails (" + counts + ", last: " + last + ")");
        }
    }

    private void seeds() throws Exception {
        DrillRunner runner = new DrillRunner(dir("seeds"), classPath);
        Map<Column, List<Outcome>> seed = new EnumMap<>(Column.class);
        Map<Column, List<Outcome>> allowed = new EnumMap<>(Column.class);
        for (int i = 1; i <= options.repetitions(); i++) {
            for (Column c : Column.values()) {
                progress("%s: the seed, run %d of %d", c.header(), i, options.repetitions());
                seed.computeIfAbsent(c, k -> new ArrayList<>()).add(seed(runner, c.impl, c.daemonArgs));
            }
            for (Column c : List.of(Column.DEFAULTS, Column.BOUNDED)) {
                progress("%s: the seed with the indexer allowed, run %d of %d", c.header(), i,
                        options.repetitions());
                List<String> args = new ArrayList<>(c.daemonArgs);
                args.add("self=allow");
                allowed.computeIfAbsent(c, k -> new ArrayList<>()).add(seed(runner, c.impl, args));
            }
        }
        for (Column c : Column.values()) {
            put(Row.SEED, c, describe(seed.get(c)) + (c == Column.BOUNDED
                    ? " (the indexer is refused, so it holds nothing)" : ""));
        }
        put(Row.SEED_ALLOWED, Column.PLAIN, "– (plain jnr-fuse always serves the daemon's own threads: the row above)");
        for (Column c : List.of(Column.DEFAULTS, Column.BOUNDED)) {
            put(Row.SEED_ALLOWED, c, describe(allowed.get(c)));
        }
    }

    /** One run of the seed; a run that could not start is an outcome with its reason as detail. */
    private static Outcome seed(DrillRunner runner, String impl, List<String> args) throws InterruptedException {
        try {
            return runner.run(Scenario.NDRIVE_SEED, impl, args);
        } catch (IOException | RuntimeException e) {
            progress("the seed (%s %s) failed to run: %s", impl, args, e.getMessage());
            return new Outcome(Scenario.NDRIVE_SEED, impl, false, -1, List.of(), "", -1, "FAILED: " + e.getMessage());
        }
    }

    /** "gone in a–b ms" / "wedged n/n (...)", over repetitions. */
    static String describe(List<Outcome> outcomes) {
        List<Long> gone = outcomes.stream().filter(o -> o.teardownMillis() >= 0).map(Outcome::teardownMillis)
                .sorted().toList();
        List<Outcome> wedged = outcomes.stream().filter(o -> o.teardownMillis() < 0
                && !o.detail().startsWith("FAILED")).toList();
        List<String> failed = outcomes.stream().map(Outcome::detail).filter(d -> d.startsWith("FAILED")).toList();
        List<String> parts = new ArrayList<>();
        if (!gone.isEmpty()) {
            long waiting = outcomes.stream().filter(o -> o.teardownMillis() >= 0
                    && !o.detail().contains(" 0 requests waiting")).count();
            parts.add((wedged.isEmpty() ? "" : gone.size() + "/" + outcomes.size() + " ") + "gone in "
                    + range(gone) + " ms" + (waiting > 0 ? " (" + waiting + " with requests left waiting)" : ""));
        }
        if (!wedged.isEmpty()) {
            String evidence = evidence(wedged);
            List<Long> rec = wedged.stream().map(Outcome::recoveryMillis).filter(r -> r >= 0).sorted().toList();
            long observed = outcomes.get(0).scenario().limit().plusSeconds(3).toMillis();
            parts.add("**wedged " + wedged.size() + "/" + outcomes.size() + "** (stuck after " + seconds(observed)
                    + (evidence.isEmpty() ? "" : " in " + evidence) + "; "
                    + (rec.size() == wedged.size() ? "released by fusectl abort in " + range(rec) + " ms"
                    : (wedged.size() - rec.size()) + " not released by the abort") + ")");
        }
        if (!failed.isEmpty()) {
            parts.add("did not run " + failed.size() + "/" + outcomes.size() + " (" + oneLine(failed.get(0)) + ")");
        }
        return String.join("; ", parts);
    }

    /** The kernel functions the stuck tasks were in, and the range of fusectl's waiting count. */
    private static String evidence(List<Outcome> wedged) {
        List<String> functions = new ArrayList<>();
        List<Long> waiting = new ArrayList<>();
        for (Outcome o : wedged) {
            for (String part : o.wedgeEvidence().split(", ")) {
                if (part.startsWith("fusectl waiting=")) {
                    waiting.add(Long.parseLong(part.substring(16)));
                } else if (!part.isEmpty() && !functions.contains(part)) {
                    functions.add(part);
                }
            }
        }
        Collections.sort(waiting);
        return String.join(", ", functions) + (waiting.isEmpty() ? "" : (functions.isEmpty() ? "" : ", ")
                + "fusectl waiting=" + range(waiting));
    }

    private static String range(List<Long> sorted) {
        long lo = sorted.get(0);
        long hi = sorted.get(sorted.size() - 1);
        return lo == hi ? Long.toString(lo) : lo + "–" + hi;
    }

    private static String seconds(long millis) {
        return String.format("%.1f s", millis / 1000.0);
    }

    // ---- mounts in this process ----------------------------------------------------------------------------

    /** A mount of this process; {@link #unmount()} unmounts it cleanly (once). */
    private interface Mounted {
        void unmount() throws Exception;
    }

    private Mounted mount(Column c, NdriveFs fs, Path mp, boolean allowOther) {
        Mounted m;
        if (c == Column.PLAIN) {
            fs.mount(mp, false, false, allowOther ? new String[] {"-o", "allow_other"} : new String[0]);
            boolean[] done = {false};
            m = () -> {
                if (!done[0]) {
                    done[0] = true;
                    fs.umount();
                    awaitTrue(Duration.ofSeconds(5), () -> mounted(mp).isEmpty());
                }
            };
        } else {
            FuseguardConfig.Builder b = FuseguardConfig.defaults().toBuilder();
            if (c == Column.BOUNDED) {
                b.flushPolicy(FlushPolicy.BOUNDED);
            }
            if (allowOther) {
                b.allowOther(true);
            }
            FuseMount fm = JnrFuseMount.mount(fs, mp, b.build());
            m = fm::close;
        }
        cleanup.push(() -> {
            try {
                m.unmount();
            } finally {
                forceUnmount(mp);
            }
        });
        return m;
    }

    private static Optional<MountEntry> mounted(Path mp) {
        try {
            return MountTable.load().findByMountPoint(mp);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Never leaves a mount behind: fusectl abort (nothing can wait on it any more), then a lazy detach. */
    private static void forceUnmount(Path mp) {
        Optional<MountEntry> e = mounted(mp);
        if (e.isEmpty()) {
            return;
        }
        try {
            FuseControl.ensureMounted();
            FuseControl ctl = new FuseControl();
            if (ctl.exists(e.get().connectionId())) {
                ctl.abort(e.get().connectionId());
            }
        } catch (IOException ex) {
            progress("abort of %s failed: %s", mp, ex.getMessage());
        }
        run(Duration.ofSeconds(10), "umount", "-l", mp.toString());
    }

    private static void stopDaemon(Process p, Path mp) {
        Optional<MountEntry> e = mounted(mp);
        OptionalLong conn = e.map(x -> OptionalLong.of(x.connectionId())).orElse(OptionalLong.empty());
        try {
            if (conn.isPresent()) {
                FuseControl.ensureMounted();
                if (new FuseControl().exists(conn.getAsLong())) {
                    new FuseControl().abort(conn.getAsLong()); // first, so that killing it can never wedge
                }
            }
        } catch (IOException ex) {
            progress("abort of %s failed: %s", mp, ex.getMessage());
        }
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
        try {
            p.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
        forceUnmount(mp);
    }

    private void cleanUp() {
        synchronized (cleanup) {
            while (!cleanup.isEmpty()) {
                try {
                    cleanup.pop().close();
                } catch (Exception e) {
                    progress("cleanup step failed: %s", e);
                }
            }
        }
    }

    /** Removes the work directory, unless something is still mounted below it (never walks into a mount). */
    private void removeBase() {
        try {
            boolean busy = MountTable.read().stream().anyMatch(e -> e.mountPoint().startsWith(base));
            if (busy) {
                progress("left %s in place: something is still mounted below it", base);
                return;
            }
            try (Stream<Path> s = Files.walk(base)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        } catch (IOException e) {
            progress("could not remove %s: %s", base, e.getMessage());
        }
    }

    private Path dir(String name) throws IOException {
        Path d = Files.createDirectories(base.resolve(name));
        Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
        return d;
    }

    private static Path mountPoint(Path dir) throws IOException {
        Path mp = Files.createDirectory(dir.resolve("mnt"));
        Files.setPosixFilePermissions(mp, PosixFilePermissions.fromString("rwxr-xr-x"));
        return mp;
    }

    // ---- stores, outputs, processes ------------------------------------------------------------------------

    /** Object name to a digest of its bytes (temporary upload files left out). */
    private static Map<String, String> storeContents(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String name = p.getFileName().toString();
                if (!name.startsWith(".upload-") && !name.equals(".stall")) {
                    out.put(name.replace('%', '/'), Files.size(p) + " bytes, " + Integer.toHexString(
                            Arrays.hashCode(Files.readAllBytes(p))));
                }
            }
        }
        return out;
    }

    private static String compareStores(Map<String, String> reference, Map<String, String> actual) {
        if (reference.equals(actual)) {
            return "yes (" + actual.size() + " objects)";
        }
        List<String> diff = new ArrayList<>();
        for (String k : reference.keySet()) {
            if (!actual.containsKey(k)) {
                diff.add("/" + k + " missing");
            } else if (!actual.get(k).equals(reference.get(k))) {
                diff.add("/" + k + " " + actual.get(k) + " instead of " + reference.get(k));
            }
        }
        for (String k : actual.keySet()) {
            if (!reference.containsKey(k)) {
                diff.add("/" + k + " extra");
            }
        }
        return "**no**: " + String.join(", ", diff);
    }

    private static String firstDifference(String expected, String actual) {
        String[] e = expected.split("\n", -1);
        String[] a = actual.split("\n", -1);
        for (int i = 0; i < Math.max(e.length, a.length); i++) {
            String x = i < e.length ? e[i] : "(end)";
            String y = i < a.length ? a[i] : "(end)";
            if (!x.equals(y)) {
                return "line " + (i + 1) + ": `" + y + "` instead of `" + x + "`";
            }
        }
        return "(differs)";
    }

    private static String oneLine(String s) {
        String t = s == null ? "" : s.strip().replace('\n', ' ');
        return t.length() > 160 ? t.substring(0, 160) + "…" : t;
    }

    private static void awaitTrue(Duration timeout, java.util.function.BooleanSupplier condition)
            throws InterruptedException {
        long until = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean() && System.nanoTime() < until) {
            Thread.sleep(10);
        }
    }

    /** A finished command. */
    record Ran(int exit, String out, String err, long millis) {
    }

    /** Runs a command with a time limit (then killed, with its children, exit -1); output through files. */
    static Ran run(Duration timeout, String... cmd) {
        Path out = null;
        Path err = null;
        try {
            out = Files.createTempFile("migration-report-", ".out");
            err = Files.createTempFile("migration-report-", ".err");
            long t0 = System.nanoTime();
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            boolean done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            if (!done) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
            return new Ran(done ? p.exitValue() : -1, Files.readString(out), Files.readString(err)
                    + (done ? "" : " (killed after " + timeout.toSeconds() + " s)"), ms);
        } catch (IOException e) {
            return new Ran(-1, "", e.toString(), 0);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Ran(-1, "", "interrupted", 0);
        } finally {
            for (Path p : new Path[] {out, err}) {
                if (p != null) {
                    try {
                        Files.deleteIfExists(p);
                    } catch (IOException e) {
                        // a temporary file
                    }
                }
            }
        }
    }

    // ---- the header ----------------------------------------------------------------------------------------

    private static List<String> headerLines(Options o) {
        List<String> h = new ArrayList<>();
        h.add("Migration report: the unchanged `NdriveFs` (jnr-fuse; uploads in `flush`, uploader in "
                + "`init`/`destroy`, indexer on its own mount) served three ways.");
        h.add("machine: " + machine() + "; kernel: " + System.getProperty("os.name") + " " + kernelRelease()
                + "; Java " + System.getProperty("java.version"));
        h.add("date: " + ZonedDateTime.now().withNano(0).format(DateTimeFormatter.ISO_OFFSET_DATE_TIME)
                + "; git commit: " + gitCommit() + "; stall " + o.stall().toSeconds() + " s, " + o.repetitions()
                + " repetition(s)");
        return h;
    }

    private static String machine() {
        String cpu = "unknown CPU";
        String mem = "";
        try {
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse(cpu);
            mem = Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemTotal:"))
                    .map(l -> Long.parseLong(l.replaceAll("[^0-9]", "")) / 1024 / 1024 + 1 + " GiB RAM")
                    .findFirst().orElse("");
        } catch (IOException | RuntimeException e) {
            // best effort
        }
        return Runtime.getRuntime().availableProcessors() + " cores (" + cpu + ")" + (mem.isEmpty() ? "" : ", "
                + mem);
    }

    private static String kernelRelease() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/osrelease")).strip();
        } catch (IOException e) {
            return System.getProperty("os.version");
        }
    }

    private static String gitCommit() {
        Ran rev = run(Duration.ofSeconds(10), "git", "rev-parse", "--short=12", "HEAD");
        if (rev.exit() != 0) {
            return "unknown (not run in a git work tree)";
        }
        Ran status = run(Duration.ofSeconds(10), "git", "status", "--porcelain", "--untracked-files=no");
        return rev.out().strip() + (status.exit() == 0 && !status.out().isBlank() ? " with uncommitted changes" : "");
    }

    // ---- fuseguard's warnings of this process --------------------------------------------------------------

    /** Collects the WARN lines fuseguard logs (through logback) while a mount starts. */
    private static final class WarnCapture {
        private final List<String> lines = new CopyOnWriteArrayList<>();
        private ch.qos.logback.classic.Logger logger;
        private ch.qos.logback.core.AppenderBase<ch.qos.logback.classic.spi.ILoggingEvent> appender;

        static WarnCapture start() {
            WarnCapture w = new WarnCapture();
            if (org.slf4j.LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext ctx) {
                w.logger = ctx.getLogger("io.fuseguard");
                w.appender = new ch.qos.logback.core.AppenderBase<>() {
                    @Override
                    protected void append(ch.qos.logback.classic.spi.ILoggingEvent e) {
                        if (e.getLevel().isGreaterOrEqual(ch.qos.logback.classic.Level.WARN)) {
                            w.lines.add(e.getFormattedMessage());
                        }
                    }
                };
                w.appender.setContext(ctx);
                w.appender.start();
                w.logger.addAppender(w.appender);
            }
            return w;
        }

        void stop() {
            io.fuseguard.internal.log.Log.flush(2000); // fuseguard logs from a background thread
            if (logger != null) {
                logger.detachAppender(appender);
                appender.stop();
            }
        }

        List<String> lines() {
            return List.copyOf(lines);
        }
    }
}
