package io.fuseguard.architecture;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The public surface is chosen, not accidental: the module descriptor exports the public packages and nothing else
 * (the engine's packages only to the jnr-fuse adapter), no public or protected signature of a public package names
 * a type of {@code io.fuseguard.internal} (the descriptor cannot say that; on the class path, where most users run,
 * it is not even read), and the filesystem API names no native (jnr) type at all.
 */
class ApiSurfaceTest {
    private static final List<String> PUBLIC_PACKAGES =
            List.of("api", "config", "mount", "junit", "kernel", "metrics");

    @Test
    void theModuleExportsThePublicPackagesAndTheEngineOnlyToTheAdapter() throws Exception {
        ModuleDescriptor d = ModuleFinder.of(classesDir()).findAll().iterator().next().descriptor();
        assertThat(d.name()).isEqualTo("io.fuseguard.core");
        assertThat(d.exports().stream().filter(e -> !e.isQualified()).map(ModuleDescriptor.Exports::source))
                .containsExactlyInAnyOrderElementsOf(PUBLIC_PACKAGES.stream().map(p -> "io.fuseguard." + p).toList());
        for (ModuleDescriptor.Exports e : d.exports()) {
            if (e.isQualified()) {
                assertThat(e.source()).as("qualified export").startsWith("io.fuseguard.internal.");
                assertThat(e.targets()).as(e.source()).containsExactly("io.fuseguard.jnr");
            }
        }
        assertThat(d.opens()).as("no package is open to reflection").isEmpty();
        // What fuse-core needs at run time: jffi and SLF4J's API; JUnit and Micrometer only for their packages.
        assertThat(d.requires().stream().filter(r -> !r.modifiers().contains(ModuleDescriptor.Requires.Modifier.STATIC)
                        && !r.modifiers().contains(ModuleDescriptor.Requires.Modifier.MANDATED))
                .map(ModuleDescriptor.Requires::name)).containsExactlyInAnyOrder("org.jnrproject.jffi", "org.slf4j");
        assertThat(d.requires().stream().map(ModuleDescriptor.Requires::name))
                .noneMatch(n -> n.contains("jnrfuse") || n.contains("jnr.fuse") || n.equals("org.jnrproject.ffi"));
    }

    @Test
    void publicPackagesExposeNoInternalType() throws Exception {
        Set<String> leaks = new TreeSet<>();
        for (String pkg : PUBLIC_PACKAGES) {
            for (Class<?> c : publicClasses("io.fuseguard." + pkg)) {
                for (String[] use : signatureTypes(c)) {
                    if (use[1].startsWith("io.fuseguard.internal.")) {
                        leaks.add(use[0] + " -> " + use[1]);
                    }
                }
            }
        }
        assertThat(leaks).as("internal types in the public API").isEmpty();
    }

    @Test
    void theFilesystemApiIsFreeOfNativeTypes() throws Exception {
        Set<String> natives = new TreeSet<>();
        for (Class<?> c : publicClasses("io.fuseguard.api")) {
            for (String[] use : signatureTypes(c)) {
                if (use[1].startsWith("jnr.") || use[1].startsWith("ru.serce.")) {
                    natives.add(use[0] + " -> " + use[1]);
                }
            }
        }
        assertThat(natives).as("native types in io.fuseguard.api").isEmpty();
    }

    @Test
    void everyPublicPackageHasClasses() throws Exception {
        for (String pkg : PUBLIC_PACKAGES) {
            assertThat(publicClasses("io.fuseguard." + pkg)).as(pkg).isNotEmpty();
        }
    }

    /** Public classes of a package, nested public ones included, loaded without initializing them. */
    private static List<Class<?>> publicClasses(String pkg) throws IOException, URISyntaxException {
        Path dir = classesDir().resolve(pkg.replace('.', '/'));
        List<Class<?>> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
                String name = f.getFileName().toString();
                if (name.equals("package-info.class")) {
                    continue;
                }
                Class<?> c;
                try {
                    c = Class.forName(pkg + "." + name.substring(0, name.length() - 6), false,
                            ApiSurfaceTest.class.getClassLoader());
                } catch (ClassNotFoundException | LinkageError e) {
                    throw new AssertionError("cannot load " + name, e);
                }
                if (isVisible(c)) {
                    out.add(c);
                }
            }
        }
        return out;
    }

    /** fuse-core's compiled main classes (target/classes, next to the tests' target/test-classes). */
    private static Path classesDir() throws URISyntaxException {
        return Path.of(ApiSurfaceTest.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .getParent().resolve("classes");
    }

    private static boolean isVisible(Class<?> c) {
        for (Class<?> k = c; k != null; k = k.getEnclosingClass()) {
            if (!Modifier.isPublic(k.getModifiers()) || k.isAnonymousClass() || k.isLocalClass()) {
                return false;
            }
        }
        return true;
    }

    /** Pairs of (where, type name) for every type the class's visible signatures mention. */
    private static List<String[]> signatureTypes(Class<?> c) {
        List<String[]> out = new ArrayList<>();
        String n = c.getName();
        add(out, n + " extends", c.getGenericSuperclass());
        for (Type t : c.getGenericInterfaces()) {
            add(out, n + " implements", t);
        }
        for (Field f : c.getDeclaredFields()) {
            if (visible(f.getModifiers())) {
                add(out, n + "." + f.getName(), f.getGenericType());
            }
        }
        for (Constructor<?> k : c.getDeclaredConstructors()) {
            if (visible(k.getModifiers())) {
                for (Type t : k.getGenericParameterTypes()) {
                    add(out, n + ".<init>", t);
                }
            }
        }
        for (Method m : c.getDeclaredMethods()) {
            if (visible(m.getModifiers()) && !m.isSynthetic()) {
                String where = n + "." + m.getName();
                add(out, where, m.getGenericReturnType());
                for (Type t : m.getGenericParameterTypes()) {
                    add(out, where, t);
                }
                for (Type t : m.getGenericExceptionTypes()) {
                    add(out, where, t);
                }
            }
        }
        return out;
    }

    private static boolean visible(int modifiers) {
        return Modifier.isPublic(modifiers) || Modifier.isProtected(modifiers);
    }

    private static void add(List<String[]> out, String where, Type t) {
        if (t == null) {
            return;
        }
        if (t instanceof Class<?> k) {
            while (k.isArray()) {
                k = k.getComponentType();
            }
            out.add(new String[] {where, k.getName()});
        } else if (t instanceof ParameterizedType p) {
            add(out, where, p.getRawType());
            for (Type a : p.getActualTypeArguments()) {
                add(out, where, a);
            }
        } else if (t instanceof WildcardType w) {
            for (Type b : w.getUpperBounds()) {
                add(out, where, b);
            }
            for (Type b : w.getLowerBounds()) {
                add(out, where, b);
            }
        } else if (t instanceof GenericArrayType g) {
            add(out, where, g.getGenericComponentType());
        } else if (t instanceof TypeVariable<?> v) {
            for (Type b : v.getBounds()) {
                if (b != Object.class) {
                    add(out, where, b);
                }
            }
        }
    }
}
