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
 * No cluster runs here: the Kubernetes manifests and systemd units are parsed and the fields that matter are
 * checked (privileges, host pid namespace, host mounts and which are read-only, image, probes, scrape
 * annotations), and every command line in them is parsed by the real {@code fuseguard} command.
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
        assertThat(map(guard, "securityContext").get("privileged")).isEqualTo(true);
        assertThat(map(guard, "securityContext").get("readOnlyRootFilesystem")).isEqualTo(true);
        Map<String, Object> limits = map(map(guard, "resources"), "limits");
        assertThat(limits).containsKeys("cpu", "memory");
        assertThat(map(map(guard, "resources"), "requests")).containsKeys("cpu", "memory");

        List<String> args = args(guard);
        CommandLine.ParseResult parsed = parses(args);
        CommandLine.ParseResult sub = parsed.subcommand();
        assertThat(sub.commandSpec().name()).isEqualTo("guard");
        assertThat(sub.hasMatchedOption("--dry-run")).as("the node guard acts").isFalse();
        assertThat(sub.hasMatchedOption("--stuck-limit")).as("the opt-in rule stays off").isFalse();
        assertThat(sub.matchedOptionValue("--proc", null).toString()).isEqualTo("/host/proc");
        assertThat(sub.matchedOptionValue("--mountinfo", null).toString()).isEqualTo("/host/proc/1/mountinfo");
        String fusectl = sub.matchedOptionValue("--fusectl", null).toString();
        int port = sub.matchedOptionValue("--metrics-port", -1);

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
        assertThat(map(guard, "readinessProbe")).isNotEmpty();
    }

    @Test
    void uploadPodWithTheGuardSidecar() throws Exception {
        Map<String, Object> pod = kind(documents("upload-pod.yaml"), "Pod");
        Map<String, Object> spec = map(pod, "spec");
        assertThat(spec.get("shareProcessNamespace")).isEqualTo(true);

        Map<String, Object> fs = container(spec, "fs");
        assertThat(fs.get("image")).isEqualTo(jibImage());
        CommandLine.ParseResult mountCmd = parses(args(fs)).subcommand();
        assertThat(mountCmd.commandSpec().name()).isEqualTo("mount");
        assertThat(args(fs).get(1)).isEqualTo("upload");
        String mountPoint = args(fs).get(2);
        assertThat(map(fs, "securityContext").get("privileged")).isEqualTo(true);
        assertThat(mount(fs, mountPoint).get("mountPropagation")).isEqualTo("Bidirectional");
        assertThat(mount(container(spec, "app"), mountPoint).get("mountPropagation")).isEqualTo("HostToContainer");

        Map<String, Object> guard = container(spec, "guard");
        assertThat(guard.get("image")).isEqualTo(jibImage());
        CommandLine.ParseResult g = parses(args(guard)).subcommand();
        assertThat(g.commandSpec().name()).isEqualTo("guard");
        assertThat(g.matchedOption("--under").<List<String>>getValue()).containsExactly(mountPoint);
        assertThat(mount(guard, mountPoint).get("mountPropagation")).isEqualTo("HostToContainer");
        assertThat(hostPath(spec, (String) mount(guard, "/sys/fs/fuse/connections").get("name")))
                .isEqualTo("/sys/fs/fuse/connections");
        int port = g.matchedOptionValue("--metrics-port", -1);
        assertThat(map(map(pod, "metadata"), "annotations").get("prometheus.io/port")).isEqualTo(Integer.toString(port));
        assertThat(map(map(guard, "livenessProbe"), "httpGet").get("path")).isEqualTo("/healthz");
        for (String c : List.of("fs", "app", "guard")) {
            assertThat(map(map(container(spec, c), "resources"), "limits")).as(c).containsKeys("cpu", "memory");
        }
    }

    @Test
    void systemdUnits() throws Exception {
        String guard = Files.readString(DEPLOY.resolve("systemd").resolve("fuseguard-guard.service"));
        StringBuilder sb = new StringBuilder();
        boolean in = false;
        for (String l : guard.lines().toList()) {
            in |= l.startsWith("ExecStart=");
            if (in) {
                sb.append(' ').append(l.replace("\\", " "));
                if (!l.endsWith("\\")) {
                    break;
                }
            }
        }
        String exec = sb.toString();
        List<String> words = List.of(exec.trim().split("\\s+"));
        List<String> cli = words.subList(words.indexOf("guard"), words.size());
        CommandLine.ParseResult g = parses(cli).subcommand();
        assertThat(g.hasMatchedOption("--dry-run")).isFalse();
        assertThat((String) g.matchedOptionValue("--metrics-bind", null)).isEqualTo("127.0.0.1");
        assertThat(guard).contains("ReadWritePaths=/sys/fs/fuse/connections").contains("ProtectSystem=strict")
                .contains("Restart=always").contains("After=sys-fs-fuse-connections.mount");
        String mount = Files.readString(DEPLOY.resolve("systemd").resolve("fuseguard-mount@.service"));
        assertThat(mount).contains("KillSignal=SIGTERM").contains("mount $FUSEGUARD_ARGS")
                .contains("EnvironmentFile=/etc/fuseguard/%i.env");
        parses(List.of("mount", "upload", "/mnt/upload", "--cache=/var/cache/fuseguard-upload",
                "--backend=/srv/bucket"));
    }
}
