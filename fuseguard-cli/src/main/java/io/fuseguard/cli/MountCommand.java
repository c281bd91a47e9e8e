package io.fuseguard.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code fuseguard mount memory|upload|passthrough}: one subcommand per example filesystem, each with its own
 * options (and its own {@code --help}) besides the ones every mount takes ({@link MountOptions}).
 */
@Command(name = "mount", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Mounts an example filesystem and serves it until Ctrl-C or SIGTERM, then unmounts cleanly.",
                "'fuseguard mount KIND --help' lists the options of each kind."},
        subcommands = {MountMemoryCommand.class, MountUploadCommand.class, MountPassthroughCommand.class})
public final class MountCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Creates the command (picocli fills it in). */
    public MountCommand() {
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(),
                "mount needs the kind of filesystem: memory, upload or passthrough");
    }
}
