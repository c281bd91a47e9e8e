package io.fuseguard.cli;

import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.Optional;

/**
 * The {@code fuseguard} command: mount an example filesystem, inspect FUSE connections, abort a wedged one,
 * guard the machine against wedged connections, run the deadlock drill.
 */
@Command(name = "fuseguard", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "FUSE filesystems that cannot wedge the machine they run on.",
        footer = {"", "Durations take a unit (250ms, 5s, 1.5m, 2h), sizes too (512k, 64M, 1.5G, or KiB, MiB, GiB).",
                "Exit codes: 0 ok (also a daemon stopped by SIGTERM), 1 runtime failure, 2 bad input."},
        subcommands = {MountCommand.class, RestartCommand.class, ConnectionsCommand.class, AbortCommand.class,
                GuardCommand.class,
                DrillCommand.class,
                CommandLine.HelpCommand.class})
public final class FuseguardCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Creates the command (picocli fills it in). */
    public FuseguardCommand() {
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "a subcommand is required");
    }

    /**
     * Runs the command line; exit codes: 0 ok, 1 failure, 2 bad input.
     *
     * @param args the arguments
     */
    /** The command line this process was started with (a supervisor starts its workers with the same one). */
    static volatile String[] arguments = new String[0];

    public static void main(String[] args) {
        arguments = args.clone();
        System.exit(commandLine().execute(args));
    }

    /**
     * The configured command line (for tests).
     *
     * @return the command line
     */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new FuseguardCommand());
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            String message = otherKindsOption(ex).orElse(UserFacing.brief(ex.getMessage()));
            c.getErr().println("fuseguard: " + message + " (try '" + c.getCommandSpec().qualifiedName()
                    + " --help')");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            String full = ex.getMessage() != null ? ex.getMessage() : ex.toString();
            String brief = UserFacing.brief(full);
            c.getErr().println("fuseguard: " + brief);
            if (!brief.equals(full)) {
                LoggerFactory.getLogger(FuseguardCommand.class).debug("the whole message: {}", full, ex);
            }
            return ex instanceof BadInputException ? 2 : 1;
        });
        return cl;
    }

    /**
     * For an option a mount kind does not know but another kind does ({@code mount memory --cache}): which kind
     * it belongs to, instead of picocli's "Unknown option".
     */
    private static Optional<String> otherKindsOption(CommandLine.ParameterException ex) {
        if (!(ex instanceof CommandLine.UnmatchedArgumentException u) || u.getUnmatched().isEmpty()) {
            return Optional.empty();
        }
        CommandLine c = ex.getCommandLine();
        CommandLine parent = c.getParent();
        if (parent == null || !parent.getCommandName().equals("mount")) {
            return Optional.empty();
        }
        String arg = u.getUnmatched().get(0);
        String name = arg.contains("=") ? arg.substring(0, arg.indexOf('=')) : arg;
        return parent.getSubcommands().values().stream()
                .filter(k -> k != c && k.getCommandSpec().findOption(name) != null)
                .findFirst()
                .map(k -> name + " is an option of 'mount " + k.getCommandName() + "', not of 'mount "
                        + c.getCommandName() + "'");
    }

    /** Bad input that deserves exit code 2 and a one-line message. */
    static final class BadInputException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        BadInputException(String message) {
            super(message);
        }
    }
}
