package io.fuseguard.config;

import io.fuseguard.api.Errno;
import io.fuseguard.api.GuardListener;
import io.fuseguard.api.OperationKind;

import java.time.Duration;
import java.util.Objects;

/**
 * The configuration of a fuseguard mount: {@link GuardSettings how requests are guarded} and
 * {@link MountSettings how the filesystem is mounted}. Immutable. Start from {@link #builder()} (every setting
 * has a default that suits a production filesystem) or {@link #defaults()}.
 *
 * @param guard how requests are guarded
 * @param mount how the filesystem is mounted
 */
public record FuseguardConfig(GuardSettings guard, MountSettings mount) {

    /** Checks for nulls. */
    public FuseguardConfig {
        Objects.requireNonNull(guard, "guard");
        Objects.requireNonNull(mount, "mount");
    }

    /** The defaults. */
    public static FuseguardConfig defaults() {
        return builder().build();
    }

    /** A builder with every default. */
    public static Builder builder() {
        return new Builder(GuardSettings.builder(), MountSettings.builder());
    }

    /** A builder that starts from this configuration. */
    public Builder toBuilder() {
        return new Builder(guard.toBuilder(), mount.toBuilder());
    }

    /**
     * Builds a {@link FuseguardConfig}: every setter of {@link GuardSettings.Builder} and
     * {@link MountSettings.Builder} in one place, documented there. Not thread-safe.
     */
    public static final class Builder {
        private final GuardSettings.Builder guard;
        private final MountSettings.Builder mount;

        private Builder(GuardSettings.Builder guard, MountSettings.Builder mount) {
            this.guard = guard;
            this.mount = mount;
        }

        /** See {@link GuardSettings.Builder#deadline}. */
        public Builder deadline(OperationKind kind, Duration deadline) {
            guard.deadline(kind, deadline);
            return this;
        }

        /** See {@link GuardSettings.Builder#allDeadlines}. */
        public Builder allDeadlines(Duration deadline) {
            guard.allDeadlines(deadline);
            return this;
        }

        /** See {@link GuardSettings.Builder#timeoutErrno}. */
        public Builder timeoutErrno(Errno errno) {
            guard.timeoutErrno(errno);
            return this;
        }

        /** See {@link GuardSettings.Builder#overloadErrno}. */
        public Builder overloadErrno(Errno errno) {
            guard.overloadErrno(errno);
            return this;
        }

        /** See {@link GuardSettings.Builder#workerThreads}. */
        public Builder workerThreads(int n) {
            guard.workerThreads(n);
            return this;
        }

        /** See {@link GuardSettings.Builder#queueCapacity}. */
        public Builder queueCapacity(int n) {
            guard.queueCapacity(n);
            return this;
        }

        /** See {@link GuardSettings.Builder#maxStuckThreads}. */
        public Builder maxStuckThreads(int n) {
            guard.maxStuckThreads(n);
            return this;
        }

        /** See {@link GuardSettings.Builder#interruptStalledHandlers}. */
        public Builder interruptStalledHandlers(boolean interrupt) {
            guard.interruptStalledHandlers(interrupt);
            return this;
        }

        /** See {@link GuardSettings.Builder#exitOnFatalError}. */
        public Builder exitOnFatalError(boolean exit) {
            guard.exitOnFatalError(exit);
            return this;
        }

        /** See {@link GuardSettings.Builder#flushPolicy}. */
        public Builder flushPolicy(FlushPolicy policy) {
            guard.flushPolicy(policy);
            return this;
        }

        /** See {@link GuardSettings.Builder#selfAccessPolicy}. */
        public Builder selfAccessPolicy(SelfAccessPolicy policy) {
            guard.selfAccessPolicy(policy);
            return this;
        }

        /** See {@link GuardSettings.Builder#drainTimeout}. */
        public Builder drainTimeout(Duration timeout) {
            guard.drainTimeout(timeout);
            return this;
        }

        /** See {@link GuardSettings.Builder#kernelRequestTimeout}. */
        public Builder kernelRequestTimeout(Duration timeout) {
            guard.kernelRequestTimeout(timeout);
            return this;
        }

        /** See {@link GuardSettings.Builder#listener}. */
        public Builder listener(GuardListener listener) {
            guard.listener(listener);
            return this;
        }

        /** See {@link MountSettings.Builder#fsName}. */
        public Builder fsName(String name) {
            mount.fsName(name);
            return this;
        }

        /** See {@link MountSettings.Builder#allowOther}. */
        public Builder allowOther(boolean allowOther) {
            mount.allowOther(allowOther);
            return this;
        }

        /** See {@link MountSettings.Builder#defaultPermissions}. */
        public Builder defaultPermissions(boolean on) {
            mount.defaultPermissions(on);
            return this;
        }

        /** See {@link MountSettings.Builder#readOnly}. */
        public Builder readOnly(boolean readOnly) {
            mount.readOnly(readOnly);
            return this;
        }

        /** See {@link MountSettings.Builder#maxWrite}. */
        public Builder maxWrite(int bytes) {
            mount.maxWrite(bytes);
            return this;
        }

        /** See {@link MountSettings.Builder#cacheTimeouts}. */
        public Builder cacheTimeouts(Duration attributes, Duration names, Duration missingNames) {
            mount.cacheTimeouts(attributes, names, missingNames);
            return this;
        }

        /** See {@link MountSettings.Builder#useIno}. */
        public Builder useIno(boolean useIno) {
            mount.useIno(useIno);
            return this;
        }

        /** See {@link MountSettings.Builder#debug}. */
        public Builder debug(boolean debug) {
            mount.debug(debug);
            return this;
        }

        /** See {@link MountSettings.Builder#option}. */
        public Builder mountOption(String option) {
            mount.option(option);
            return this;
        }

        /** See {@link MountSettings.Builder#passthrough}. */
        public Builder passthrough(boolean passthrough) {
            mount.passthrough(passthrough);
            return this;
        }

        /** See {@link MountSettings.Builder#writebackCache}. */
        public Builder writebackCache(boolean writebackCache) {
            mount.writebackCache(writebackCache);
            return this;
        }

        /** See {@link MountSettings.Builder#readdirPlus}. */
        public Builder readdirPlus(boolean readdirPlus) {
            mount.readdirPlus(readdirPlus);
            return this;
        }

        /** See {@link MountSettings.Builder#cloneFd}. */
        public Builder cloneFd(boolean cloneFd) {
            mount.cloneFd(cloneFd);
            return this;
        }

        /** See {@link MountSettings.Builder#autoUnmount}. */
        public Builder autoUnmount(boolean autoUnmount) {
            mount.autoUnmount(autoUnmount);
            return this;
        }

        /** See {@link MountSettings.Builder#mountTimeout}. */
        public Builder mountTimeout(Duration timeout) {
            mount.mountTimeout(timeout);
            return this;
        }

        /** See {@link MountSettings.Builder#unmountTimeout}. */
        public Builder unmountTimeout(Duration timeout) {
            mount.unmountTimeout(timeout);
            return this;
        }

        /** See {@link MountSettings.Builder#shutdownHook}. */
        public Builder shutdownHook(boolean enabled) {
            mount.shutdownHook(enabled);
            return this;
        }

        /** See {@link MountSettings.Builder#ioUring}. */
        public Builder ioUring(boolean ioUring) {
            mount.ioUring(ioUring);
            return this;
        }

        /**
         * The configuration.
         *
         * @throws IllegalArgumentException naming the setting that is out of range
         */
        public FuseguardConfig build() {
            return new FuseguardConfig(guard.build(), mount.build());
        }
    }
}
