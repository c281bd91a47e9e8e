package io.fuseguard.edges;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.SmallFs;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A process that mounts with fuseguard and reports which libfuse libraries it has mapped. With
 * {@code --jnr-control} it first creates a plain jnr-fuse filesystem (whose constructor loads libfuse, as every
 * jnr-fuse filesystem's does), so the check is seen to find libfuse where it is mapped.
 *
 * <pre>
 * LibfuseMapsProbe &lt;mount point&gt; [--jnr-control]
 * </pre>
 * Prints {@code READ <content of /hello through the mount>}, then {@code MAPPED <n> <paths>}: the number of
 * mappings of /proc/self/maps whose file name starts with {@code libfuse}, and their files.
 */
public final class LibfuseMapsProbe {
    private LibfuseMapsProbe() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 1 && args[1].equals("--jnr-control")) {
            new ru.serce.jnrfuse.FuseStubFS() { };
        }
        SmallFs fs = new SmallFs().withFile("/hello", "hello\n".getBytes(StandardCharsets.UTF_8));
        try (FuseMount m = FuseMount.mount(fs, Path.of(args[0]), FuseguardConfig.builder().fsName("maps-probe")
                .shutdownHook(false).build())) {
            System.out.println("READ " + Files.readString(m.mountPoint().resolve("hello")).trim());
            List<String> libfuse = Files.readAllLines(Path.of("/proc/self/maps")).stream()
                    .map(l -> l.split("\\s+"))
                    .filter(f -> f.length >= 6 && Path.of(f[5]).getFileName() != null
                            && Path.of(f[5]).getFileName().toString().startsWith("libfuse"))
                    .map(f -> f[5]).distinct().toList();
            long mappings = Files.readAllLines(Path.of("/proc/self/maps")).stream()
                    .filter(l -> l.matches(".*/libfuse[^/]*$")).count();
            System.out.println("MAPPED " + mappings + " " + libfuse);
        }
        System.out.flush();
    }
}
