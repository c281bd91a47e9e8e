package io.fuseguard.cli;

import io.fuseguard.drill.DrillRunner;
import io.fuseguard.drill.Outcome;
import io.fuseguard.drill.Scenario;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * {@code fuseguard drill}: reproduces the exit-time FUSE deadlock side by side, plain jnr-fuse versus
 * fuseguard, with real processes in pid namespaces; prints a table; always releases the plain side with a
 * fusectl abort. Exit code 0 only when fuseguard's side is clean in every scenario.
 */
@Command(name = "drill", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Reproduces the seed deadlock: plain jnr-fuse vs fuseguard, side by side (root).")
public final class DrillCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--scenario", paramLabel = "NAME", description = "run only these (default: all): ${COMPLETION-CANDIDATES}")
    Set<Scenario> scenarios = EnumSet.allOf(Scenario.class);

    @Option(names = "--fuseguard-only", description = "skip the plain jnr-fuse controls")
    boolean fuseguardOnly;

    @Option(names = "--writeback-cache", description = "run fuseguard's daemons with the kernel's writeback cache "
            + "(MountSettings.writebackCache): its side must stay clean with it too")
    boolean writebackCache;

    @Option(names = "--work-dir", paramLabel = "DIR", description = "where mount points and daemon logs go "
            + "(default: a new temporary directory)")
    Path workDir;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        var why = DrillRunner.unavailableReason();
        if (why.isPresent()) {
            throw new FuseguardCommand.BadInputException("the drill cannot run here: " + why.get());
        }
        Path dir = workDir != null ? Files.createDirectories(workDir) : Files.createTempDirectory("fuseguard-drill-");
        DrillRunner runner = new DrillRunner(dir);
        List<Outcome> outcomes = new ArrayList<>();
        for (Scenario s : scenarios) {
            for (String impl : fuseguardOnly || s == Scenario.SELF_ACCESS ? List.of("fuseguard")
                    : List.of("plain", "fuseguard")) {
                err.printf("drill: %s with %s ...%n", s.description(), impl);
                err.flush();
                outcomes.add(runner.run(s, impl, impl.equals("fuseguard") && writebackCache ? List.of("writeback")
                        : List.of()));
            }
        }
        out.print(io.fuseguard.drill.DrillTable.render(outcomes));
        out.flush();
        boolean ok = outcomes.stream().filter(o -> o.impl().equals("fuseguard")).allMatch(Outcome::clean);
        return ok ? 0 : 1;
    }
}
