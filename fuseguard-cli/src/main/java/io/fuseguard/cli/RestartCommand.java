package io.fuseguard.cli;

import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.mount.Supervisor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;

/**
 * {@code fuseguard restart MOUNTPOINT}: asks the supervisor of a mount started with {@code --supervise} to hand
 * over to a new worker (after an upgrade of the jar, say) without a client error. Exit 0 when it did, 1 when the
 * supervisor could not or did not answer within {@code --timeout}, 2 when MOUNTPOINT is no supervised mount.
 */
@Command(name = "restart", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Hand a supervised mount (mount ... --supervise) over to a new worker process: clients see "
                + "a pause, not an error.")
final class RestartCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "the supervised mount point")
    Path mountPoint;

    @Option(names = "--timeout", paramLabel = "TIME", converter = DurationConverter.class, defaultValue = "120s",
            description = "How long to wait for the supervisor's answer (default: ${DEFAULT-VALUE}); a supervisor "
                    + "that does not answer (stopped, hung) makes this exit 1.")
    Duration timeout;

    @Override
    public Integer call() throws IOException {
        Path mp = mountPoint.toAbsolutePath().normalize();
        try {
            // the mount table has the real path: the directories above are resolved, and the mount point itself
            // if it is a symbolic link (read as a link, never through the mount)
            for (int links = 0; mp.getParent() != null; links++) {
                mp = mp.getParent().toRealPath().resolve(mp.getFileName());
                if (links >= 40 || !Files.isSymbolicLink(mp)) {
                    break;
                }
                mp = mp.getParent().resolve(Files.readSymbolicLink(mp)).normalize();
            }
        } catch (IOException e) {
            throw new FuseguardCommand.BadInputException(mountPoint + ": " + e.getMessage());
        }
        MountEntry entry = null;
        for (MountEntry e : MountTable.read()) {
            if (e.isFuse() && e.mountPoint().equals(mp)) {
                entry = e;
            }
        }
        if (entry == null) {
            throw new FuseguardCommand.BadInputException(mp + " is not a FUSE mount point");
        }
        Path socket = Supervisor.controlSocket(MountSubcommand.controlDirectory(), entry.connectionId());
        String answer;
        try {
            answer = Supervisor.requestRestart(MountSubcommand.controlDirectory(), entry.connectionId(), timeout);
        } catch (SocketTimeoutException e) {
            System.err.println("fuseguard restart: " + mp + ": the supervisor (" + socket + ") did not answer within "
                    + DurationConverter.format(timeout) + " (is it stopped or hung?); should it resume, it may still "
                    + "carry the restart out");
            return 1;
        } catch (IOException e) {
            throw new FuseguardCommand.BadInputException(mp + " has no supervisor listening at " + socket
                    + " (was it mounted with --supervise?): " + e.getMessage());
        }
        String[] f = answer.split(" ");
        if (f[0].equals("RESTARTED") && f.length >= 3) {
            System.out.println("restarted " + mp + ": worker " + f[2] + " took over after a pause of " + f[1]
                    + " ms");
            return 0;
        }
        System.err.println("fuseguard restart: " + mp + ": " + (answer.startsWith("FAILED ")
                ? answer.substring("FAILED ".length()) : answer.isEmpty()
                ? "the supervisor closed its control socket without an answer" : answer));
        return 1;
    }
}
