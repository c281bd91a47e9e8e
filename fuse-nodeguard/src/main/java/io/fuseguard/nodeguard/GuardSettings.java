package io.fuseguard.nodeguard;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

import io.fuseguard.kernel.FuseControl;

/**
 * What a {@link NodeGuard} looks at and what it may do. Immutable; build with {@link #builder()}.
 *
 * @param proc         the procfs root ({@code /proc}; {@code /host/proc} in a container)
 * @param fusectl      the FUSE control directory ({@code /sys/fs/fuse/connections})
 * @param mountinfo    the mount table naming the connections' mount points ({@code /proc/self/mountinfo};
 *                     {@code /host/proc/1/mountinfo} for the host's mount namespace from a container)
 * @param under        mount-point prefixes: when not empty, only connections mounted under one of them are
 *                     looked at (textual, normalized comparison; nothing is resolved or stat'ed)
 * @param pidNamespace when present ({@code pid:[4026531836]}), only connections that block tasks of that pid
 *                     namespace are looked at
 * @param dryRun       report only: never abort
 * @param grace        how long a connection must stay without a live reader, across scans, before it is
 *                     aborted
 * @param stuckLimit   the opt-in stuck rule: when present, a connection with a live reader is aborted when its
 *                     requests have waited, a task has been blocked on it, and its readers have made no read or
 *                     write system call, all for this long
 * @param releaseWait  after an abort, how long to watch the blocked tasks leave
 * @param scanBudget   the longest one {@code /proc} scan may take; a scan that runs out is incomplete and
 *                     cannot prove anything
 */
public record GuardSettings(Path proc, Path fusectl, Path mountinfo, List<Path> under,
                            Optional<String> pidNamespace, boolean dryRun, Duration grace,
                            Optional<Duration> stuckLimit, Duration releaseWait, Duration scanBudget) {

    /** Default {@link #grace()}. */
    public static final Duration DEFAULT_GRACE = Duration.ofSeconds(2);

    /**
     * Validates and copies.
     *
     * @param proc see the record description
     * @param fusectl see the record description
     * @param mountinfo see the record description
     * @param under see the record description
     * @param pidNamespace see the record description
     * @param dryRun see the record description
     * @param grace see the record description
     * @param stuckLimit see the record description
     * @param releaseWait see the record description
     * @param scanBudget see the record description
     */
    public GuardSettings {
        Objects.requireNonNull(proc, "proc");
        Objects.requireNonNull(fusectl, "fusectl");
        Objects.requireNonNull(mountinfo, "mountinfo");
        for (Path p : under) {
            // a relative prefix would be resolved against wherever the guard happens to run and then match
            // nothing: refused instead of guarding nothing in silence
            if (!p.isAbsolute()) {
                throw new IllegalArgumentException("under must be an absolute path, not " + p);
            }
        }
        under = under.stream().map(Path::normalize).toList();
        Objects.requireNonNull(pidNamespace, "pidNamespace");
        Objects.requireNonNull(grace, "grace");
        Objects.requireNonNull(stuckLimit, "stuckLimit");
        Objects.requireNonNull(releaseWait, "releaseWait");
        Objects.requireNonNull(scanBudget, "scanBudget");
        if (grace.isNegative() || releaseWait.isNegative() || scanBudget.isNegative() || scanBudget.isZero()) {
            throw new IllegalArgumentException("durations must not be negative");
        }
        if (stuckLimit.isPresent() && (stuckLimit.get().isNegative() || stuckLimit.get().isZero())) {
            throw new IllegalArgumentException("the stuck limit must be positive");
        }
    }

    /**
     * A builder with the defaults: the real {@code /proc}, {@code fusectl} and mount table, every connection,
     * aborting, 2 s grace, stuck rule off, 2 s release wait, 10 s scan budget.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The settings with the defaults.
     *
     * @return defaults
     */
    public static GuardSettings defaults() {
        return builder().build();
    }

    /** Builds {@link GuardSettings}. */
    public static final class Builder {
        private Path proc = Paths.get("/proc");
        private Path fusectl = FuseControl.DEFAULT_DIR;
        private Path mountinfo = Paths.get("/proc/self/mountinfo");
        private final List<Path> under = new ArrayList<>();
        private String pidNamespace;
        private boolean dryRun;
        private Duration grace = DEFAULT_GRACE;
        private Duration stuckLimit;
        private Duration releaseWait = Duration.ofSeconds(2);
        private Duration scanBudget = Duration.ofSeconds(10);

        private Builder() {
        }

        /**
         * Sets {@link GuardSettings#proc()}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder proc(Path v) {
            proc = v;
            return this;
        }

        /**
         * Sets {@link GuardSettings#fusectl()}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder fusectl(Path v) {
            fusectl = v;
            return this;
        }

        /**
         * Sets {@link GuardSettings#mountinfo()}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder mountinfo(Path v) {
            mountinfo = v;
            return this;
        }

        /**
         * Adds a prefix to {@link GuardSettings#under()}.
         *
         * @param v a mount-point prefix
         * @return this builder
         */
        public Builder under(Path v) {
            under.add(v);
            return this;
        }

        /**
         * Sets {@link GuardSettings#pidNamespace()}.
         *
         * @param v {@code pid:[inode]}, or {@code null} for none
         * @return this builder
         */
        public Builder pidNamespace(String v) {
            pidNamespace = v;
            return this;
        }

        /**
         * Sets {@link GuardSettings#dryRun()}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder dryRun(boolean v) {
            dryRun = v;
            return this;
        }

        /**
         * Sets {@link GuardSettings#grace()}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder grace(Duration v) {
            grace = v;
            return this;
        }

        /**
         * Sets {@link GuardSettings#stuckLimit()} (turns the opt-in rule on), {@code null} turns it off.
         *
         * @param v the value
         * @return this builder
         */
        public Builder stuckLimit(Duration v) {
            stuckLimit = v;
            return this;
        }

        /**
         * Sets {@link GuardSettings#releaseWait()}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder releaseWait(Duration v) {
            releaseWait = v;
            return this;
        }

        /**
         * Sets {@link GuardSettings#scanBudget()}.
         *
         * @param v the value
         * @return this builder
         */
        public Builder scanBudget(Duration v) {
            scanBudget = v;
            return this;
        }

        /**
         * Builds the settings.
         *
         * @return the settings
         */
        public GuardSettings build() {
            return new GuardSettings(proc, fusectl, mountinfo, under, Optional.ofNullable(pidNamespace), dryRun,
                    grace, Optional.ofNullable(stuckLimit), releaseWait, scanBudget);
        }
    }

    /**
     * Whether a mount point is within {@link #under()} (always, when no prefix is set).
     *
     * @param mountPoint a mount point from the mount table
     * @return {@code true} if in scope
     */
    public boolean inScope(Path mountPoint) {
        if (under.isEmpty()) {
            return true;
        }
        Path mp = mountPoint.toAbsolutePath().normalize();
        return under.stream().anyMatch(mp::startsWith);
    }
}
