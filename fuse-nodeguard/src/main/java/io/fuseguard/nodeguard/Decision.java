package io.fuseguard.nodeguard;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;

import io.fuseguard.kernel.FuseDeviceHolders.Liveness;
import io.fuseguard.kernel.MountEntry;

/**
 * What the guard concluded about one FUSE connection in one scan, with the evidence. {@link DecisionJson}
 * turns it into one JSON line.
 *
 * @param time          when the scan that made it started
 * @param connection    the connection id (its directory under {@code /sys/fs/fuse/connections})
 * @param mount         its mount in the guard's mount table, when it has one there
 * @param waiting       {@code fusectl}'s {@code waiting} count (requests queued or being processed)
 * @param verdict       the conclusion
 * @param readers       the processes that hold (or held) a {@code /dev/fuse} descriptor for it, with their
 *                      state now
 * @param blockedTasks  the tasks blocked in FUSE that may wait on it
 * @param blockedFor    for each of {@code blockedTasks} (same order), how long it has been seen blocked
 * @param action        what the guard did
 * @param reason        why, in words
 * @param released      after an abort: the blocked tasks that left FUSE (or exited)
 * @param stillBlocked  after an abort: those still blocked when the guard stopped watching
 * @param waitingAfter  after an abort: the {@code waiting} count at the end
 * @param abortElapsed  after an abort: from the write to {@code abort} until the guard stopped watching
 */
public record Decision(Instant time, long connection, Optional<MountEntry> mount, OptionalInt waiting,
                       Verdict verdict, List<Reader> readers, List<BlockedTask> blockedTasks,
                       List<Duration> blockedFor, Action action, String reason, List<BlockedTask> released,
                       List<BlockedTask> stillBlocked, OptionalInt waitingAfter, Optional<Duration> abortElapsed) {

    /** The guard's conclusion about a connection. */
    public enum Verdict {
        /** No request waits. */
        IDLE,
        /** Requests wait and a live process holds its {@code /dev/fuse}: someone can answer. */
        SERVED,
        /** Requests wait and no live reader was found; confirming across scans for the grace period. */
        NO_READER_UNCONFIRMED,
        /** Provably wedged: requests wait and, for the whole grace period, no live process could answer them. */
        WEDGED,
        /** The opt-in rule: a live reader exists but has made no progress while tasks stayed blocked. */
        STUCK,
        /** Nothing can be proved: the {@code /proc} scan was incomplete. */
        UNDECIDABLE;

        /**
         * The JSON spelling.
         *
         * @return lower case, dashes
         */
        public String json() {
            return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }
    }

    /** What the guard did about it. */
    public enum Action {
        /** Nothing to do. */
        NONE,
        /** Dry run: it would have aborted. */
        WOULD_ABORT,
        /** Aborted through {@code fusectl}. */
        ABORTED,
        /** It should have been judged, but was not (see the reason). */
        SKIPPED,
        /** The abort failed (see the reason). */
        FAILED;

        /**
         * The JSON spelling.
         *
         * @return lower case, dashes
         */
        public String json() {
            return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
        }
    }

    /**
     * A process that holds, or held, a {@code /dev/fuse} descriptor that may serve the connection.
     *
     * @param pid       the process
     * @param comm      its command name ({@code ""} when gone)
     * @param liveness  its state now
     * @param state     its main thread's state letter now ({@code ' '} when gone)
     * @param fds       its {@code /dev/fuse} descriptors that may serve the connection now (empty if none now)
     * @param source    how it was found: {@code fd} (holds a descriptor now), {@code earlier-scan} (held one
     *                  when an earlier scan looked), {@code fsname} (a fuseguard daemon's mount source names it)
     * @param attached  whether the kernel named this connection in the descriptor's {@code fdinfo}
     */
    public record Reader(int pid, String comm, Liveness liveness, char state, List<Integer> fds, String source,
                         boolean attached) {
        /**
         * Validates.
         *
         * @param pid see the record description
         * @param comm see the record description
         * @param liveness see the record description
         * @param state see the record description
         * @param fds see the record description
         * @param source see the record description
         * @param attached see the record description
         */
        public Reader {
            Objects.requireNonNull(comm, "comm");
            Objects.requireNonNull(liveness, "liveness");
            fds = List.copyOf(fds);
            Objects.requireNonNull(source, "source");
        }
    }

    /**
     * Validates and copies.
     *
     * @param time see the record description
     * @param connection see the record description
     * @param mount see the record description
     * @param waiting see the record description
     * @param verdict see the record description
     * @param readers see the record description
     * @param blockedTasks see the record description
     * @param blockedFor see the record description
     * @param action see the record description
     * @param reason see the record description
     * @param released see the record description
     * @param stillBlocked see the record description
     * @param waitingAfter see the record description
     * @param abortElapsed see the record description
     */
    public Decision {
        Objects.requireNonNull(time, "time");
        Objects.requireNonNull(mount, "mount");
        Objects.requireNonNull(waiting, "waiting");
        Objects.requireNonNull(verdict, "verdict");
        readers = List.copyOf(readers);
        blockedTasks = List.copyOf(blockedTasks);
        blockedFor = List.copyOf(blockedFor);
        Objects.requireNonNull(action, "action");
        Objects.requireNonNull(reason, "reason");
        released = List.copyOf(released);
        stillBlocked = List.copyOf(stillBlocked);
        Objects.requireNonNull(waitingAfter, "waitingAfter");
        Objects.requireNonNull(abortElapsed, "abortElapsed");
    }

    /**
     * This decision as one line of JSON.
     *
     * @return the JSON text, without a line break
     */
    public String toJson() {
        return DecisionJson.toJson(this);
    }
}
