package io.fuseguard.kernel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Inspection of processes and threads through {@code /proc}.
 *
 * <p>Only files that never touch a filesystem are read: {@code stat}, {@code wchan} and
 * {@code stack}. In particular {@code cmdline}/{@code environ} are never read: they take the
 * target's {@code mmap_lock}, which a task faulting on a wedged FUSE mapping holds, so reading
 * them can block forever.
 *
 * <p>Tasks come and go while {@code /proc} is scanned; a task that disappears mid-scan is simply
 * left out. Every method is safe to call without privileges; kernel stacks, however, are only
 * readable by root (with {@code CAP_SYS_ADMIN}), otherwise {@link TaskInfo#kernelStack()} is empty
 * and the {@code wchan} is used.
 */
public final class Tasks {

    /** The procfs root. */
    public static final Path PROC = Paths.get("/proc");

    private Tasks() {
    }

    /**
     * Reads one task.
     *
     * @param pid the thread group id
     * @param tid the thread id (equal to {@code pid} for the main thread)
     * @return the task, or empty if it does not exist (any more)
     */
    public static Optional<TaskInfo> task(int pid, int tid) {
        return task(PROC, pid, tid);
    }

    static Optional<TaskInfo> task(Path proc, int pid, int tid) {
        Path dir = proc.resolve(Integer.toString(pid)).resolve("task").resolve(Integer.toString(tid));
        Optional<String> statLine = readSmall(dir.resolve("stat"));
        if (statLine.isEmpty()) {
            return Optional.empty();
        }
        ProcStat stat;
        try {
            stat = ProcStat.parse(statLine.get());
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
        String wchan = readSmall(dir.resolve("wchan")).map(String::trim).orElse("");
        if (wchan.equals("0")) {
            wchan = "";
        }
        List<String> stack = readSmall(dir.resolve("stack")).map(Tasks::parseStack).orElse(List.of());
        return Optional.of(new TaskInfo(pid, tid, stat.comm(), stat.state(), wchan, stack));
    }

    /**
     * Reads every thread of a process.
     *
     * @param pid the process (thread group) id
     * @return its threads, ordered by thread id; empty if the process does not exist
     */
    public static List<TaskInfo> threads(int pid) {
        return threads(PROC, pid);
    }

    static List<TaskInfo> threads(Path proc, int pid) {
        List<TaskInfo> result = new ArrayList<>();
        for (int tid : numericEntries(proc.resolve(Integer.toString(pid)).resolve("task"))) {
            task(proc, pid, tid).ifPresent(result::add);
        }
        return Collections.unmodifiableList(result);
    }

    /**
     * Scans every task of the system for tasks blocked on a FUSE daemon (see
     * {@link TaskInfo#isWaitingInFuse()}). Tasks in other pid namespaces are seen only if this
     * process's {@code /proc} shows them.
     *
     * @return the waiting tasks, ordered by pid then tid
     */
    public static List<TaskInfo> tasksWaitingInFuse() {
        return tasksWaitingInFuse(PROC);
    }

    static List<TaskInfo> tasksWaitingInFuse(Path proc) {
        List<TaskInfo> result = new ArrayList<>();
        for (int pid : numericEntries(proc)) {
            for (int tid : numericEntries(proc.resolve(Integer.toString(pid)).resolve("task"))) {
                task(proc, pid, tid).filter(TaskInfo::isWaitingInFuse).ifPresent(result::add);
            }
        }
        return Collections.unmodifiableList(result);
    }

    /**
     * Every descendant process of {@code pid} (children, grandchildren, ...), found through the
     * parent pid in {@code /proc/<pid>/stat}. Each process is listed once, however many threads
     * it has. The process itself is not included.
     *
     * @param pid a process id
     * @return the descendants' process ids, breadth first
     */
    public static List<Integer> descendants(int pid) {
        return descendants(PROC, pid);
    }

    static List<Integer> descendants(Path proc, int pid) {
        Map<Integer, List<Integer>> children = new HashMap<>();
        for (int p : numericEntries(proc)) {
            stat(proc, p).ifPresent(s -> children.computeIfAbsent(s.ppid(), k -> new ArrayList<>()).add(p));
        }
        Set<Integer> seen = new LinkedHashSet<>();
        Deque<Integer> queue = new ArrayDeque<>(children.getOrDefault(pid, List.of()));
        while (!queue.isEmpty()) {
            int p = queue.removeFirst();
            if (p != pid && seen.add(p)) {
                queue.addAll(children.getOrDefault(p, List.of()));
            }
        }
        return List.copyOf(seen);
    }

    /**
     * The {@code stat} fields of a process.
     *
     * @param pid a process id
     * @return the parsed {@code /proc/<pid>/stat}, or empty if there is no such process
     */
    public static Optional<ProcStat> stat(int pid) {
        return stat(PROC, pid);
    }

    static Optional<ProcStat> stat(Path proc, int pid) {
        return readSmall(proc.resolve(Integer.toString(pid)).resolve("stat")).flatMap(line -> {
            try {
                return Optional.of(ProcStat.parse(line));
            } catch (IllegalArgumentException e) {
                return Optional.empty();
            }
        });
    }

    /**
     * The state letter of a process's main thread ({@code Z} for a zombie: its threads are gone
     * or, when other threads are still exiting, the leader waits for them).
     *
     * @param pid a process id
     * @return the state, or empty if there is no such process (already reaped)
     */
    public static Optional<Character> state(int pid) {
        return stat(pid).map(ProcStat::state);
    }

    /**
     * Whether the process exists and is neither a zombie nor dead. Note that a zombie leader may
     * still have a thread stuck in the kernel (see {@link #threads(int)}).
     *
     * @param pid a process id
     * @return {@code true} if the process is alive
     */
    public static boolean isAlive(int pid) {
        return state(pid).map(s -> s != 'Z' && s != 'X' && s != 'x').orElse(false);
    }

    /**
     * Parses the content of a {@code /proc/.../stack} file into function names, innermost first:
     * {@code [<0>] request_wait_answer+0x12b/0x270 [fuse]} becomes {@code request_wait_answer}.
     *
     * @param text the content of a {@code stack} file
     * @return the function names
     */
    public static List<String> parseStack(String text) {
        List<String> frames = new ArrayList<>();
        for (String line : text.split("\n")) {
            String s = line.trim();
            if (s.isEmpty()) {
                continue;
            }
            if (s.startsWith("[<")) {
                int end = s.indexOf("] ");
                if (end < 0) {
                    continue;
                }
                s = s.substring(end + 2).trim();
            }
            int cut = s.length();
            for (char c : new char[] {'+', ' ', '\t'}) {
                int i = s.indexOf(c);
                if (i >= 0 && i < cut) {
                    cut = i;
                }
            }
            s = s.substring(0, cut);
            if (!s.isEmpty()) {
                frames.add(s);
            }
        }
        return frames;
    }

    /**
     * Reads a small pseudo-file; any error (vanished task: {@code ENOENT}/{@code ESRCH}, no
     * permission: {@code EACCES}/{@code EPERM}) yields empty.
     */
    static Optional<String> readSmall(Path file) {
        try {
            return Optional.of(new String(Files.readAllBytes(file), StandardCharsets.UTF_8));
        } catch (IOException | SecurityException e) {
            return Optional.empty();
        }
    }

    /** The numerically named entries of a directory, ascending; empty on any error. */
    static List<Integer> numericEntries(Path dir) {
        List<Integer> ids = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
            for (Path p : ds) {
                String name = p.getFileName().toString();
                if (!name.isEmpty() && name.length() < 11 && name.chars().allMatch(Character::isDigit)) {
                    ids.add(Integer.parseInt(name));
                }
            }
        } catch (IOException | RuntimeException e) {
            // The directory vanished (task exited) or is unreadable: nothing to list.
            // DirectoryIteratorException (a RuntimeException) can be thrown mid-iteration.
        }
        Collections.sort(ids);
        return ids;
    }
}
