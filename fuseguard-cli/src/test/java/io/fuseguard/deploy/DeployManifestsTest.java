package io.fuseguard.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.fuseguard.cli.FuseguardCommand;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import picocli.CommandLine;

/**
 * No cluster runs here: the Kubernetes manifests are validated offline against the Kubernetes API's schemas
 * ({@code deploy/kubernetes/schema/}), then the fields that matter are checked (capabilities, host pid namespace,
 * host mounts and which are read-only, image, probes, the sidecar order, scrape annotations), and every command
 * line in them is parsed by the real {@code fuseguard} command. The systemd units are checked for readiness,
 * exit status, JVM flags, documentation that the install script installs, and their systemd-analyze exposure.
 */
class DeployManifestsTest {
    private static final Path DEPLOY = Path.of("..", "deploy");

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object o, String key) {
        Object v = ((Map<String, Object>) o).get(key);
        assertThat(v).as(key).isInstanceOf(Map.class);
        return (Map<String, Object>) v;
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> list(Object o, String key) {
        Object v = ((Map<String, Object>) o).get(key);
        assertThat(v).as(key).isInstanceOf(List.class);
        return (List<Map<String, Object>>) v;
    }

    private static List<Map<String, Object>> documents(String file) throws IOException {
        Yaml yaml = new Yaml(new SafeConstructor(new LoaderOptions()));
        List<Map<String, Object>> docs = new ArrayList<>();
        for (Object d : yaml.loadAll(Files.readString(DEPLOY.resolve("kubernetes").resolve(file)))) {
            if (d != null) {
                @SuppressWarnings("unchecked")
                Map<String, Object> m = (Map<String, Object>) d;
                docs.add(m);
            }
        }
        return docs;
    }

    private static Map<String, Object> kind(List<Map<String, Object>> docs, String kind) {
        return docs.stream().filter(d -> kind.equals(d.get("kind"))).findFirst()
                .orElseThrow(() -> new AssertionError("no " + kind));
    }

    private static Map<String, Object> container(Map<String, Object> podSpec, String name) {
        return list(podSpec, "containers").stream().filter(c -> name.equals(c.get("name"))).findFirst()
                .orElseThrow(() -> new AssertionError("no container " + name));
    }

    /** The image the Jib profile builds: {@code image.name} of fuseguard-cli's pom with the project version. */
    private static String jibImage() throws IOException {
        String pom = Files.readString(Path.of("pom.xml"));
        String parent = Files.readString(Path.of("..", "pom.xml"));
        Matcher name = Pattern.compile("<image.name>([^<]+)</image.name>").matcher(pom);
        Matcher version = Pattern.compile("<artifactId>fuseguard-parent</artifactId>\\s*<version>([^<]+)</version>")
                .matcher(parent);
        assertThat(name.find()).isTrue();
        assertThat(version.find()).isTrue();
        return name.group(1).replace("${project.version}", version.group(1));
    }

    @SuppressWarnings("unchecked")
    private static List<String> args(Map<String, Object> c) {
        return (List<String>) c.get("args");
    }

    /** Parses a command line with the real command; fails on unknown options or bad values. */
    private static CommandLine.ParseResult parses(List<String> args) {
        return FuseguardCommand.commandLine().parseArgs(args.toArray(String[]::new));
    }

    private static Map<String, Object> mount(Map<String, Object> container, String path) {
        return list(container, "volumeMounts").stream().filter(m -> path.equals(m.get("mountPath"))).findFirst()
                .orElseThrow(() -> new AssertionError("nothing mounted at " + path));
    }

    private static String hostPath(Map<String, Object> podSpec, String volume) {
        Map<String, Object> v = list(podSpec, "volumes").stream().filter(x -> volume.equals(x.get("name")))
                .findFirst().orElseThrow(() -> new AssertionError("no volume " + volume));
        return (String) map(v, "hostPath").get("path");
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> containersAndSidecars(Map<String, Object> podSpec) {
        List<Map<String, Object>> all = new ArrayList<>();
        for (String key : List.of("initContainers", "containers")) {
            Object v = podSpec.get(key);
            if (v != null) {
                all.addAll((List<Map<String, Object>>) v);
            }
        }
        return all;
    }

    private static Map<String, Object> initContainer(Map<String, Object> podSpec, String name) {
        return list(podSpec, "initContainers").stream().filter(c -> name.equals(c.get("name"))).findFirst()
                .orElseThrow(() -> new AssertionError("no init container " + name));
    }

    @SuppressWarnings("unchecked")
    private static String env(Map<String, Object> container, String name) {
        return list(container, "env").stream().filter(e -> name.equals(e.get("name"))).findFirst()
                .map(e -> (String) e.get("value")).orElseThrow(() -> new AssertionError("no env " + name));
    }

    /** Kubernetes quantity to bytes (Ki, Mi, Gi). */
    private static long bytes(Object quantity) {
        String q = quantity.toString();
        long unit = q.endsWith("Ki") ? 1L << 10 : q.endsWith("Mi") ? 1L << 20 : q.endsWith("Gi") ? 1L << 30 : 1;
        return Long.parseLong(unit == 1 ? q : q.substring(0, q.length() - 2)) * unit;
    }

    /** The schema file generate.py wrote for a document's apiVersion and kind. */
    private static Path schemaFor(Map<String, Object> doc) {
        String apiVersion = (String) doc.get("apiVersion");
        String kind = ((String) doc.get("kind")).toLowerCase(java.util.Locale.ROOT);
        String name = apiVersion.contains("/")
                ? kind + "-" + apiVersion.substring(0, apiVersion.indexOf('/')).split("\\.")[0] + "-"
                + apiVersion.substring(apiVersion.indexOf('/') + 1)
                : kind + "-" + apiVersion;
        return DEPLOY.resolve("kubernetes").resolve("schema").resolve(name + ".json");
    }

    private static List<String> schemaErrors(Map<String, Object> doc) throws IOException {
        Path schema = schemaFor(doc);
        assertThat(schema).as("a vendored schema for %s %s", doc.get("apiVersion"), doc.get("kind")).exists();
        com.networknt.schema.Schema s = com.networknt.schema.SchemaRegistry
                .withDefaultDialect(com.networknt.schema.SpecificationVersion.DRAFT_7)
                .getSchema(Files.readString(schema));
        String json = new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(doc);
        return s.validate(json, com.networknt.schema.InputFormat.JSON).stream().map(Object::toString).toList();
    }

    @Test
    void everyManifestMatchesTheKubernetesSchemaOffline() throws Exception {
        int checked = 0;
        try (var files = Files.list(DEPLOY.resolve("kubernetes"))) {
            for (Path f : files.filter(x -> x.toString().endsWith(".yaml")).sorted().toList()) {
                for (Map<String, Object> doc : documents(f.getFileName().toString())) {
                    assertThat(schemaErrors(doc)).as("%s: %s %s", f.getFileName(), doc.get("kind"),
                            map(doc, "metadata").get("name")).isEmpty();
                    checked++;
                }
            }
        }
        assertThat(checked).as("Namespace, PriorityClass, ServiceAccount, DaemonSet, Pod").isEqualTo(5);

        // The check is strict: a misspelt field, a field in the wrong place, a wrong type are errors.
        Map<String, Object> ds = kind(documents("guard-daemonset.yaml"), "DaemonSet");
        Map<String, Object> guard = container(map(map(map(ds, "spec"), "template"), "spec"), "guard");
        guard.put("securityContex", Map.of());
        assertThat(schemaErrors(ds)).anyMatch(e -> e.contains("securityContex"));
        guard.remove("securityContex");
        map(guard, "resources").put("requests", Map.of("memory", List.of("128Mi")));
        assertThat(schemaErrors(ds)).isNotEmpty();
        Map<String, Object> pod = kind(documents("upload-pod.yaml"), "Pod");
        map(pod, "spec").put("restartPolicy", 3);
        assertThat(schemaErrors(pod)).isNotEmpty();
    }

    @Test
    void guardDaemonSet() throws Exception {
        List<Map<String, Object>> docs = documents("guard-daemonset.yaml");
        Map<String, Object> ds = kind(docs, "DaemonSet");
        assertThat(ds.get("apiVersion")).isEqualTo("apps/v1");
        Map<String, Object> template = map(map(ds, "spec"), "template");
        Map<String, Object> spec = map(template, "spec");
        assertThat(spec.get("hostPID")).isEqualTo(true);
        assertThat(map(map(ds, "spec"), "selector").toString()).contains("fuseguard-guard");
        Map<String, Object> annotations = map(map(template, "metadata"), "annotations");
        assertThat(annotations.get("prometheus.io/scrape")).isEqualTo("true");
        assertThat(annotations.get("prometheus.io/path")).isEqualTo("/metrics");

        Map<String, Object> guard = container(spec, "guard");
        assertThat(guard.get("image")).isEqualTo(jibImage());
        Map<String, Object> sec = map(guard, "securityContext");
        assertThat(sec.get("privileged")).as("named capabilities instead").isEqualTo(false);
        assertThat(sec.get("allowPrivilegeEscalation")).isEqualTo(false);
        assertThat(sec.get("readOnlyRootFilesystem")).isEqualTo(true);
        assertThat(map(sec, "capabilities").get("drop")).isEqualTo(List.of("ALL"));
        assertThat((List<String>) map(sec, "capabilities").get("add"))
                .containsExactlyInAnyOrder("SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN", "DAC_OVERRIDE");
        // its own priority class, in the same file: system-node-critical is for kube-system only
        Map<String, Object> priority = kind(docs, "PriorityClass");
        assertThat(spec.get("priorityClassName")).isEqualTo(map(priority, "metadata").get("name"))
                .isNotEqualTo("system-node-critical");
        assertThat((Integer) priority.get("value")).isBetween(1, 1_000_000_000);
        Map<String, Object> limits = map(map(guard, "resources"), "limits");
        assertThat(limits).containsKeys("cpu", "memory");
        Map<String, Object> requests = map(map(guard, "resources"), "requests");
        assertThat(requests).containsKeys("cpu", "memory");
        // measured: 87 MiB resident at most (docs/node-guard.md); the issue saw 103 MB on another machine
        assertThat(bytes(requests.get("memory"))).isGreaterThanOrEqualTo(103_000_000L);
        assertThat(env(guard, "JAVA_TOOL_OPTIONS")).contains("-XX:+ExitOnOutOfMemoryError");

        List<String> args = args(guard);
        CommandLine.ParseResult parsed = parses(args);
        CommandLine.ParseResult sub = parsed.subcommand();
        assertThat(sub.commandSpec().name()).isEqualTo("guard");
        assertThat(sub.hasMatchedOption("--dry-run")).as("the node guard acts").isFalse();
        assertThat(sub.hasMatchedOption("--stuck-limit")).as("the opt-in rule stays off").isFalse();
        assertThat(sub.matchedOptionValue("--proc", null).toString()).isEqualTo("/host/proc");
        assertThat(sub.hasMatchedOption("--own-pid-namespace")).as("the node guard sees every process").isFalse();
        assertThat(sub.matchedOptionValue("--mountinfo", null).toString()).isEqualTo("/host/proc/1/mountinfo");
        String fusectl = sub.matchedOptionValue("--fusectl", null).toString();
        int port = sub.matchedOptionValue("--metrics-port", -1);
        assertThat((String) sub.matchedOptionValue("--metrics-bind", null)).as("probes come from the kubelet")
                .isEqualTo("0.0.0.0");

        // Host /proc read-only; fusectl writable (abort); both from the host.
        Map<String, Object> proc = mount(guard, "/host/proc");
        assertThat(proc.get("readOnly")).isEqualTo(true);
        assertThat(hostPath(spec, (String) proc.get("name"))).isEqualTo("/proc");
        Map<String, Object> ctl = mount(guard, fusectl);
        assertThat(ctl.get("readOnly")).isNotEqualTo(true);
        assertThat(hostPath(spec, (String) ctl.get("name"))).isEqualTo("/sys/fs/fuse/connections");

        // Metrics port = container port = scrape annotation = liveness probe.
        Map<String, Object> p = list(guard, "ports").get(0);
        assertThat(p.get("containerPort")).isEqualTo(port);
        assertThat(annotations.get("prometheus.io/port")).isEqualTo(Integer.toString(port));
        Map<String, Object> live = map(map(guard, "livenessProbe"), "httpGet");
        assertThat(live.get("path")).isEqualTo("/healthz");
        assertThat(live.get("port")).isIn(p.get("name"), port);
        assertThat(map(map(guard, "readinessProbe"), "httpGet").get("path")).isEqualTo("/readyz");
    }

    @Test
    @SuppressWarnings("unchecked")
    void uploadPodStartsTheAppOnlyOnceMountedAndGuardsIt() throws Exception {
        Map<String, Object> pod = kind(documents("upload-pod.yaml"), "Pod");
        Map<String, Object> spec = map(pod, "spec");
        assertThat(spec.get("shareProcessNamespace")).isEqualTo(true);

        // fs: a native sidecar (init container, restartPolicy Always) whose startup probe passes once mounted, so
        // the app (a regular container) starts only then
        Map<String, Object> fs = initContainer(spec, "fs");
        assertThat(fs.get("restartPolicy")).isEqualTo("Always");
        assertThat(fs.get("image")).isEqualTo(jibImage());
        CommandLine.ParseResult mountCmd = parses(args(fs)).subcommand();
        assertThat(mountCmd.commandSpec().name()).isEqualTo("mount");
        CommandLine.ParseResult upload = mountCmd.subcommand();
        assertThat(upload.commandSpec().name()).isEqualTo("upload");
        String mountPoint = args(fs).get(2);
        int fsPort = upload.matchedOptionValue("--metrics-port", -1);
        assertThat((String) upload.matchedOptionValue("--metrics-bind", null)).isEqualTo("0.0.0.0");
        Map<String, Object> startup = map(map(fs, "startupProbe"), "httpGet");
        assertThat(startup.get("path")).isEqualTo("/readyz");
        Map<String, Object> fsPortSpec = list(fs, "ports").get(0);
        assertThat(fsPortSpec.get("containerPort")).isEqualTo(fsPort);
        assertThat(startup.get("port")).isIn(fsPortSpec.get("name"), fsPort);
        assertThat(map(map(fs, "livenessProbe"), "httpGet").get("path")).isEqualTo("/healthz");
        assertThat(map(map(fs, "readinessProbe"), "httpGet").get("path")).isEqualTo("/readyz");
        // Bidirectional propagation is allowed to privileged containers only
        assertThat(map(fs, "securityContext").get("privileged")).isEqualTo(true);
        assertThat(mount(fs, mountPoint).get("mountPropagation")).isEqualTo("Bidirectional");
        Map<String, Object> app = container(spec, "app");
        assertThat(mount(app, mountPoint).get("mountPropagation")).isEqualTo("HostToContainer");
        assertThat(list(spec, "containers")).extracting(c -> c.get("name")).containsExactly("app");

        Map<String, Object> guard = initContainer(spec, "guard");
        assertThat(guard.get("restartPolicy")).isEqualTo("Always");
        assertThat(guard.get("image")).isEqualTo(jibImage());
        CommandLine.ParseResult g = parses(args(guard)).subcommand();
        assertThat(g.commandSpec().name()).isEqualTo("guard");
        assertThat(g.matchedOption("--under").<List<String>>getValue()).containsExactly(mountPoint);
        // no hostPID: it sees the Pod's pid namespace only, which the guard accepts only when told so
        assertThat(spec.get("hostPID")).isNotEqualTo(true);
        assertThat(g.hasMatchedOption("--own-pid-namespace")).as("a sidecar's /proc is not the host's").isTrue();
        assertThat(mount(guard, mountPoint).get("mountPropagation")).isEqualTo("HostToContainer");
        String fusectl = g.matchedOptionValue("--fusectl", null).toString();
        assertThat(hostPath(spec, (String) mount(guard, fusectl).get("name"))).isEqualTo("/sys/fs/fuse/connections");
        assertThat(map(guard, "securityContext").get("privileged")).isEqualTo(false);
        assertThat((List<String>) map(map(guard, "securityContext"), "capabilities").get("add"))
                .contains("SYS_PTRACE", "SYS_ADMIN");
        int port = g.matchedOptionValue("--metrics-port", -1);
        assertThat(map(map(pod, "metadata"), "annotations").get("prometheus.io/port")).isEqualTo(Integer.toString(port));
        assertThat(map(map(guard, "livenessProbe"), "httpGet").get("path")).isEqualTo("/healthz");
        for (Map<String, Object> c : containersAndSidecars(spec)) {
            assertThat(map(map(c, "resources"), "limits")).as((String) c.get("name")).containsKeys("cpu", "memory");
            if (jibImage().equals(c.get("image"))) {
                assertThat(env(c, "JAVA_TOOL_OPTIONS")).as((String) c.get("name"))
                        .contains("-XX:+ExitOnOutOfMemoryError");
            }
        }
    }

    /** The ExecStart= command of a unit, continuation lines joined. */
    private static List<String> execStart(String unit) {
        StringBuilder sb = new StringBuilder();
        boolean in = false;
        for (String l : unit.lines().toList()) {
            in |= l.startsWith("ExecStart=");
            if (in) {
                sb.append(' ').append(l.replace("\\", " "));
                if (!l.endsWith("\\")) {
                    break;
                }
            }
        }
        return List.of(sb.toString().replace("ExecStart=", "").trim().split("\\s+"));
    }

    @Test
    void systemdUnits() throws Exception {
        String guard = Files.readString(DEPLOY.resolve("systemd").resolve("fuseguard-guard.service"));
        List<String> words = execStart(guard);
        List<String> cli = words.subList(words.indexOf("guard"), words.size());
        CommandLine.ParseResult g = parses(cli).subcommand();
        assertThat(g.hasMatchedOption("--dry-run")).isFalse();
        assertThat((String) g.matchedOptionValue("--metrics-bind", null)).isEqualTo("127.0.0.1");
        assertThat(g.matchedOptionValue("--mountinfo", null).toString()).as("the host's, not the unit's namespace")
                .isEqualTo("/proc/1/mountinfo");
        assertThat(guard).contains("ReadWritePaths=/sys/fs/fuse/connections").contains("ProtectSystem=strict")
                .contains("Restart=always").contains("After=sys-fs-fuse-connections.mount");
        String mount = Files.readString(DEPLOY.resolve("systemd").resolve("fuseguard-mount@.service"));
        assertThat(mount).contains("KillSignal=SIGTERM").contains("mount $FUSEGUARD_ARGS")
                .contains("EnvironmentFile=/etc/fuseguard/%i.env");
        // a mount namespace of its own would keep the FUSE mount inside it
        assertThat(mount.lines().filter(l -> l.matches("(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|"
                + "ReadWritePaths|ProtectKernelTunables|ProtectKernelModules|ProtectControlGroups)=.*")).toList())
                .isEmpty();
        parses(List.of("mount", "upload", "/mnt/upload", "--cache=/var/cache/fuseguard-upload",
                "--backend=/srv/bucket"));
        for (String unit : List.of(guard, mount)) {
            // readiness from the Java process itself; SIGTERM is a success
            assertThat(unit).contains("Type=notify").contains("NotifyAccess=main").contains("SuccessExitStatus=143");
            assertThat(execStart(unit)).contains("-XX:+ExitOnOutOfMemoryError");
        }
    }

    /** Every Documentation= of the units names a file that deploy/systemd/install puts there. */
    @Test
    void theUnitsDocumentationIsInstalled(@org.junit.jupiter.api.io.TempDir Path root) throws Exception {
        Path jar = Files.writeString(root.resolve("fuseguard.jar"), "stands for the built jar");
        ProcessBuilder pb = new ProcessBuilder("bash", DEPLOY.resolve("systemd").resolve("install").toString())
                .redirectErrorStream(true);
        pb.environment().put("DESTDIR", root.resolve("dest").toString());
        pb.environment().put("FUSEGUARD_JAR", jar.toString());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as(out).isZero();
        int docs = 0;
        try (var units = Files.list(DEPLOY.resolve("systemd"))) {
            for (Path u : units.filter(x -> x.toString().endsWith(".service")).toList()) {
                assertThat(root.resolve("dest/etc/systemd/system").resolve(u.getFileName())).exists();
                for (String l : Files.readAllLines(u)) {
                    if (l.startsWith("Documentation=file://")) {
                        assertThat(root.resolve("dest" + l.substring("Documentation=file://".length())))
                                .as("%s: %s", u.getFileName(), l).isRegularFile();
                        docs++;
                    }
                }
            }
        }
        assertThat(docs).isGreaterThanOrEqualTo(2);
        assertThat(root.resolve("dest/opt/fuseguard/fuseguard.jar")).isRegularFile();
        assertThat(root.resolve("dest/opt/fuseguard/LICENSE")).isRegularFile();
    }

    /** What systemd-analyze rates the units (9.0 and 9.6 "UNSAFE" before; the mount cannot have a namespace). */
    @Test
    void systemdRatesTheUnitsExposure() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/systemd-analyze")),
                "systemd-analyze is not installed");
        for (var e : Map.of("fuseguard-guard.service", 3.0, "fuseguard-mount@.service", 5.0).entrySet()) {
            Process p = new ProcessBuilder("systemd-analyze", "security", "--offline=true",
                    DEPLOY.resolve("systemd").resolve(e.getKey()).toString()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            p.waitFor();
            Matcher m = Pattern.compile("Overall exposure level for \\S+: ([0-9.]+)").matcher(out);
            assertThat(m.find()).as(out).isTrue();
            System.out.printf("systemd-analyze security: %s %s%n", e.getKey(), m.group(1));
            assertThat(Double.parseDouble(m.group(1))).as(e.getKey()).isLessThanOrEqualTo(e.getValue());
        }
    }

    /** Every launcher of a fuseguard JVM ends it when it runs out of memory. */
    @Test
    void everyLauncherExitsOnOutOfMemory() throws Exception {
        assertThat(Files.readString(Path.of("..", "fuseguard"))).contains("java -XX:+ExitOnOutOfMemoryError");
        assertThat(Files.readString(Path.of("..", "scripts", "conformance"))).contains("-XX:+ExitOnOutOfMemoryError");
        assertThat(Files.readString(Path.of("pom.xml"))).contains("<jvmFlag>-XX:+ExitOnOutOfMemoryError</jvmFlag>");
    }
}
