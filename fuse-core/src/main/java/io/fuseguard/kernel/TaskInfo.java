package io.fuseguard.kernel;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A snapshot of one kernel task (thread), read from {@code /proc/<pid>/task/<tid>/}.
 *
 * @param pid         the thread group id (what user space calls the process id)
 * @param tid         the thread id
 * @param comm        the thread's command name
 * @param state       the state letter from {@code stat} ({@code D} = uninterruptible sleep)
 * @param wchan       the kernel function the task sleeps in ({@code wchan}), {@code ""} when it
 *                    is running or unknown
 * @param kernelStack the function names of the task's kernel stack, innermost first (from
 *                    {@code stack}, offsets stripped); empty when unreadable (needs root with
 *                    {@code CAP_SYS_ADMIN}) or when the task is running
 */
public record TaskInfo(int pid, int tid, String comm, char state, String wchan,
                       List<String> kernelStack) {

    /**
     * Copies the stack and validates that no component is {@code null}.
     *
     * @param pid see the record description
     * @param tid see the record description
     * @param comm see the record description
     * @param state see the record description
     * @param wchan see the record description
     * @param kernelStack see the record description
     */
    public TaskInfo {
        Objects.requireNonNull(comm, "comm");
        Objects.requireNonNull(wchan, "wchan");
        kernelStack = List.copyOf(kernelStack);
    }

    /**
     * Whether this task is blocked waiting on a FUSE daemon (or on something only a FUSE daemon
     * can complete): it is sleeping, and its kernel stack contains {@code request_wait_answer} or
     * any {@code fuse_*} function; when the stack is unknown, its {@code wchan} starts with
     * {@code request_wait_answer} or {@code fuse}.
     *
     * <p>Daemon threads waiting for the next request ({@code fuse_dev_read} and friends, the
     * server side of {@code /dev/fuse}) are <em>not</em> waiting in FUSE.
     *
     * @return {@code true} if the task waits on FUSE
     */
    public boolean isWaitingInFuse() {
        if (state == 'R' || state == 'Z' || state == 'X' || state == 'x') {
            return false;
        }
        if (!kernelStack.isEmpty()) {
            boolean fuseFrame = false;
            for (String f : kernelStack) {
                if (f.equals("request_wait_answer")) {
                    return true;
                }
                if (isServerSide(f)) {
                    return false;
                }
                if (f.startsWith("fuse_") || f.startsWith("__fuse_")) {
                    fuseFrame = true;
                }
            }
            return fuseFrame;
        }
        return wchan.startsWith("request_wait_answer")
                || (wchan.startsWith("fuse") && !isServerSide(wchan));
    }

    private static boolean isServerSide(String function) {
        return function.startsWith("fuse_dev_");
    }

    /**
     * Whether the task is in uninterruptible sleep ({@code D}): it cannot be killed, not even by
     * {@code SIGKILL}, until whatever it waits for completes.
     *
     * @return {@code true} in state {@code D}
     */
    public boolean isUninterruptible() {
        return state == 'D';
    }

    /**
     * The innermost kernel function the task is in: the first frame of its stack, or its
     * {@code wchan} when the stack is unknown.
     *
     * @return the function name, if known
     */
    public Optional<String> topFunction() {
        if (!kernelStack.isEmpty()) {
            return Optional.of(kernelStack.get(0));
        }
        return wchan.isEmpty() || wchan.equals("0") ? Optional.empty() : Optional.of(wchan);
    }

    /**
     * The FUSE function closest to the top of the stack ({@code fuse_flush},
     * {@code fuse_do_getattr}, ...): tells what kind of request the task waits for.
     *
     * @return the first {@code fuse_*} frame, if any
     */
    public Optional<String> fuseFunction() {
        return kernelStack.stream()
                .filter(f -> f.startsWith("fuse_") && !f.startsWith("fuse_simple_request"))
                .findFirst();
    }
}
