package io.fuseguard.kernel;

import java.util.Objects;

/**
 * The leading fields of a {@code /proc/<pid>/stat} or {@code /proc/<pid>/task/<tid>/stat} line.
 *
 * <p>The command name ({@code comm}) may contain spaces and parentheses, so the line is split at
 * the <em>last</em> {@code ')'}: {@code 1234 (my (odd) name) S 1 ...}.
 *
 * @param id    the first field: the process id (thread id for a task's own {@code stat})
 * @param comm  the command name, without the surrounding parentheses (at most 15 bytes)
 * @param state the state letter ({@code R}, {@code S}, {@code D}, {@code Z}, {@code T},
 *              {@code t}, {@code X}, {@code I}, ...)
 * @param ppid  the parent's process id (of the thread group, 0 for the roots)
 */
public record ProcStat(int id, String comm, char state, int ppid) {

    /**
     * Validates that {@code comm} is not {@code null}.
     *
     * @param id see the record description
     * @param comm see the record description
     * @param state see the record description
     * @param ppid see the record description
     */
    public ProcStat {
        Objects.requireNonNull(comm, "comm");
    }

    /**
     * Parses a {@code stat} line.
     *
     * @param line the content of a {@code stat} file
     * @return the parsed fields
     * @throws IllegalArgumentException if the line is not a {@code stat} line
     */
    public static ProcStat parse(String line) {
        Objects.requireNonNull(line, "line");
        int open = line.indexOf('(');
        int close = line.lastIndexOf(')');
        if (open < 1 || close < open) {
            throw new IllegalArgumentException("not a /proc stat line: " + abbreviate(line));
        }
        try {
            int id = Integer.parseInt(line.substring(0, open).trim());
            String comm = line.substring(open + 1, close);
            String[] rest = line.substring(close + 1).trim().split("\\s+");
            if (rest.length < 2 || rest[0].length() != 1) {
                throw new IllegalArgumentException("not a /proc stat line: " + abbreviate(line));
            }
            return new ProcStat(id, comm, rest[0].charAt(0), Integer.parseInt(rest[1]));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a /proc stat line: " + abbreviate(line), e);
        }
    }

    private static String abbreviate(String s) {
        return s.length() <= 80 ? s : s.substring(0, 80) + "...";
    }
}
