package io.fuseguard.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code fuseguard} command: mount an example filesystem, inspect FUSE connections, abort a wedged one,
 * guard the machine against wedged connections, run the deadlock drill.
 */
@Command(name = "fuseguard", mixinStandardHelpOptions = true, version = "fuseguard 0.1.0",
        description = "FUSE filesystems that cannot wedge the machine they run on.",
        subcommands = {MountCommand.class, ConnectionsCommand.class, AbortCommand.class, GuardCommand.class,
                DrillCommand.class,
                CommandLine.HelpCommand.class})
public final class FuseguardCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required");
    }

    /** Runs the command line; exit codes: 0 ok, 1 failure, 2 bad input. */
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    /** The configured command line (for tests). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new FuseguardCommand());
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            c.getErr().println("fuseguard: " + ex.getMessage() + " (try '"
                    + c.getCommandSpec().qualifiedName() + " --help')");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            c.getErr().println("fuseguard: " + (ex.getMessage() != null ? ex.getMessage() : ex.toString()));
            return ex instanceof BadInputException ? 2 : 1;
        });
        return cl;
    }

    /** Bad input that deserves exit code 2 and a one-line message. */
    static final class BadInputException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        BadInputException(String message) {
            super(message);
        }
    }
}
