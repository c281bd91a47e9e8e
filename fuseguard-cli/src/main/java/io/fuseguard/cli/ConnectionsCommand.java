package io.fuseguard.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.Callable;

import io.fuseguard.kernel.ConnectionReport;
import io.fuseguard.kernel.ConnectionReport.Connection;
import io.fuseguard.kernel.ConnectionStatus;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.TaskInfo;
import io.fuseguard.kernel.Tasks;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code fuseguard connections}: lists every FUSE connection of the machine and every task
 * waiting in FUSE, and for fuseguard daemons the FUSE protocol and capabilities they negotiated (from the status
 * file each publishes, {@link ConnectionStatus}).
 *
 * <p>Only {@code /proc}, {@code /sys/fs/fuse/connections} and the status files under {@code /run} are read,
 * never a mount point, so the command answers at once even when some mounts are wedged. Exit code 0 (1 if
 * {@code /proc/self/mountinfo} cannot be read).
 */
@Command(name = "connections", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {
            "List every FUSE connection (id, mount point, type, daemon pid, pending requests, and for fuseguard"
                    + " daemons the protocol and capabilities negotiated) and every task waiting in FUSE.",
            "Reads only /proc, /sys/fs/fuse/connections and fuseguard's status files in /run: never blocks on a"
                    + " wedged mount."})
public final class ConnectionsCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--json", description = "Print machine-readable JSON instead of tables.")
    boolean json;

    /** Creates the command (picocli fills in the options). */
    public ConnectionsCommand() {
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        List<Connection> connections;
        try {
            connections = ConnectionReport.scan();
        } catch (IOException e) {
            spec.commandLine().getErr().println("fuseguard: cannot read the mount table: " + e.getMessage());
            spec.commandLine().getErr().flush();
            return 1;
        }
        List<TaskInfo> waiting = Tasks.tasksWaitingInFuse();
        boolean fusectl = FuseControl.isMounted();
        Map<Long, ConnectionStatus> statuses = new HashMap<>();
        for (Connection c : connections) {
            ConnectionStatus.of(c).ifPresent(st -> statuses.put(c.id(), st));
        }
        if (json) {
            out.println(toJson(fusectl, connections, statuses, waiting));
        } else {
            printTables(out, fusectl, connections, statuses, waiting);
        }
        out.flush();
        return 0;
    }

    private static void printTables(PrintWriter out, boolean fusectl, List<Connection> connections,
                                    Map<Long, ConnectionStatus> statuses, List<TaskInfo> waiting) {
        if (connections.isEmpty()) {
            out.println("No FUSE connections.");
        } else {
            List<String[]> rows = new ArrayList<>();
            rows.add(new String[] {"ID", "MOUNTPOINT", "TYPE", "DAEMON PID", "WAITING", "PROTOCOL"});
            for (Connection c : connections) {
                ConnectionStatus st = statuses.get(c.id());
                rows.add(new String[] {
                    Long.toString(c.id()),
                    c.mount().map(m -> printable(m.mountPoint().toString())).orElse("(not mounted here)"),
                    c.mount().map(MountEntry::fsType).orElse("-"),
                    intOrDash(c.daemonPid()),
                    c.waiting().isPresent() ? Integer.toString(c.waiting().getAsInt()) : "?",
                    st == null ? "-" : st.protocol()});
            }
            printTable(out, rows);
            if (!statuses.isEmpty()) {
                out.println();
                out.println("Negotiated by fuseguard daemons:");
                for (Connection c : connections) {
                    ConnectionStatus st = statuses.get(c.id());
                    if (st != null) {
                        out.println("  " + c.id() + ": " + printable(st.describe()));
                    }
                }
            }
        }
        if (!fusectl) {
            out.println();
            out.println("note: the FUSE control filesystem is not mounted at " + FuseControl.DEFAULT_DIR
                    + ": WAITING is unknown and connections cannot be aborted"
                    + " (as root: mount -t fusectl none " + FuseControl.DEFAULT_DIR + ")");
        } else if (connections.stream().anyMatch(c -> c.waiting().isEmpty())
                && new com.sun.security.auth.module.UnixSystem().getUid() != 0) {
            out.println();
            out.println("note: WAITING shows '?' for connections of other users' mounts: reading it, and aborting "
                    + "them, needs root (a user can do both for their own mounts)");
        }
        out.println();
        if (waiting.isEmpty()) {
            out.println("No task is waiting in FUSE.");
            return;
        }
        out.println("Tasks waiting in FUSE:");
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"PID/TID", "COMM", "STATE", "KERNEL FUNCTION"});
        for (TaskInfo t : waiting) {
            String function = t.topFunction().orElse("?");
            String fuse = t.fuseFunction().orElse(null);
            if (fuse != null && !fuse.equals(function)) {
                function = function + " (in " + fuse + ")";
            }
            rows.add(new String[] {
                t.pid() + "/" + t.tid(), printable(t.comm()), String.valueOf(t.state()), function});
        }
        printTable(out, rows);
    }

    private static void printTable(PrintWriter out, List<String[]> rows) {
        int cols = rows.get(0).length;
        int[] width = new int[cols];
        for (String[] r : rows) {
            for (int i = 0; i < cols; i++) {
                width[i] = Math.max(width[i], r[i].length());
            }
        }
        for (String[] r : rows) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < cols; i++) {
                if (i > 0) {
                    sb.append("  ");
                }
                sb.append(r[i]);
                if (i < cols - 1) {
                    sb.append(" ".repeat(width[i] - r[i].length()));
                }
            }
            out.println(sb);
        }
    }

    private static String intOrDash(OptionalInt v) {
        return v.isPresent() ? Integer.toString(v.getAsInt()) : "-";
    }

    /** Escapes control characters so that a hostile path or comm cannot garble the table. */
    static String printable(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f) {
                sb.append(String.format("\\%03o", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    static String toJson(boolean fusectl, List<Connection> connections, Map<Long, ConnectionStatus> statuses,
                         List<TaskInfo> waiting) {
        StringBuilder sb = new StringBuilder();
        sb.append("{\"fusectlMounted\":").append(fusectl).append(",\"connections\":[");
        for (int i = 0; i < connections.size(); i++) {
            Connection c = connections.get(i);
            if (i > 0) {
                sb.append(',');
            }
            sb.append("{\"id\":").append(c.id());
            sb.append(",\"mountPoint\":").append(c.mount().map(m -> quote(m.mountPoint().toString())).orElse("null"));
            sb.append(",\"fsType\":").append(c.mount().map(m -> quote(m.fsType())).orElse("null"));
            sb.append(",\"source\":").append(c.mount().map(m -> quote(m.source())).orElse("null"));
            sb.append(",\"daemonPid\":").append(intOrNull(c.daemonPid()));
            sb.append(",\"waiting\":").append(intOrNull(c.waiting()));
            sb.append(",\"protocol\":").append(protocolJson(statuses.get(c.id())));
            sb.append('}');
        }
        sb.append("],\"waitingTasks\":[");
        for (int i = 0; i < waiting.size(); i++) {
            TaskInfo t = waiting.get(i);
            if (i > 0) {
                sb.append(',');
            }
            sb.append("{\"pid\":").append(t.pid()).append(",\"tid\":").append(t.tid())
                    .append(",\"comm\":").append(quote(t.comm()))
                    .append(",\"state\":").append(quote(String.valueOf(t.state())))
                    .append(",\"wchan\":").append(quote(t.wchan()))
                    .append(",\"topFunction\":").append(t.topFunction().map(ConnectionsCommand::quote).orElse("null"))
                    .append(",\"kernelStack\":[");
            for (int j = 0; j < t.kernelStack().size(); j++) {
                if (j > 0) {
                    sb.append(',');
                }
                sb.append(quote(t.kernelStack().get(j)));
            }
            sb.append("]}");
        }
        sb.append("]}");
        return sb.toString();
    }

    /** What a fuseguard daemon negotiated, or null. */
    private static String protocolJson(ConnectionStatus st) {
        if (st == null) {
            return "null";
        }
        return "{\"version\":" + quote(st.protocol()) + ",\"kernelMinor\":" + st.kernelMinor()
                + ",\"capabilities\":" + stringArray(st.capabilities()) + ",\"offeredUnused\":"
                + stringArray(st.offeredUnused()) + ",\"passthrough\":" + quote(st.passthrough())
                + ",\"writebackCache\":" + st.writebackCache() + ",\"readdirPlus\":" + st.readdirPlus()
                + ",\"cloneFd\":" + st.cloneFd() + ",\"ioUring\":" + st.ioUring() + "}";
    }

    private static String stringArray(List<String> l) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < l.size(); i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append(quote(l.get(i)));
        }
        return sb.append(']').toString();
    }

    private static String intOrNull(OptionalInt v) {
        return v.isPresent() ? Integer.toString(v.getAsInt()) : "null";
    }

    /** A JSON string literal. */
    static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f || (c >= 0xd800 && c <= 0xdfff)) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
