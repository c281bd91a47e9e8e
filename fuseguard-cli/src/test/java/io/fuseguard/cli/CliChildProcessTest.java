package io.fuseguard.cli;

import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.testkit.Child;
import io.fuseguard.kernel.MountTable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The {@code fuseguard} command run as a child process, as operators run it. */
class CliChildProcessTest {
    @TempDir
    Path tmp;

    @BeforeEach
    void needsFuse() {
        FuseAvailability.assumeUsable();
    }

    private static List<String> fuseguard(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), FuseguardCommand.class.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Exit code, stdout, stderr of a finished run (killed after 60 s). */
    record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(60), fuseguard(args));
        if (r.timedOut()) {
            throw new AssertionError("fuseguard " + String.join(" ", args) + " did not finish in 60 s");
        }
        return new Run(r.exit(), r.out(), r.err());
    }

    private static int freePort() throws IOException {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static String get(String url) throws Exception {
        java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(
                java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as("GET %s", url).isEqualTo(200);
        return r.body();
    }

    /** The value of the first Prometheus sample whose line starts with {@code prefix}. */
    private static double sample(String text, String prefix) {
        return text.lines().filter(l -> l.startsWith(prefix)).findFirst()
                .map(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).orElse(-1.0);
    }

    /** The base names of the fuseguard_ metrics a scrape serves ({@code _count} and the like folded in). */
    private static java.util.Set<String> servedNames(String scrape) {
        java.util.Set<String> names = new java.util.TreeSet<>();
        scrape.lines().filter(l -> l.startsWith("fuseguard_"))
                .forEach(l -> names.add(l.split("[{ ]", 2)[0].replaceAll("_(count|sum|max|bucket)$", "")));
        return names;
    }

    /** The metric names of the table in docs/operations.md, section "Metrics". */
    private static java.util.Set<String> documentedNames() throws IOException {
        String doc = Files.readString(Path.of("..", "docs", "operations.md"));
        int start = doc.indexOf("### Metrics");
        String section = doc.substring(start, doc.indexOf("\n## ", start));
        java.util.Set<String> names = new java.util.TreeSet<>();
        for (String line : section.lines().filter(l -> l.startsWith("| `fuseguard_")).toList()) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("`(fuseguard_[a-z_]+)`")
                    .matcher(line.split("\\|")[1]);
            while (m.find()) {
                names.add(m.group(1));
            }
        }
        return names;
    }

    @Test
    void mountServesUntilSigtermThenUnmountsCleanly() throws Exception {
        Path mp = Files.createDirectory(tmp.resolve("mnt"));
        int port = freePort();
        Process p = new ProcessBuilder(fuseguard("mount", "memory", mp.toString(), "--capacity", "64M",
                "--metrics-port", Integer.toString(port)))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try {
            BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
            CompletableFuture<String> ready = CompletableFuture.supplyAsync(() -> {
                try {
                    String l;
                    while ((l = err.readLine()) != null) {
                        if (l.contains("Serving memory")) {
                            return l;
                        }
                    }
                    return null;
                } catch (IOException e) {
                    return null;
                }
            });
            assertThat(ready.get(30, TimeUnit.SECONDS)).as("the daemon says it serves").isNotNull();
            // A client process writes and reads through the mount.
            String out = Child.runOk("sh", "-c", "echo hi > " + mp.resolve("f") + " && cat " + mp.resolve("f")
                    + " && df -k " + mp + " | tail -1");
            assertThat(out).startsWith("hi\n").contains("65536");

            // Prometheus metrics of the mount, and they move.
            String metrics = get("http://127.0.0.1:" + port + "/metrics");
            String writes = "fuseguard_requests_total{fs=\"memory\",mount=\"" + mp + "\",op=\"write\"}";
            double before = sample(metrics, writes);
            assertThat(before).as("writes counted: %s", metrics).isGreaterThanOrEqualTo(1);
            assertThat(metrics).contains("fuseguard_request_duration_seconds_bucket{").contains("fuseguard_threads{")
                    .contains("fuseguard_events_total{").contains("fuseguard_request_expected_errors_total{")
                    .contains("fuseguard_request_errors_total{");
            // what is served is what docs/operations.md documents, and it stays small
            assertThat(servedNames(metrics)).isEqualTo(documentedNames());
            assertThat(metrics.lines().filter(l -> !l.startsWith("#")).count()).as("series served")
                    .isLessThan(400);
            Child.runOk("sh", "-c", "echo more >> " + mp.resolve("f"));
            assertThat(sample(get("http://127.0.0.1:" + port + "/metrics"), writes)).isGreaterThan(before);
            assertThat(get("http://127.0.0.1:" + port + "/healthz")).startsWith("ok");
            assertThat(get("http://127.0.0.1:" + port + "/readyz")).startsWith("ready");

            long t0 = System.nanoTime();
            new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
            assertThat(p.waitFor(10, TimeUnit.SECONDS)).as("SIGTERM stops the daemon").isTrue();
            assertThat(p.exitValue()).as("a daemon stopped by SIGTERM succeeded (not 143)").isZero();
            System.out.printf("fuseguard mount stopped %d ms after SIGTERM%n",
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            assertThat(MountTable.load().findByMountPoint(mp)).as("unmounted").isEmpty();
        } finally {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
            if (MountTable.load().findByMountPoint(mp).isPresent()) {
                new ProcessBuilder("umount", "-l", mp.toString()).start().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    @Test
    void mountBadInputGivesOneLineAndExitCode2() throws Exception {
        Path empty = Files.createDirectory(tmp.resolve("empty"));
        Path full = Files.createDirectory(tmp.resolve("full"));
        Files.writeString(full.resolve("x"), "x");
        Path file = Files.writeString(tmp.resolve("file"), "x");
        String[][] cases = {
                {"does not exist", "mount", "memory", tmp.resolve("missing").toString()},
                {"is not empty", "mount", "memory", full.toString()},
                {"is not a directory", "mount", "memory", file.toString()},
                {"Unmatched arguments", "mount", "floppy", empty.toString()},
                {"is not a duration", "mount", "memory", empty.toString(), "--data-deadline", "soon"},
                {"'5' needs a unit: ms, s, m or h", "mount", "memory", empty.toString(), "--data-deadline", "5"},
                {"is not a size", "mount", "memory", empty.toString(), "--capacity", "lots"},
                {"'10' needs a unit", "mount", "memory", empty.toString(), "--capacity", "10"},
                {"--capacity must be at least 4096 bytes", "mount", "memory", empty.toString(), "--capacity", "1k"},
                {"--flush-policy must be", "mount", "memory", empty.toString(), "--flush-policy", "sometimes"},
                {"Missing required options: '--cache=DIR', '--backend=DIR|s3://BUCKET[/PREFIX]'", "mount", "upload",
                        empty.toString()},
                {"Missing required option: '--source=DIR'", "mount", "passthrough", empty.toString()},
                {"--source is an option of 'mount passthrough', not of 'mount memory'", "mount", "memory",
                        empty.toString(), "--source", "/"},
                {"mount option 'bogus' is not a libfuse 2 option", "mount", "memory", empty.toString(), "-o",
                        "bogus"},
                {"sends that signal to its threads", "mount", "memory", empty.toString(), "-o", "intr_signal=10"},
                {"--workers must be at least 2, not 1", "mount", "memory", empty.toString(), "--workers", "1"},
                {"bad mount option", "mount", "memory", empty.toString(), "-o", "a b"},
        };
        for (String[] c : cases) {
            String[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
            Run r;
            try {
                r = run(args);
            } finally {
                io.fuseguard.testkit.Edges.forceUnmount(empty); // a case that mounted after all must not stay
            }
            assertThat(r.exit()).as("exit code of %s", String.join(" ", args)).isEqualTo(2);
            assertThat(r.err()).as("stderr of %s", String.join(" ", args)).contains("fuseguard: ").contains(c[0]);
            assertThat(r.err().lines().filter(l -> l.startsWith("fuseguard: ")).count()).isEqualTo(1);
            assertThat(r.err()).as("no library setting names in %s", String.join(" ", args))
                    .doesNotContainPattern("\\b(workerThreads|fsName|maxWrite|queueCapacity|maxStuckThreads)\\b");
        }
        assertThat(MountTable.load().findByMountPoint(empty)).isEmpty();
    }

    @Test
    void alreadyMountedIsRefused() throws Exception {
        Path mp = Files.createDirectory(tmp.resolve("mnt"));
        try (var m = io.fuseguard.mount.FuseMount.mount(new io.fuseguard.examples.memory.MemoryFs(), mp,
                io.fuseguard.config.FuseguardConfig.builder().shutdownHook(false).build())) {
            Run r = run("mount", "memory", mp.toString());
            assertThat(r.exit()).isEqualTo(2);
            assertThat(r.err()).contains("already a mount point");
            Run c = run("connections");
            assertThat(c.exit()).isZero();
            assertThat(c.out()).contains(mp.toString()).contains("fuseguard");
        }
    }

    @Test
    void abortOfSomethingThatIsNotAFuseMount() throws Exception {
        Run r = run("abort", tmp.toString());
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("is not a FUSE mount point");
    }

    @Test
    void drillOfOneScenarioPrintsTheTableAndExitsZero() throws Exception {
        Run r = run("drill", "--scenario", "OWN_FILE_KILL", "--work-dir", tmp.resolve("drill").toString());
        System.out.print(r.out());
        assertThat(r.exit()).isZero();
        assertThat(r.out()).contains("ENDED BY ITSELF").contains("plain").contains("never (wedged)").contains("released in ")
                .contains("fuseguard: clean in every scenario");
    }

    @Test
    void unknownSubcommandAndHelp() throws Exception {
        Run r = run("frobnicate");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("fuseguard: ");
        Run h = run("--help");
        assertThat(h.exit()).isZero();
        assertThat(h.out()).contains("mount").contains("connections").contains("abort").contains("drill");
    }

}
