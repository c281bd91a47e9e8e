package io.fuseguard.cli;

import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.mount.Supervisor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code fuseguard restart MOUNTPOINT}: asks the supervisor of a mount started with {@code --supervise} to hand
 * over to a new worker (after an upgrade of the jar, say) without a client error. Exit 0 when it did, 1 when the
 * supervisor could not, 2 when MOUNTPOINT is no supervised mount.
 */
@Command(name = "restart", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Hand a supervised mount (mount ... --supervise) over to a new worker process: clients see "
                + "a pause, not an error.")
final class RestartCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "the supervised mount point")
    Path mountPoint;

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
            answer = Supervisor.requestRestart(MountSubcommand.controlDirectory(), entry.connectionId());
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
                ? answer.substring("FAILED ".length()) : answer));
        return 1;
    }
}
