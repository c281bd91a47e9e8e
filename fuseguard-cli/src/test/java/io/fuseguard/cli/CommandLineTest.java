package io.fuseguard.cli;

import io.fuseguard.testkit.Child;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The command line itself (no mount): units, versions, each kind's own options, the errors people read. */
class CommandLineTest {
    @TempDir
    Path tmp;

    /** Exit code, stdout and stderr of one in-process run. */
    record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine cl = FuseguardCommand.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void durationsTakeTheirUnitAndDecimals() {
        assertThat(DurationConverter.parse("250ms")).isEqualTo(Duration.ofMillis(250));
        assertThat(DurationConverter.parse("5s")).isEqualTo(Duration.ofSeconds(5));
        assertThat(DurationConverter.parse("0.5s")).isEqualTo(Duration.ofMillis(500));
        assertThat(DurationConverter.parse("1.5m")).isEqualTo(Duration.ofSeconds(90));
        assertThat(DurationConverter.parse("2h")).isEqualTo(Duration.ofHours(2));
        assertThat(DurationConverter.parse("0.1ms")).isEqualTo(Duration.ofNanos(100_000));
        for (String bad : List.of("5", "30", "1.5", "5x", "s", "-1s", "0s", "0.0ms", "1 h", "5S", "1d")) {
            assertThatThrownBy(() -> DurationConverter.parse(bad)).as(bad)
                    .isInstanceOf(CommandLine.TypeConversionException.class);
        }
        assertThatThrownBy(() -> DurationConverter.parse("30")).hasMessageContaining("needs a unit");
        // beyond a long count of nanoseconds: refused, where it used to wrap to a negative duration
        assertThatThrownBy(() -> DurationConverter.parse("3000000h")).hasMessageContaining("too long");
        assertThat(DurationConverter.parse("2562047h")).isEqualTo(Duration.ofHours(2562047));
        assertThat(DurationConverter.format(Duration.ofSeconds(90))).isEqualTo("90s");
        assertThat(DurationConverter.format(Duration.ofMinutes(2))).isEqualTo("2m");
    }

    @Test
    void sizesTakeTheirUnitAndMIsNeverMinutes() {
        assertThat(SizeConverter.parse("512k")).isEqualTo(512L << 10);
        assertThat(SizeConverter.parse("512K")).isEqualTo(512L << 10);
        assertThat(SizeConverter.parse("64M")).isEqualTo(64L << 20);
        assertThat(SizeConverter.parse("64MiB")).isEqualTo(64L << 20);
        assertThat(SizeConverter.parse("1.5G")).isEqualTo(3L << 29);
        assertThat(SizeConverter.parse("2GiB")).isEqualTo(2L << 30);
        assertThat(SizeConverter.parse("1T")).isEqualTo(1L << 40);
        assertThat(SizeConverter.parse("4096B")).isEqualTo(4096);
        for (String bad : List.of("10", "4096", "100m", "2g", "0M", "1.5B", "lots", "-1M", "5MB", "99999999999T")) {
            assertThatThrownBy(() -> SizeConverter.parse(bad)).as(bad)
                    .isInstanceOf(CommandLine.TypeConversionException.class);
        }
        assertThatThrownBy(() -> SizeConverter.parse("100m")).hasMessageContaining("minutes");
        assertThat(SizeConverter.format(64L << 20)).isEqualTo("64M");
        assertThat(SizeConverter.format(1536L << 10)).isEqualTo("1536k");
    }

    /** Every duration and size option of every command, found in the command tree (none can be forgotten). */
    @Test
    void everyDurationAndSizeOptionRefusesABareNumberNamingTheOption() {
        List<String> checked = new ArrayList<>();
        walk(FuseguardCommand.commandLine(), new ArrayList<>(), checked);
        assertThat(checked).contains("guard --stuck-limit", "guard --interval", "mount memory --capacity",
                "mount memory --metadata-deadline", "mount upload --s3-min-rate", "mount upload --backend-latency",
                "mount passthrough --sync-deadline");
    }

    private static void walk(CommandLine c, List<String> path, List<String> checked) {
        for (OptionSpec o : c.getCommandSpec().options()) {
            boolean duration = o.type() == Duration.class;
            boolean size = o.converters().length > 0 && o.converters()[0] instanceof SizeConverter;
            if (!duration && !size) {
                continue;
            }
            List<String> args = new ArrayList<>(path);
            args.addAll(List.of(o.longestName(), "30"));
            Run r = run(args.toArray(String[]::new));
            assertThat(r.exit()).as("exit of %s", args).isEqualTo(2);
            assertThat(r.err()).as("stderr of %s", args).contains("'" + o.longestName() + "'")
                    .contains("'30' needs a unit");
            checked.add(String.join(" ", path) + " " + o.longestName());
        }
        c.getSubcommands().forEach((name, sub) -> {
            if (!name.equals("help")) {
                List<String> p = new ArrayList<>(path);
                p.add(name);
                walk(sub, p, checked);
            }
        });
    }

    @Test
    void ioUringIsRefusedWithSuperviseAndSaysWhy() throws Exception {
        Path src = java.nio.file.Files.createDirectories(tmp.resolve("src"));
        Path mp = java.nio.file.Files.createDirectories(tmp.resolve("mp"));
        Run r = run("mount", "passthrough", "--source", src.toString(), mp.toString(), "--io-uring", "--supervise");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("--io-uring cannot be combined with --supervise")
                .contains("lost until the kernel resends them");
        assertThat(run("mount", "memory", "--help").out()).contains("--io-uring");
    }

    @Test
    void versionComesFromTheBuild() {
        String expected = System.getProperty("fuseguard.expected.version");
        assertThat(expected).as("set by the POM for this test").isNotBlank();
        Run r = run("--version");
        assertThat(r.exit()).isZero();
        assertThat(r.out()).startsWith("fuseguard " + expected + "\n");
        assertThat(run("mount", "memory", "--version").out()).startsWith("fuseguard " + expected + "\n");
    }

    @Test
    void eachMountKindHelpsWithItsOwnOptions() {
        Run memory = run("mount", "memory", "--help");
        Run upload = run("mount", "upload", "--help");
        Run passthrough = run("mount", "passthrough", "--help");
        for (Run r : List.of(memory, upload, passthrough)) {
            assertThat(r.exit()).isZero();
            assertThat(r.out()).contains("--metadata-deadline=TIME").contains("--workers=N")
                    .contains("--metrics-port=PORT");
        }
        assertThat(memory.out()).contains("--capacity=SIZE").doesNotContain("--cache").doesNotContain("--source")
                .doesNotContain("--endpoint");
        assertThat(upload.out()).contains("--cache=DIR").contains("--endpoint=URL").doesNotContain("--capacity")
                .doesNotContain("--source");
        assertThat(passthrough.out()).contains("--source=DIR").doesNotContain("--capacity")
                .doesNotContain("--cache");
        Run mount = run("mount", "--help");
        assertThat(mount.out()).contains("memory").contains("upload").contains("passthrough")
                .doesNotContain("--capacity");
        Run bare = run("mount");
        assertThat(bare.exit()).isEqualTo(2);
        assertThat(bare.err()).contains("memory, upload or passthrough");
    }

    @Test
    void errorsUseOptionNamesAndStayShort() {
        assertThat(UserFacing.optionNames("workerThreads must be at least 2")).isEqualTo("--workers must be at least 2");
        assertThat(UserFacing.optionNames("deadline of METADATA must be positive"))
                .isEqualTo("--metadata-deadline must be positive");
        assertThat(UserFacing.optionNames("queueCapacity must not be negative"))
                .isEqualTo("queueCapacity must not be negative");
        String chain = "no AWS credentials found (environment, ~/.aws, instance profile): Unable to load credentials "
                + "from any of the providers in the chain AwsCredentialsProviderChain(credentialsProviders=["
                + "SystemPropertyCredentialsProvider(), EnvironmentVariableCredentialsProvider(), "
                + "WebIdentityTokenFileCredentialsProvider(), ProfileCredentialsProvider(profileName=default, "
                + "profileFile=ProfileFile(sections=[])), ContainerCredentialsProvider(), "
                + "InstanceProfileCredentialsProvider()]) : [SystemPropertyCredentialsProvider(): Unable to load "
                + "credentials from system settings. Access key must be specified either via environment variable "
                + "(AWS_ACCESS_KEY_ID) or system property (aws.accessKeyId)., EnvironmentVariableCredentialsProvider()"
                + ": Unable to load credentials from system settings. ".repeat(3);
        String brief = UserFacing.brief(chain);
        assertThat(chain.length()).isGreaterThan(800);
        assertThat(brief).startsWith("no AWS credentials found").endsWith(" ...")
                .hasSizeLessThanOrEqualTo(UserFacing.LIMIT + 4);
        assertThat(UserFacing.brief("short")).isEqualTo("short");
        assertThat(UserFacing.brief("first\nsecond")).isEqualTo("first ...");
    }

    @Test
    void memoryCapacityMustFitInTheHeapAndTheSuggestedXmxDoes() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("java.class.path");
        String missing = tmp.resolve("no-such-dir").toString();
        Child.Result small = Child.run(Duration.ofSeconds(60), java, "-Xmx64m", "-XX:+UseSerialGC", "-cp", cp,
                FuseguardCommand.class.getName(), "mount", "memory", missing, "--capacity", "256M");
        assertThat(small.exit()).isEqualTo(2);
        Matcher m = Pattern.compile("run it with (-Xmx\\d+m)").matcher(small.err());
        assertThat(m.find()).as("names the -Xmx it needs: %s", small.err()).isTrue();
        assertThat(small.err()).contains("--capacity 256M needs a JVM heap of at least");
        assertThat(small.err().lines().filter(l -> l.startsWith("fuseguard: ")).count()).isEqualTo(1);
        for (String gc : List.of("-XX:+UseSerialGC", "-XX:+UseG1GC")) {
            Child.Result enough = Child.run(Duration.ofSeconds(60), java, m.group(1), gc, "-cp", cp,
                    FuseguardCommand.class.getName(), "mount", "memory", missing, "--capacity", "256M");
            assertThat(enough.err()).as("with %s %s the heap check passes", m.group(1), gc)
                    .doesNotContain("needs a JVM heap").contains("fuseguard: ");
        }
    }

    @Test
    void theGuardRefusesToStartWithoutFusectlAndRefusesRelativeScopes() {
        // /sys/fs/fuse is sysfs's own directory: what /sys/fs/fuse/connections is when fusectl is not mounted
        Run r = run("guard", "--dry-run", "--once", "--fusectl", "/sys/fs/fuse");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("the guard cannot read the FUSE control filesystem")
                .contains("not mounted");
        Run rel = run("guard", "--dry-run", "--once", "--under", "mnt/x");
        assertThat(rel.exit()).isEqualTo(2);
        assertThat(rel.err()).contains("--under must be an absolute path, not 'mnt/x'");
    }
}
