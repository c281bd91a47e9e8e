package io.fuseguard.cli;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.examples.passthrough.PassthroughFs;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** {@code fuseguard mount passthrough}: mirrors a host directory. */
@Command(name = "passthrough", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {"Mirrors a host directory (fd-relative calls beneath it; new entries owned as the host would "
                + "make them for the caller) until Ctrl-C or SIGTERM."})
final class MountPassthroughCommand extends MountSubcommand {
    @Option(names = "--source", paramLabel = "DIR", required = true, description = "the directory to mirror")
    Path source;

    @Override
    String kind() {
        return "passthrough";
    }

    @Override
    void warmUp() {
        for (String c : new String[] {"io.fuseguard.examples.passthrough.PassthroughFs", "io.fuseguard.examples.host.Host", "io.fuseguard.examples.host.HostStat"}) {
            try {
                Class.forName(c, true, getClass().getClassLoader()); // the host bindings are generated here
            } catch (ClassNotFoundException | LinkageError e) {
                // loaded when needed
            }
        }
    }

    @Override
    List<String> kindMountOptions() {
        // the daemon acts as root on the source: the kernel must check callers' permissions, also when allow_other
        // comes as a raw -o option (--allow-other adds this itself)
        return List.of("default_permissions");
    }

    @Override
    FuseFileSystem fileSystem() throws IOException {
        if (!Files.isDirectory(source)) {
            throw new FuseguardCommand.BadInputException("--source " + source + " is not a directory");
        }
        if (source.toAbsolutePath().normalize().startsWith(mountPoint())) {
            throw new FuseguardCommand.BadInputException("--source must not be inside the mount point");
        }
        return new PassthroughFs(source);
    }
}
