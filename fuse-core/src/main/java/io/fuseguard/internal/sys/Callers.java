package io.fuseguard.internal.sys;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * What fuseguard may need to know about the task that sent a request, read from {@code /proc} only when the
 * kernel interrupted the request (never on the request path).
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class Callers {
    /** SIGKILL's bit in the pending-signal masks: the kernel sets it in every thread of a process being killed. */
    private static final long SIGKILL_BIT = 1L << 8;
    /** PF_EXITING in the task flags (field 9 of /proc/TID/stat): the task is in exit (its signal was taken). */
    private static final long PF_EXITING = 0x4;

    private Callers() {
    }

    /**
     * Whether task {@code tid} (as the request names it, in the mount's pid namespace) is being killed or is gone:
     * a fatal signal pending (the kernel turns a fatal signal into SIGKILL pending in each thread), exiting (a
     * killed task closing its files in exit has taken its signal already), a zombie or dead task, or no such
     * task. Such a caller never sees the answer, so EINTR frees it at once without anyone
     * observing "interrupted". A caller with an ordinary signal (a profiler's, a Go runtime's preemption, a
     * timer with SA_RESTART) is not dying: its request must finish normally, because the kernel cannot restart a
     * call the daemon answered EINTR. False when it cannot tell (tid 0: a caller outside the mount's pid
     * namespace; /proc unreadable).
     */
    public static boolean dying(int tid) {
        if (tid <= 0) {
            return false;
        }
        try {
            String stat = new String(Files.readAllBytes(Path.of("/proc/" + tid + "/stat")), StandardCharsets.US_ASCII);
            if (exiting(stat)) {
                return true;
            }
            return dying(new String(Files.readAllBytes(Path.of("/proc/" + tid + "/status")),
                    StandardCharsets.US_ASCII));
        } catch (NoSuchFileException e) {
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Whether a {@code /proc/TID/stat} line says the task is exiting (PF_EXITING) or dead. */
    static boolean exiting(String stat) {
        int close = stat.lastIndexOf(')'); // the name may hold spaces and parentheses
        if (close < 0) {
            return false;
        }
        String[] f = stat.substring(close + 1).trim().split(" ");
        // f[0] is the state (field 3), f[6] the flags (field 9)
        if (f.length < 7) {
            return false;
        }
        if (f[0].equals("Z") || f[0].equals("X")) {
            return true;
        }
        try {
            return (Long.parseUnsignedLong(f[6]) & PF_EXITING) != 0;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    /** {@link #dying(int)} for the text of a {@code /proc/TID/status} file. */
    static boolean dying(String status) {
        for (String line : status.split("\n")) {
            if (line.startsWith("State:")) {
                String v = line.substring(6).trim();
                if (v.startsWith("Z") || v.startsWith("X")) {
                    return true;
                }
            } else if (line.startsWith("SigPnd:") || line.startsWith("ShdPnd:")) {
                try {
                    long mask = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                    if ((mask & SIGKILL_BIT) != 0) {
                        return true;
                    }
                } catch (NumberFormatException e) {
                    // not a mask: ignore the line
                }
            }
        }
        return false;
    }
}
