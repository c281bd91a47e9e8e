package io.fuseguard.nodeguard;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

import io.fuseguard.kernel.FdInfo;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import io.fuseguard.kernel.ProcFiles;
import io.fuseguard.kernel.TaskInfo;
import io.fuseguard.kernel.TaskStat;
import io.fuseguard.kernel.Tasks;

/**
 * Finds the tasks blocked in FUSE and ties each to the connection(s) it may wait on. Reads only
 * {@code /proc/<pid>/task/<tid>/} files that never touch a filesystem: {@code stat}, {@code wchan},
 * {@code stack}, {@code syscall}, {@code ns/*}, {@code mountinfo}, and {@code /proc/<pid>/fdinfo/<fd>}.
 *
 * <p>Cheap first: only threads in state {@code D}, or in {@code S} with a FUSE {@code wchan}, get their stack
 * read; the rest of the system costs one {@code stat} read per thread.
 */
final class TaskScanner {

    /** x86-64 system calls whose first argument is a file descriptor (a directory for the {@code *at} ones). */
    private static final Set<Integer> FD_FIRST = Set.of(0, 1, 3, 5, 8, 16, 17, 18, 19, 20, 40, 72, 73, 74, 75, 77,
            78, 81, 91, 93, 138, 187, 190, 193, 196, 199, 217, 221, 257, 258, 259, 260, 262, 263, 264, 265, 267,
            268, 269, 277, 280, 285, 295, 296, 303, 306, 316, 326, 327, 328, 332, 437, 439);
    private static final boolean X86_64 = "amd64".equals(System.getProperty("os.arch"))
            || "x86_64".equals(System.getProperty("os.arch"));
    private static final int MOUNTINFO_LIMIT = 8 * 1024 * 1024;

    private final Path proc;
    /** FUSE mounts seen in the mount namespaces of the blocked tasks of the last scan, by connection. */
    private final Map<Long, MountEntry> mountsSeen = new HashMap<>();

    TaskScanner(Path proc) {
        this.proc = proc;
    }

    /**
     * A mount of the connection seen in a blocked task's mount namespace by the last {@link #scan} (for
     * connections mounted only inside a container).
     *
     * @param connection a connection id
     * @return a mount of it, if one was seen
     */
    Optional<MountEntry> mountSeen(long connection) {
        return Optional.ofNullable(mountsSeen.get(connection));
    }

    /**
     * Scans every thread.
     *
     * @param pending connections with waiting requests (what a task can be waiting on)
     * @return the blocked tasks, by pid then tid
     */
    List<BlockedTask> scan(Set<Long> pending) {
        Map<String, Optional<MountTable>> tables = new HashMap<>();
        List<BlockedTask> result = new ArrayList<>();
        mountsSeen.clear();
        for (int pid : ProcFiles.numericEntries(proc)) {
            Path taskDir = proc.resolve(Integer.toString(pid)).resolve("task");
            for (int tid : ProcFiles.numericEntries(taskDir)) {
                blocked(pid, tid, taskDir.resolve(Integer.toString(tid)), pending, tables).ifPresent(result::add);
            }
        }
        for (Optional<MountTable> t : tables.values()) {
            t.ifPresent(table -> table.fuseMounts().forEach(m -> mountsSeen.putIfAbsent(m.connectionId(), m)));
        }
        return result;
    }

    /**
     * Re-reads one task.
     *
     * @param t a task found earlier
     * @return whether the same thread still waits in FUSE
     */
    boolean stillBlocked(BlockedTask t) {
        Path dir = proc.resolve(Integer.toString(t.pid())).resolve("task").resolve(Integer.toString(t.tid()));
        Optional<TaskStat> st = TaskStat.read(dir.resolve("stat"));
        if (st.isEmpty() || st.get().startTime() != t.startTime() || st.get().dead()) {
            return false;
        }
        String wchan = ProcFiles.read(dir.resolve("wchan"), 256).map(String::trim).orElse("");
        List<String> stack = readStack(dir);
        return new TaskInfo(t.pid(), t.tid(), st.get().comm(), st.get().state(), wchan.equals("0") ? "" : wchan,
                stack).isWaitingInFuse();
    }

    private Optional<BlockedTask> blocked(int pid, int tid, Path dir, Set<Long> pending,
                                          Map<String, Optional<MountTable>> tables) {
        Optional<TaskStat> st = TaskStat.read(dir.resolve("stat"));
        if (st.isEmpty()) {
            return Optional.empty();
        }
        char state = st.get().state();
        if (state != 'D' && state != 'S') {
            return Optional.empty();
        }
        String wchan = ProcFiles.read(dir.resolve("wchan"), 256).map(String::trim).orElse("");
        if (wchan.equals("0")) {
            wchan = "";
        }
        boolean fuseWchan = wchan.startsWith("request_wait_answer") || wchan.startsWith("fuse");
        if (state == 'S' && !fuseWchan) {
            return Optional.empty();
        }
        List<String> stack = readStack(dir);
        TaskInfo info = new TaskInfo(pid, tid, st.get().comm(), state, wchan, stack);
        if (!info.isWaitingInFuse()) {
            return Optional.empty();
        }
        String pidns = ProcFiles.readLink(dir.resolve("ns").resolve("pid")).orElse("");
        String mntns = ProcFiles.readLink(dir.resolve("ns").resolve("mnt")).orElse("task:" + pid + "/" + tid);
        Optional<MountTable> table = tables.computeIfAbsent(mntns, k ->
                ProcFiles.read(dir.resolve("mountinfo"), MOUNTINFO_LIMIT, java.nio.charset.StandardCharsets.ISO_8859_1)
                        .map(MountTable::new));

        BlockedTask.Attribution how = BlockedTask.Attribution.NONE;
        List<Long> conns = List.of();
        OptionalLong byFd = st.get().exiting() ? OptionalLong.empty() : connectionOfSyscallFd(pid, dir, table);
        if (byFd.isPresent()) {
            how = BlockedTask.Attribution.FD;
            conns = List.of(byFd.getAsLong());
        } else if (table.isPresent()) {
            List<Long> visible = table.get().fuseMounts().stream().map(MountEntry::connectionId).distinct()
                    .filter(pending::contains).sorted().toList();
            if (visible.size() == 1) {
                how = BlockedTask.Attribution.MOUNT_NAMESPACE;
                conns = visible;
            } else if (visible.size() > 1) {
                how = BlockedTask.Attribution.AMBIGUOUS;
                conns = visible;
            }
        }
        return Optional.of(new BlockedTask(pid, tid, st.get().startTime(), st.get().comm(), state,
                st.get().exiting(), wchan, stack, pidns, how, conns));
    }

    private List<String> readStack(Path dir) {
        return ProcFiles.read(dir.resolve("stack"), 16 * 1024).map(Tasks::parseStack).orElse(List.of());
    }

    /** The FUSE connection of the file named by the descriptor argument of the system call the task is in. */
    private OptionalLong connectionOfSyscallFd(int pid, Path dir, Optional<MountTable> table) {
        if (!X86_64 || table.isEmpty()) {
            return OptionalLong.empty();
        }
        Optional<String> sc = ProcFiles.read(dir.resolve("syscall"), 512);
        if (sc.isEmpty()) {
            return OptionalLong.empty();
        }
        String[] f = sc.get().trim().split("\\s+");
        if (f.length < 2) {
            return OptionalLong.empty();
        }
        int nr;
        long fd;
        try {
            nr = Integer.parseInt(f[0]);
            fd = Long.parseUnsignedLong(f[1].startsWith("0x") ? f[1].substring(2) : f[1], 16);
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
        if (!FD_FIRST.contains(nr) || fd < 0 || fd >= (1 << 20)) {
            return OptionalLong.empty();
        }
        Optional<FdInfo> info = FdInfo.read(proc, pid, (int) fd);
        if (info.isEmpty() || info.get().mountId() < 0) {
            return OptionalLong.empty();
        }
        int mnt = info.get().mountId();
        return table.get().entries().stream().filter(e -> e.mountId() == mnt && e.isFuse())
                .mapToLong(MountEntry::connectionId).findFirst();
    }
}
