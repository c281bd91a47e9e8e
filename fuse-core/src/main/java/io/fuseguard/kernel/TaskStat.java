package io.fuseguard.kernel;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * The fields of a {@code /proc/<pid>/stat} or {@code /proc/<pid>/task/<tid>/stat} line that the node guard
 * needs, beyond {@link ProcStat}'s: the kernel's task flags (is the task exiting?), CPU time and start time.
 *
 * @param id        the pid or tid
 * @param comm      the command name
 * @param state     the state letter
 * @param ppid      the parent pid
 * @param flags     the kernel flags word (field 9, {@code PF_*})
 * @param utime     user CPU time, in clock ticks
 * @param stime     system CPU time, in clock ticks
 * @param startTime start time after boot, in clock ticks (tells a reused pid apart)
 */
public record TaskStat(int id, String comm, char state, int ppid, long flags, long utime, long stime,
                       long startTime) {

    /** {@code PF_EXITING}: the task is in {@code do_exit()}; it will never run user code again. */
    public static final long PF_EXITING = 0x00000004L;

    /**
     * Validates that {@code comm} is not {@code null}.
     *
     * @param id see the record description
     * @param comm see the record description
     * @param state see the record description
     * @param ppid see the record description
     * @param flags see the record description
     * @param utime see the record description
     * @param stime see the record description
     * @param startTime see the record description
     */
    public TaskStat {
        Objects.requireNonNull(comm, "comm");
    }

    /**
     * Whether the task is in {@code do_exit()} ({@code PF_EXITING} set).
     *
     * @return {@code true} if exiting
     */
    public boolean exiting() {
        return (flags & PF_EXITING) != 0;
    }

    /**
     * Whether the task is a zombie or dead ({@code Z}, {@code X}, {@code x}).
     *
     * @return {@code true} if it has finished
     */
    public boolean dead() {
        return state == 'Z' || state == 'X' || state == 'x';
    }

    /**
     * Whether the task can still run user code: neither dead nor exiting.
     *
     * @return {@code true} if live
     */
    public boolean live() {
        return !dead() && !exiting();
    }

    /**
     * Parses a {@code stat} line.
     *
     * @param line the content of a {@code stat} file
     * @return the fields, or empty when the line is malformed
     */
    public static Optional<TaskStat> parse(String line) {
        if (line == null) {
            return Optional.empty();
        }
        int open = line.indexOf('(');
        int close = line.lastIndexOf(')');
        if (open < 1 || close < open) {
            return Optional.empty();
        }
        long id = ProcFiles.parseNonNegative(line.substring(0, open));
        var rest = ProcFiles.fields(line.substring(close + 1));
        // after comm: state(3) ppid(4) pgrp(5) session(6) tty(7) tpgid(8) flags(9) minflt(10) cminflt(11)
        // majflt(12) cmajflt(13) utime(14) stime(15) cutime(16) cstime(17) priority(18) nice(19)
        // num_threads(20) itrealvalue(21) starttime(22)
        if (id < 0 || id > Integer.MAX_VALUE || rest.size() < 20 || rest.get(0).length() != 1) {
            return Optional.empty();
        }
        long ppid = ProcFiles.parseNonNegative(rest.get(1));
        long flags = ProcFiles.parseNonNegative(rest.get(6));
        long utime = ProcFiles.parseNonNegative(rest.get(11));
        long stime = ProcFiles.parseNonNegative(rest.get(12));
        long start = ProcFiles.parseNonNegative(rest.get(19));
        if (ppid < 0 || ppid > Integer.MAX_VALUE || flags < 0 || utime < 0 || stime < 0 || start < 0) {
            return Optional.empty();
        }
        return Optional.of(new TaskStat((int) id, line.substring(open + 1, close), rest.get(0).charAt(0),
                (int) ppid, flags, utime, stime, start));
    }

    /**
     * Reads and parses a {@code stat} file.
     *
     * @param statFile {@code /proc/<pid>/stat} or {@code /proc/<pid>/task/<tid>/stat}
     * @return the fields, or empty if the task is gone or the line malformed
     */
    public static Optional<TaskStat> read(Path statFile) {
        return ProcFiles.read(statFile, 4096).flatMap(TaskStat::parse);
    }
}
