package io.fuseguard.cli;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.examples.memory.MemoryFs;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code fuseguard mount memory}: an in-memory POSIX filesystem whose bytes live in the JVM's heap. */
@Command(name = "memory", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        sortOptions = false,
        description = {"Mounts an in-memory POSIX filesystem (MemoryFs) and serves it until Ctrl-C or SIGTERM.",
                "Its files live in the JVM's heap: --capacity must fit in it (-Xmx), or the command refuses."})
final class MountMemoryCommand extends MountSubcommand {
    /** What MemoryFs needs on top of its data, measured (docs/operations.md): request buffers, tables, classes. */
    static final long HEAP_BASE = 64L << 20;
    /** Per byte of capacity: chunk headers, a partly filled last chunk per file, the collector's room to work. */
    static final double HEAP_PER_BYTE = 1.125;

    @Option(names = "--capacity", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "most bytes the files may hold (default 1G); the JVM heap must hold them")
    Long capacity;

    @Option(names = "--no-birth-time",
            description = "do not report birth times: saves the STATX request that the first statx(2) asking for "
                    + "one (every Java Files.readAttributes, stat(1)) costs on each file")
    boolean noBirthTime;

    @Option(names = "--no-xattrs",
            description = "keep no extended attributes (setfattr gets EOPNOTSUPP): saves the GETXATTR request of "
                    + "security.capability that the kernel sends before every write and chown of a filesystem "
                    + "that may hold one")
    boolean noXattrs;

    @Override
    String kind() {
        return "memory";
    }

    @Override
    java.util.Optional<String> unsupervisable() {
        return java.util.Optional.of("its files live in the worker's heap, so the first restart would lose them "
                + "all; supervise passthrough or upload, whose data lives outside the process, or mount memory "
                + "without --supervise");
    }

    @Override
    FuseFileSystem fileSystem() {
        long bytes = capacity != null ? capacity : 1L << 30;
        long heap = Runtime.getRuntime().maxMemory();
        long needed = heapNeeded(bytes);
        if (needed > heap) {
            // -Xmx is more than the heap a JVM reports usable (the serial collector keeps a survivor space
            // aside): ask for 5 % more, so that the suggested setting passes this check with any collector
            long mib = (long) Math.ceil(needed * 1.05 / (1 << 20));
            throw new FuseguardCommand.BadInputException("--capacity " + SizeConverter.format(bytes)
                    + " needs a JVM heap of at least " + ((needed + (1L << 20) - 1) >> 20) + " MiB, this JVM may use "
                    + (heap >> 20)
                    + " MiB: run it with -Xmx" + mib + "m (e.g. JAVA_TOOL_OPTIONS=-Xmx" + mib
                    + "m) or give a smaller --capacity");
        }
        try {
            return MemoryFs.builder().capacity(bytes).birthTime(!noBirthTime).xattrs(!noXattrs).build();
        } catch (IllegalArgumentException e) {
            throw new FuseguardCommand.BadInputException(UserFacing.optionNames(e.getMessage()));
        }
    }

    /** The heap a MemoryFs of {@code capacity} bytes needs when full. */
    static long heapNeeded(long capacity) {
        return HEAP_BASE + (long) Math.ceil(capacity * HEAP_PER_BYTE);
    }
}
