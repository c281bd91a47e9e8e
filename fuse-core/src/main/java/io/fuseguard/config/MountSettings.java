package io.fuseguard.config;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * How the filesystem is mounted: what the kernel shows and caches, and the mount's lifecycle. Typed settings
 * for what matters, and {@link Builder#option raw libfuse options} for the rest. {@link #options()} turns them
 * into the {@code -o} option list (the mount asks for it once); a raw option wins over a typed one of the same
 * key, and a raw option that contradicts an explicit typed one ({@code rw} with {@code readOnly}) is refused.
 * Immutable.
 *
 * @param fsName          the name in the mount table ({@code fuseguard:<pid>:<fsName>}, so tools find the daemon)
 * @param allowOther      other users may access the mount (the kernel then checks permissions:
 *                        {@code default_permissions}, added for a raw {@code allow_other} option too, unless
 *                        the raw option {@code no_default_permissions} says otherwise)
 * @param readOnly        mounted read-only ({@code ro})
 * @param maxWrite        largest write and read request in bytes
 * @param attrTimeout     how long the kernel keeps attributes without asking
 * @param entryTimeout    how long the kernel keeps a name without asking
 * @param negativeTimeout how long the kernel remembers that a name does not exist
 * @param useIno          report the filesystem's inode numbers instead of fuseguard's node ids
 * @param debug           print every request on stderr
 * @param rawOptions      further {@code -o} options, as given
 * @param mountTimeout    how long {@code mount()} may take
 * @param unmountTimeout  how long {@code close()} waits for the request threads to end
 * @param shutdownHook    whether a JVM shutdown hook unmounts
 */
public record MountSettings(String fsName, boolean allowOther, boolean readOnly, int maxWrite,
                            Duration attrTimeout, Duration entryTimeout, Duration negativeTimeout, boolean useIno,
                            boolean debug, List<String> rawOptions, Duration mountTimeout, Duration unmountTimeout,
                            boolean shutdownHook) {
    /** fuseguard's raw option for "no {@code default_permissions}, not even with {@code allow_other}". */
    public static final String NO_DEFAULT_PERMISSIONS = "no_default_permissions";

    /** Validates and copies. */
    public MountSettings {
        if (fsName == null || !fsName.matches("[A-Za-z0-9._-]{1,64}")) {
            throw new IllegalArgumentException("fsName must be 1-64 characters of [A-Za-z0-9._-]: " + fsName);
        }
        if (maxWrite < 4096 || maxWrite > 1024 * 1024) {
            throw new IllegalArgumentException("maxWrite must be between 4096 and 1048576 bytes");
        }
        for (Duration d : List.of(attrTimeout, entryTimeout, negativeTimeout)) {
            if (d == null || d.isNegative()) {
                throw new IllegalArgumentException("cache timeouts must not be negative");
            }
        }
        for (Duration d : List.of(mountTimeout, unmountTimeout)) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("mountTimeout and unmountTimeout must be positive");
            }
        }
        rawOptions = List.copyOf(rawOptions);
        for (String o : rawOptions) {
            if (o == null || o.isBlank() || o.contains(" ") || o.contains(",")) {
                throw new IllegalArgumentException("bad mount option: '" + o + "' (one option per call)");
            }
            if (o.equals(NO_DEFAULT_PERMISSIONS) && rawOptions.contains("default_permissions")) {
                throw new IllegalArgumentException("raw options 'default_permissions' and '" + NO_DEFAULT_PERMISSIONS
                        + "' contradict each other; drop one of them");
            }
            if (readOnly && o.equals("rw")) {
                // Both would reach libfuse and the last would win silently: say which one the caller meant.
                throw new IllegalArgumentException("raw option 'rw' contradicts readOnly(true); drop one of them");
            }
        }
    }

    /**
     * The {@code -o} options these settings amount to: the typed settings, then the raw options as given. A raw
     * option replaces a typed one of the same key.
     */
    public List<String> options() {
        return List.copyOf(build(fsName, allowOther, readOnly, maxWrite, attrTimeout, entryTimeout,
                negativeTimeout, useIno, rawOptions));
    }

    private static List<String> build(String fsName, boolean allowOther, boolean readOnly, int maxWrite,
                                      Duration attr, Duration entry, Duration negative, boolean useIno,
                                      List<String> raw) {
        List<String> opts = new ArrayList<>();
        add(opts, raw, "fsname", "fsname=fuseguard:" + ProcessHandle.current().pid() + ":" + fsName);
        add(opts, raw, "subtype", "subtype=fuseguard");
        add(opts, raw, "max_write", "max_write=" + maxWrite);
        add(opts, raw, "attr_timeout", "attr_timeout=" + seconds(attr));
        add(opts, raw, "entry_timeout", "entry_timeout=" + seconds(entry));
        add(opts, raw, "negative_timeout", "negative_timeout=" + seconds(negative));
        if (useIno) {
            add(opts, raw, "use_ino", "use_ino");
        }
        if (readOnly) {
            add(opts, raw, "ro", "ro");
        }
        if (allowOther) {
            add(opts, raw, "allow_other", "allow_other");
        }
        if ((allowOther || raw.contains("allow_other")) && !raw.contains(NO_DEFAULT_PERMISSIONS)) {
            // allow_other without permission checks lets any user do what the daemon may (often: root's rights),
            // also when it came as a raw option; no_default_permissions is the owner's explicit choice against it.
            add(opts, raw, "default_permissions", "default_permissions");
        }
        opts.addAll(raw);
        return opts;
    }

    private static void add(List<String> opts, List<String> raw, String key, String option) {
        for (String o : raw) {
            if (o.equals(key) || o.startsWith(key + "=")) {
                return; // the user's own option wins
            }
        }
        opts.add(option);
    }

    private static String seconds(Duration d) {
        // Exact: a sub-millisecond timeout must not round to 0 (no caching at all).
        return java.math.BigDecimal.valueOf(d.toNanos(), 9).stripTrailingZeros().toPlainString();
    }

    /** The defaults. */
    public static MountSettings defaults() {
        return builder().build();
    }

    /** A builder with the defaults documented on its setters. */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder that starts from these settings. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Builds {@link MountSettings}. Not thread-safe. */
    public static final class Builder {
        private String fsName = "fs";
        private boolean allowOther;
        private boolean readOnly;
        private int maxWrite = 1024 * 1024;
        private Duration attrTimeout = Duration.ofSeconds(1);
        private Duration entryTimeout = Duration.ofSeconds(1);
        private Duration negativeTimeout = Duration.ZERO;
        private boolean useIno;
        private boolean debug;
        private final List<String> rawOptions = new ArrayList<>();
        private Duration mountTimeout = Duration.ofSeconds(10);
        private Duration unmountTimeout = Duration.ofSeconds(5);
        private boolean shutdownHook = true;

        private Builder() {
        }

        private Builder(MountSettings s) {
            fsName = s.fsName;
            allowOther = s.allowOther;
            readOnly = s.readOnly;
            maxWrite = s.maxWrite;
            attrTimeout = s.attrTimeout;
            entryTimeout = s.entryTimeout;
            negativeTimeout = s.negativeTimeout;
            useIno = s.useIno;
            debug = s.debug;
            rawOptions.addAll(s.rawOptions);
            mountTimeout = s.mountTimeout;
            unmountTimeout = s.unmountTimeout;
            shutdownHook = s.shutdownHook;
        }

        /** Name of the filesystem in the mount table. Default {@code fs}. */
        public Builder fsName(String name) {
            this.fsName = name;
            return this;
        }

        /**
         * Let other users access the mount. Adds {@code default_permissions} too (also for a raw {@code allow_other}),
         * unless {@link #defaultPermissions(boolean) defaultPermissions(false)} says otherwise. Default false.
         */
        public Builder allowOther(boolean allowOther) {
            this.allowOther = allowOther;
            return this;
        }

        /**
         * Whether the kernel checks each access against the owner and mode the filesystem reports
         * ({@code default_permissions}) before the filesystem sees it. Without a call: on exactly when other users
         * may access the mount ({@code allow_other}). {@code false} (the raw option {@code no_default_permissions})
         * leaves every decision to the filesystem's own checks ({@code access()}, its {@code chmod} ...), as plain
         * libfuse does with {@code allow_other} alone: what a migrated filesystem that checks permissions itself
         * needs to behave exactly as before. With {@code allow_other}, a filesystem without checks of its own then
         * lets every user do what the daemon may; the mount logs that once.
         */
        public Builder defaultPermissions(boolean on) {
            rawOptions.removeIf(o -> o.equals("default_permissions") || o.equals(NO_DEFAULT_PERMISSIONS));
            rawOptions.add(on ? "default_permissions" : NO_DEFAULT_PERMISSIONS);
            return this;
        }

        /** Mount read-only: the kernel refuses every change with EROFS. Default false. */
        public Builder readOnly(boolean readOnly) {
            this.readOnly = readOnly;
            return this;
        }

        /**
         * Largest write and read request in bytes, 4 KiB to 1 MiB. Default 1 MiB (kernels before 4.20 cap it at
         * 128 KiB). Each request thread keeps buffers of this size (pages are used only as requests fill them).
         */
        public Builder maxWrite(int bytes) {
            this.maxWrite = bytes;
            return this;
        }

        /**
         * How long the kernel keeps attributes and names without asking the filesystem, and remembers that a
         * name does not exist. The trade-off: zero makes every {@code stat} reach the filesystem (what a
         * conformance suite needs, and a filesystem whose content changes behind the kernel's back); seconds
         * save most requests of a build tree or a crawl. Defaults 1 s, 1 s and 0, as libfuse.
         */
        public Builder cacheTimeouts(Duration attributes, Duration names, Duration missingNames) {
            this.attrTimeout = attributes;
            this.entryTimeout = names;
            this.negativeTimeout = missingNames;
            return this;
        }

        /** Report the filesystem's own inode numbers (hard links then share one). Default false. */
        public Builder useIno(boolean useIno) {
            this.useIno = useIno;
            return this;
        }

        /** Every request and its answer on standard error. Default false. */
        public Builder debug(boolean debug) {
            this.debug = debug;
            return this;
        }

        /**
         * A raw libfuse {@code -o} option (one per call) such as {@code nodev}, {@code hard_remove} or
         * {@code umask=022}: the escape hatch for what has no typed setting. It wins over a typed setting of
         * the same key.
         */
        public Builder option(String option) {
            rawOptions.add(option);
            return this;
        }

        /**
         * Unmount when the daemon dies, however it dies ({@code kill -9}, OOM kill, a crash): the mount point is a
         * plain directory again instead of a dead mount answering ENOTCONN, so the daemon can simply be started
         * again. The {@code auto_unmount} mount option: the setuid helper {@code fusermount3} (package fuse3) mounts
         * and stays behind to unmount, also for root; without it, mount() fails with FUSERMOUNT_MISSING. Default
         * false.
         */
        public Builder autoUnmount(boolean autoUnmount) {
            rawOptions.removeIf(o -> o.equals("auto_unmount"));
            if (autoUnmount) {
                rawOptions.add("auto_unmount");
            }
            return this;
        }

        /**
         * Whether a filesystem that names backing files ({@code FuseFileSystem.backingFile}) gets FUSE passthrough:
         * the kernel then reads and writes those files directly, never asking the daemon (Linux 6.9+, a daemon with
         * {@code CAP_SYS_ADMIN}; otherwise the mount says so once and the filesystem serves them). Has no effect on
         * a filesystem that names none. Default true. False is the raw option {@code no_passthrough}.
         */
        public Builder passthrough(boolean passthrough) {
            return flagOption("no_passthrough", !passthrough);
        }

        /**
         * The kernel's writeback cache: writes land in the page cache and reach the filesystem later, merged into
         * large WRITE requests, and the kernel keeps size and times itself. Off by default because it changes what
         * the filesystem sees and what {@code close()} waits for: a {@code close()} (and an exiting process)
         * writes its dirty pages back before it returns, so it waits for the filesystem's WRITE answers (each
         * bounded by the data deadline) where without the cache it never waits for the daemon; the daemon's own
         * threads may not open files of the mount for writing (EDEADLK under the default self-access policy: a
         * daemon killed with dirty pages on its own mount could not finish exiting); reads may arrive for files
         * opened write-only; FUSE passthrough is off with it (the kernel does not combine them). The raw option
         * {@code writeback_cache} (libfuse 3's name). See docs/design.md, "Writeback cache".
         */
        public Builder writebackCache(boolean writebackCache) {
            return flagOption("writeback_cache", writebackCache);
        }

        /**
         * Directory listings carry each entry's attributes (READDIRPLUS): the kernel caches them, with the entry, for
         * the attribute and entry timeouts, so an {@code ls -l} or a tree walk needs no LOOKUP per entry. Only for
         * filesystems whose {@code readdir} gives complete, current attributes ({@code DirectorySink.add(name,
         * attributes)}): the kernel shows those to {@code stat} without asking again. Entries listed without
         * attributes are looked up as before. Default false. The raw option {@code readdirplus}.
         */
        public Builder readdirPlus(boolean readdirPlus) {
            return flagOption("readdirplus", readdirPlus);
        }

        /**
         * Each request thread reads requests from its own clone of the connection's {@code /dev/fuse} descriptor
         * ({@code FUSE_DEV_IOC_CLONE}) and answers them through it, instead of all threads sharing one. Default
         * false: on the machines measured it gained nothing (docs/benchmarks.md). The raw option {@code clone_fd}
         * (libfuse 3's name).
         */
        public Builder cloneFd(boolean cloneFd) {
            return flagOption("clone_fd", cloneFd);
        }

        private Builder flagOption(String option, boolean on) {
            rawOptions.removeIf(o -> o.equals(option));
            if (on) {
                rawOptions.add(option);
            }
            return this;
        }

        /** How long mount() may take before it fails. Default 10 s. */
        public Builder mountTimeout(Duration timeout) {
            this.mountTimeout = timeout;
            return this;
        }

        /** How long close() waits for the request threads to end. Default 5 s. */
        public Builder unmountTimeout(Duration timeout) {
            this.unmountTimeout = timeout;
            return this;
        }

        /** Whether a JVM shutdown hook unmounts. Default true. */
        public Builder shutdownHook(boolean enabled) {
            this.shutdownHook = enabled;
            return this;
        }

        /**
         * Serve requests over io_uring (FUSE 7.42, Linux 6.14+) instead of /dev/fuse reads and writes: ring entries
         * per CPU carry requests and their answers; the guards (deadlines, interrupts, stuck-thread replacement) are
         * the same. Used only when the kernel offers it, which needs the fuse module's {@code enable_uring}
         * parameter set by an administrator (fuseguard never sets it); otherwise the mount says why in one INFO
         * line and uses /dev/fuse. Not with a supervised mount. Default false: on the 2-core machine measured it
         * was not faster (docs/design.md, "FUSE over io_uring"). The raw option {@code io_uring} (libfuse 3's
         * name).
         */
        public Builder ioUring(boolean ioUring) {
            return flagOption("io_uring", ioUring);
        }

        /** The settings. */
        public MountSettings build() {
            return new MountSettings(fsName, allowOther, readOnly, maxWrite, attrTimeout, entryTimeout,
                    negativeTimeout, useIno, debug, rawOptions, mountTimeout, unmountTimeout, shutdownHook);
        }
    }

    /** Whether a helper unmounts when the daemon dies ({@link Builder#autoUnmount}). */
    public boolean autoUnmount() {
        return rawOptions.contains("auto_unmount");
    }

    /** Whether backing files named by the filesystem are used ({@link Builder#passthrough}). */
    public boolean passthrough() {
        return !rawOptions.contains("no_passthrough");
    }

    /** Whether the kernel's writeback cache is asked for ({@link Builder#writebackCache}). */
    public boolean writebackCache() {
        return rawOptions.contains("writeback_cache");
    }

    /** Whether listings carry attributes ({@link Builder#readdirPlus}). */
    public boolean readdirPlus() {
        return rawOptions.contains("readdirplus");
    }

    /** Whether each request thread reads its own device clone ({@link Builder#cloneFd}). */
    public boolean cloneFd() {
        return rawOptions.contains("clone_fd");
    }

    /** Whether requests are to come over io_uring ({@link Builder#ioUring}). */
    public boolean ioUring() {
        return rawOptions.contains("io_uring");
    }

    /** Whether {@code option} (a key or key=value) is among the options. */
    public boolean hasOption(String key) {
        Objects.requireNonNull(key);
        return options().stream().anyMatch(o -> o.equals(key) || o.startsWith(key + "="));
    }
}
