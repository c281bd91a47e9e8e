package io.fuseguard.edges;

import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * fuseguard mounts and serves without loading libfuse: a process that mounted with it has no libfuse library
 * mapped (/proc/self/maps), and no jnr-fuse filesystem class was loaded in it. The control, the same process with
 * a plain jnr-fuse filesystem created first, has libfuse.so.2 mapped: the check finds libfuse where it is.
 */
class NoLibfuseTest {
    private final List<Path> mountPoints = new ArrayList<>();

    @BeforeEach
    void needsRoot() {
        Edges.assumeFuseAndRoot();
    }

    @AfterEach
    void cleanUp() {
        mountPoints.forEach(Edges::forceUnmount);
    }

    private record Probe(String read, long mapped, String libraries, String classes) {
    }

    private Probe probe(String... extra) throws Exception {
        Path mp = Edges.newDir("maps-");
        mountPoints.add(mp);
        Path classes = Edges.newDir("classes-").resolve("loaded.txt");
        List<String> args = new ArrayList<>(List.of(mp.toString()));
        args.addAll(List.of(extra));
        Child.Result r = Child.run(Duration.ofSeconds(60), Edges.java(List.of("-XX:+UseSerialGC",
                "-Xlog:class+load=info:file=" + classes), LibfuseMapsProbe.class, args.toArray(String[]::new)));
        r.assertOk();
        String read = r.out().lines().filter(l -> l.startsWith("READ ")).findFirst().orElseThrow();
        String[] mapped = r.out().lines().filter(l -> l.startsWith("MAPPED ")).findFirst().orElseThrow()
                .split(" ", 3);
        return new Probe(read.substring(5), Long.parseLong(mapped[1]), mapped[2], Files.readString(classes));
    }

    @Test
    void aProcessThatMountedWithFuseguardHasNoLibfuseMapped() throws Exception {
        Probe p = probe();
        System.out.printf("fuseguard mount: %d libfuse mappings %s%n", p.mapped, p.libraries);
        assertThat(p.read).as("it mounted and served").isEqualTo("hello");
        assertThat(p.classes).as("the class-load log works").contains("io.fuseguard.mount.FuseMount ");
        assertThat(p.classes).as("no jnr-fuse filesystem was created").doesNotContain("ru.serce.jnrfuse.AbstractFuseFS");
        assertThat(p.mapped).as("libfuse mappings").isZero();
    }

    @Test
    void theControlWithAJnrFuseFilesystemHasLibfuseMapped() throws Exception {
        Probe p = probe("--jnr-control");
        System.out.printf("with a jnr-fuse filesystem: %d libfuse mappings %s%n", p.mapped, p.libraries);
        assertThat(p.read).isEqualTo("hello");
        assertThat(p.classes).contains("ru.serce.jnrfuse.AbstractFuseFS ");
        assertThat(p.mapped).isPositive();
        assertThat(p.libraries).contains("libfuse.so.2");
    }
}
