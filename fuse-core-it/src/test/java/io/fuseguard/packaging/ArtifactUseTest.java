package io.fuseguard.packaging;

import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The artifacts work the ways users put them together, checked with the real compiler and real JVMs on the
 * built artifacts (fuse-core's and fuse-jnr's jars in a {@code verify} build), not with this test's class path:
 * <ul>
 *   <li>a program compiles against fuse-core's artifact alone (no jnr-fuse, no jnr-ffi, no jffi, no SLF4J);</li>
 *   <li>a modular program ({@code requires io.fuseguard.core}) mounts and serves with a module path of fuse-core,
 *       jffi and slf4j-api only, and cannot reach fuseguard's internal packages;</li>
 *   <li>a jnr-fuse filesystem mounted with {@code JnrFuseMount} on the class path (how users run jnr-fuse);</li>
 *   <li>the same with fuse-core and fuse-jnr on the module path and jnr-fuse on the class path: the engine's
 *       packages are exported to {@code io.fuseguard.jnr} and nobody else.</li>
 * </ul>
 */
class ArtifactUseTest {
    private static final String MODULAR_MAIN = """
            package demo;

            import io.fuseguard.api.Errno;
            import io.fuseguard.api.ErrnoException;
            import io.fuseguard.api.FileAttributes;
            import io.fuseguard.api.FileType;
            import io.fuseguard.api.FuseFileSystem;
            import io.fuseguard.config.FuseguardConfig;
            import io.fuseguard.mount.FuseMount;

            import java.nio.ByteBuffer;
            import java.nio.charset.StandardCharsets;
            import java.nio.file.Files;
            import java.nio.file.Path;

            public class Main {
                public static void main(String[] a) throws Exception {
                    byte[] hello = "hello from a module".getBytes(StandardCharsets.UTF_8);
                    FuseFileSystem fs = new FuseFileSystem() {
                        @Override
                        public FileAttributes getattr(String path) throws ErrnoException {
                            if (path.equals("/")) {
                                return FileAttributes.builder(FileType.DIRECTORY).permissions(0755).build();
                            }
                            if (path.equals("/hello")) {
                                return FileAttributes.builder(FileType.REGULAR).permissions(0644)
                                        .size(hello.length).build();
                            }
                            throw new ErrnoException(Errno.ENOENT);
                        }

                        @Override
                        public int read(String path, long fh, ByteBuffer dst, long offset) {
                            int n = (int) Math.max(0, Math.min(dst.remaining(), hello.length - offset));
                            dst.put(hello, (int) offset, n);
                            return n;
                        }
                    };
                    try (FuseMount m = FuseMount.mount(fs, Path.of(a[0]),
                            FuseguardConfig.builder().shutdownHook(false).build())) {
                        System.out.println("MODULE " + FuseMount.class.getModule().getName());
                        System.out.println("READ " + Files.readString(m.mountPoint().resolve("hello")));
                    }
                    try {
                        Class.forName("io.fuseguard.internal.sys.Syscalls").getMethod("getuid").invoke(null);
                        System.out.println("INTERNAL reachable");
                    } catch (IllegalAccessException e) {
                        System.out.println("INTERNAL encapsulated");
                    }
                }
            }
            """;

    private static final String JNR_MAIN = """
            import io.fuseguard.config.FuseguardConfig;
            import io.fuseguard.jnr.JnrFuseMount;
            import io.fuseguard.mount.FuseMount;
            import jnr.ffi.Pointer;
            import ru.serce.jnrfuse.ErrorCodes;
            import ru.serce.jnrfuse.FuseStubFS;
            import ru.serce.jnrfuse.struct.FileStat;
            import ru.serce.jnrfuse.struct.FuseFileInfo;

            import java.nio.charset.StandardCharsets;
            import java.nio.file.Files;
            import java.nio.file.Path;

            public class HelloJnr extends FuseStubFS {
                static final byte[] HELLO = "hello from jnr-fuse".getBytes(StandardCharsets.UTF_8);

                @Override
                public int getattr(String path, FileStat stat) {
                    if (path.equals("/")) {
                        stat.st_mode.set(FileStat.S_IFDIR | 0755);
                        stat.st_nlink.set(2);
                        return 0;
                    }
                    if (path.equals("/hello")) {
                        stat.st_mode.set(FileStat.S_IFREG | 0444);
                        stat.st_nlink.set(1);
                        stat.st_size.set(HELLO.length);
                        return 0;
                    }
                    return -ErrorCodes.ENOENT();
                }

                @Override
                public int read(String path, Pointer buf, long size, long offset, FuseFileInfo fi) {
                    int n = (int) Math.max(0, Math.min(size, HELLO.length - offset));
                    buf.put(0, HELLO, (int) offset, n);
                    return n;
                }

                public static void main(String[] a) throws Exception {
                    try (FuseMount m = JnrFuseMount.mount(new HelloJnr(), Path.of(a[0]),
                            FuseguardConfig.builder().shutdownHook(false).build())) {
                        System.out.println("MODULES " + FuseMount.class.getModule().getName() + " "
                                + JnrFuseMount.class.getModule().getName());
                        System.out.println("READ " + Files.readString(m.mountPoint().resolve("hello")));
                    }
                }
            }
            """;

    private final List<Path> mountPoints = new ArrayList<>();

    @AfterEach
    void cleanUp() {
        mountPoints.forEach(Edges::forceUnmount);
    }

    @Test
    void aProgramCompilesAgainstFuseCoreAlone() throws Exception {
        Path src = Edges.newDir("alone-").resolve("Hello.java");
        Files.writeString(src, """
                import io.fuseguard.api.FuseFileSystem;
                import io.fuseguard.api.FileAttributes;
                import io.fuseguard.api.FileType;
                import io.fuseguard.config.FuseguardConfig;
                import io.fuseguard.mount.FuseMount;
                import java.nio.file.Path;

                class Hello {
                    public static void main(String[] a) throws Exception {
                        FuseFileSystem fs = path -> FileAttributes.builder(FileType.DIRECTORY).build();
                        try (FuseMount m = FuseMount.mount(fs, Path.of(a[0]), FuseguardConfig.defaults())) {
                            m.awaitUnmount();
                        }
                    }
                }
                """);
        String diagnostics = javac("-proc:none", "-d", src.getParent().resolve("out").toString(),
                "-cp", artifact(FuseMount.class).toString(), src.toString());
        assertThat(diagnostics).doesNotContain("ru.serce", "jnr.ffi");
        assertThat(src.getParent().resolve("out/Hello.class")).exists();
    }

    @Test
    void aModularProgramMountsWithFuseCoreJffiAndSlf4jOnly() throws Exception {
        Edges.assumeFuseAndRoot();
        Path dir = Edges.newDir("modular-");
        Path main = dir.resolve("src/demo/demo/Main.java");
        Files.createDirectories(main.getParent());
        Files.writeString(dir.resolve("src/demo/module-info.java"), "module demo { requires io.fuseguard.core; }\n");
        Files.writeString(main, MODULAR_MAIN);
        // Compiled and run with exactly what io.fuseguard.core requires: no JUnit, no Micrometer (requires static).
        String compilePath = path(artifact(FuseMount.class), artifact(com.kenai.jffi.Invoker.class),
                artifact(org.slf4j.Logger.class));
        javac("-proc:none", "-d", dir.resolve("out").toString(), "--module-path", compilePath,
                "--module-source-path", dir.resolve("src").toString(), "-m", "demo");
        Path mp = mountPoint();
        Child.Result r = Child.run(Duration.ofSeconds(60), java("--module-path",
                path(artifact(FuseMount.class), artifact(com.kenai.jffi.Invoker.class), jffiNative(),
                        artifact(org.slf4j.Logger.class), dir.resolve("out")),
                "-m", "demo/demo.Main", mp.toString())).assertOk();
        assertThat(r.out()).contains("MODULE io.fuseguard.core", "READ hello from a module",
                "INTERNAL encapsulated");
    }

    @Test
    void aJnrFuseFilesystemMountsWithTheAdapterOnTheClassPath() throws Exception {
        Edges.assumeFuseAndRoot();
        Path out = compileJnrProgram();
        Path mp = mountPoint();
        Child.Result r = Child.run(Duration.ofSeconds(60), java("-cp",
                out + File.pathSeparator + System.getProperty("java.class.path"), "HelloJnr", mp.toString()))
                .assertOk();
        assertThat(r.out()).contains("MODULES null null", "READ hello from jnr-fuse");
    }

    @Test
    void theEngineIsExportedToTheAdapterModuleAndToNobodyElse() throws Exception {
        Edges.assumeFuseAndRoot();
        Path out = compileJnrProgram();
        Path core = artifact(FuseMount.class);
        Path adapter = adapterJar();
        List<Path> modules = List.of(core, artifact(com.kenai.jffi.Invoker.class), jffiNative(),
                artifact(org.slf4j.Logger.class));
        // jnr-fuse and what it needs stay on the class path: its jar splits jnr.ffi and can be no module.
        List<Path> rest = new ArrayList<>(List.of(out));
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(e).toAbsolutePath();
            if (!modules.contains(p) && !p.equals(artifact(JnrFuseMount.class))) {
                rest.add(p);
            }
        }
        List<Path> withAdapter = new ArrayList<>(modules);
        withAdapter.add(adapter);
        Child.Result r = Child.run(Duration.ofSeconds(60), java("--module-path", path(withAdapter.toArray(Path[]::new)),
                "--add-modules", "ALL-MODULE-PATH", "-cp", path(rest.toArray(Path[]::new)), "HelloJnr",
                mountPoint().toString())).assertOk();
        assertThat(r.out()).contains("MODULES io.fuseguard.core io.fuseguard.jnr", "READ hello from jnr-fuse");

        // The adapter on the class path (the unnamed module) with fuse-core on the module path: refused.
        rest.add(1, adapter);
        Child.Result refused = Child.run(Duration.ofSeconds(60), java("--module-path",
                path(modules.toArray(Path[]::new)), "--add-modules", "ALL-MODULE-PATH", "-cp",
                path(rest.toArray(Path[]::new)), "HelloJnr", mountPoint().toString()));
        assertThat(refused.exit()).isNotZero();
        assertThat(refused.err()).contains("IllegalAccessError", "does not export io.fuseguard.internal.");
    }

    /** HelloJnr compiled against fuse-core, fuse-jnr, jnr-fuse and jnr-ffi (its structs and pointers). */
    private static Path compileJnrProgram() throws Exception {
        Path dir = Edges.newDir("jnr-");
        Path src = dir.resolve("HelloJnr.java");
        Files.writeString(src, JNR_MAIN);
        javac("-proc:none", "-d", dir.resolve("out").toString(), "-cp", path(artifact(FuseMount.class),
                artifact(JnrFuseMount.class), artifact(ru.serce.jnrfuse.FuseFS.class),
                artifact(jnr.ffi.Pointer.class)), src.toString());
        return dir.resolve("out");
    }

    private Path mountPoint() throws IOException {
        Path mp = Edges.newDir("mp-");
        mountPoints.add(mp);
        return mp;
    }

    /** Compiles; fails with the compiler's output unless it succeeded. Returns the output (warnings). */
    private static String javac(String... args) {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = javac.run(null, OutputStream.nullOutputStream(), err, args);
        String text = err.toString(StandardCharsets.UTF_8);
        assertThat(rc).as("javac %s%n%s", Arrays.toString(args), text).isZero();
        return text;
    }

    private static List<String> java(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** The jar (or, outside a {@code verify} build, the classes directory) a class was loaded from. */
    private static Path artifact(Class<?> c) throws URISyntaxException {
        return Path.of(c.getProtectionDomain().getCodeSource().getLocation().toURI()).toAbsolutePath();
    }

    /** jffi's native library jar (no classes: found by name on the class path). */
    private static Path jffiNative() {
        return Stream.of(System.getProperty("java.class.path").split(File.pathSeparator)).map(Path::of)
                .filter(p -> p.getFileName().toString().matches("jffi-.*-native\\.jar")).findFirst()
                .orElseThrow(() -> new AssertionError("jffi's native jar is not on the class path"))
                .toAbsolutePath();
    }

    /**
     * fuse-jnr's jar, whose manifest names the module the engine is exported to. Outside a {@code verify} build
     * the adapter is a classes directory: it is packed here with the same name, after checking the jar's manifest
     * is what is being stood in for.
     */
    private static Path adapterJar() throws Exception {
        Path a = artifact(JnrFuseMount.class);
        if (Files.isRegularFile(a)) {
            try (JarFile jar = new JarFile(a.toFile())) {
                assertThat(jar.getManifest().getMainAttributes().getValue("Automatic-Module-Name"))
                        .isEqualTo("io.fuseguard.jnr");
            }
            return a;
        }
        Path jar = Edges.newDir("adapter-").resolve("fuse-jnr.jar");
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().putValue("Automatic-Module-Name", "io.fuseguard.jnr");
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), m);
             Stream<Path> files = Files.walk(a)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                out.putNextEntry(new ZipEntry(a.relativize(f).toString()));
                Files.copy(f, out);
                out.closeEntry();
            }
        }
        return jar;
    }

    private static String path(Path... entries) {
        return String.join(File.pathSeparator, Stream.of(entries).map(Path::toString).toList());
    }
}
