package io.fuseguard.examples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The README's "Use it" example compiles against the current API, so it cannot silently go stale. Each
 * {@code ```java} block of that section must be a whole compilation unit; it is compiled as written.
 */
class ReadmeExampleTest {
    /** The module directory is surefire's working directory; the README is at the repository root. */
    private static final Path README = Path.of("..", "README.md");
    private static final Pattern PUBLIC_TYPE =
            Pattern.compile("^public\\s+(?:(?:final|abstract|sealed)\\s+)*(?:class|interface|record|enum)\\s+(\\w+)",
                    Pattern.MULTILINE);

    @Test
    void useItBlocksCompile(@TempDir Path tmp) throws IOException {
        List<String> blocks = javaBlocks(section(Files.readString(README, StandardCharsets.UTF_8), "## Use it"));
        assertThat(blocks).as("```java blocks in the README's \"## Use it\" section").isNotEmpty();
        for (int i = 0; i < blocks.size(); i++) {
            compile(blocks.get(i), tmp.resolve("block" + i));
        }
    }

    /** The text from {@code heading} up to the next heading of the same level. */
    private static String section(String markdown, String heading) {
        int start = markdown.indexOf("\n" + heading + "\n");
        assertThat(start).as("README has a section %s", heading).isNotNegative();
        int end = markdown.indexOf("\n## ", start + heading.length() + 1);
        return markdown.substring(start, end < 0 ? markdown.length() : end);
    }

    private static List<String> javaBlocks(String text) {
        List<String> blocks = new ArrayList<>();
        Matcher m = Pattern.compile("^```java\\s*\\n(.*?)^```\\s*$", Pattern.MULTILINE | Pattern.DOTALL).matcher(text);
        while (m.find()) {
            blocks.add(m.group(1));
        }
        return blocks;
    }

    private static void compile(String source, Path dir) throws IOException {
        // javac needs the file named after its public type; a block without one can be any name.
        Matcher type = PUBLIC_TYPE.matcher(source);
        String name = type.find() ? type.group(1) : "ReadmeBlock";
        Path src = Files.createDirectories(dir.resolve("src")).resolve(name + ".java");
        Files.writeString(src, source, StandardCharsets.UTF_8);
        Path out = Files.createDirectories(dir.resolve("classes"));

        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertThat(javac).as("a JDK compiler (tests need a JDK, not a JRE)").isNotNull();
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, StandardCharsets.UTF_8)) {
            // Surefire's classpath may be a manifest-only jar; javac follows its Class-Path like the JVM does.
            List<String> options = List.of("-classpath", System.getProperty("java.class.path"),
                    "-d", out.toString(), "--release", "17", "-proc:none");
            boolean ok = javac.getTask(null, files, diagnostics, options, null, files.getJavaFileObjects(src)).call();
            StringBuilder report = new StringBuilder();
            for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
                if (d.getKind() == Diagnostic.Kind.ERROR) {
                    report.append("line ").append(d.getLineNumber()).append(": ").append(d.getMessage(null)).append('\n');
                }
            }
            if (!report.isEmpty()) {
                System.err.println("README block " + name + " does not compile:\n" + report + "---\n" + source);
            }
            assertThat(report.toString()).as("compile errors in README block %s:%n%s", name, source).isEmpty();
            assertThat(ok).as("javac result for README block %s", name).isTrue();
        }
    }
}
