package io.fuseguard.mount;

import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.bridge.GuardedBridge;
import io.fuseguard.bridge.JavaFsBridge;
import io.fuseguard.bridge.LegacyFsBridge;
import io.fuseguard.config.FlushPolicy;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.guard.RequestGuard;
import io.fuseguard.guard.RequestSource;
import io.fuseguard.kernel.FuseControl;
import io.fuseguard.kernel.MountEntry;
import io.fuseguard.kernel.MountTable;
import jnr.ffi.LastError;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import ru.serce.jnrfuse.FuseFS;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;

/**
 * A mounted fuseguard filesystem. {@link #mount} returns once the filesystem answers requests through the
 * kernel (and, under the default flush policy, once the kernel stopped sending FLUSH); {@link #close} unmounts,
 * waits for the FUSE loop to end and never hangs, even when files are still open on the mount.
 *
 * <pre>{@code
 * try (FuseMount m = FuseMount.mount(new MyFs(), Path.of("/mnt/my"), FuseguardConfig.defaults())) {
 *     m.awaitUnmount();
 * }
 * }</pre>
 */
public final class FuseMount implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FuseMount.class);
    private static final int EBUSY = 16;

    private final Path mountPoint;
    private final FuseguardConfig config;
    private final LibFuse2 lib;
    private final RequestGuard guard;
    private final GuardedBridge bridge;
    private final FuseFileSystem inProcess;
    private final CountDownLatch loopEnded = new CountDownLatch(1);
    private final AtomicBoolean closed = new AtomicBoolean();
    private final FuseArgs args;
    private Pointer channel;
    private Pointer fuse;
    private long connectionId = -1;
    private Duration mountTime = Duration.ZERO;
    private Thread shutdownHook;

    private FuseMount(Path mountPoint, FuseguardConfig config, LibFuse2 lib, RequestGuard guard,
                      GuardedBridge bridge, FuseFileSystem inProcess) {
        this.mountPoint = mountPoint;
        this.config = config;
        this.lib = lib;
        this.guard = guard;
        this.bridge = bridge;
        this.inProcess = inProcess;
        List<String> argv = new ArrayList<>();
        argv.add("fuseguard");
        argv.add("-o");
        argv.add(String.join(",", config.mountOptions(ProcessHandle.current().pid())));
        if (config.debug()) {
            argv.add("-o");
            argv.add("debug");
        }
        this.args = new FuseArgs(argv);
    }

    /**
     * Mounts a memory-safe filesystem.
     *
     * @throws MountException with a {@link MountException.Reason} and an actionable message
     */
    public static FuseMount mount(FuseFileSystem fs, Path mountPoint, FuseguardConfig config) {
        return mount(mountPoint, config, (guard, source) -> new JavaFsBridge(fs, guard, source, config), fs);
    }

    /**
     * Mounts an existing jnr-fuse filesystem unchanged, under the same guards: it gets private native copies of
     * every buffer and struct, which live until its handler returns, so a stalled handler can be answered for
     * without ever touching freed libfuse memory.
     */
    public static FuseMount mount(FuseFS legacy, Path mountPoint, FuseguardConfig config) {
        return mount(mountPoint, config, (guard, source) -> new LegacyFsBridge(legacy, guard, source, config), null);
    }

    private static FuseMount mount(Path mountPoint, FuseguardConfig config,
                                   BiFunction<RequestGuard, RequestSource, GuardedBridge> bridgeFactory,
                                   FuseFileSystem fs) {
        long t0 = System.nanoTime();
        Path mp = mountPoint.toAbsolutePath().normalize();
        MountPreflight.check(mp, config.mountOptions(ProcessHandle.current().pid()));
        LibFuse2 lib = LibFuse2.load();
        NativeRequestSource source = new NativeRequestSource(lib);
        RequestGuard guard = new RequestGuard(config, source);
        GuardedBridge bridge = bridgeFactory.apply(guard, source);
        FuseMount m = new FuseMount(mp, config, lib, guard, bridge,
                fs == null ? null : InProcessAccess.of(fs, guard));
        try {
            m.start();
        } catch (RuntimeException e) {
            guard.close();
            throw e;
        }
        m.mountTime = Duration.ofNanos(System.nanoTime() - t0);
        LOG.info("Mounted {} at {} in {} ms (connection {}, flush policy {})", config.fsName(), mp,
                m.mountTime.toMillis(), m.connectionId, config.flushPolicy());
        return m;
    }

    private void start() {
        channel = lib.fuse_mount(mountPoint.toString(), args.pointer());
        if (channel == null || channel.address() == 0) {
            lib.fuse_opt_free_args(args.pointer());
            throw new MountException(MountException.Reason.MOUNT_FAILED, "the kernel refused to mount "
                    + mountPoint + " (libfuse printed the reason on stderr; as non-root, fusermount must be "
                    + "installed: package 'fuse')");
        }
        try {
            connectionId = MountTableLookup.connectionOf(mountPoint).orElse(-1);
            fuse = FuseNew.call(channel, args.pointer(), bridge.operations());
            lib.fuse_opt_free_args(args.pointer());
            if (fuse == null || fuse.address() == 0) {
                throw new MountException(MountException.Reason.OPTION_REJECTED, "libfuse rejected the options "
                        + String.join(",", config.mountOptions(ProcessHandle.current().pid()))
                        + " (its reason is on stderr)");
            }
        } catch (RuntimeException | Error e) {
            // No loop runs yet: closing the channel and detaching the mount point is all there is to undo.
            releaseChannel();
            throw e;
        }
        Thread loop = new Thread(() -> {
            try {
                int r = lib.fuse_loop_mt(fuse);
                if (r != 0) {
                    LOG.warn("FUSE loop of {} ended with {}", mountPoint, r);
                }
            } finally {
                loopEnded.countDown();
            }
        }, "fuseguard-loop-" + config.fsName());
        loop.setDaemon(true);
        loop.start();
        awaitReady();
        if (config.shutdownHook()) {
            shutdownHook = new Thread(this::close, "fuseguard-shutdown-" + config.fsName());
            Runtime.getRuntime().addShutdownHook(shutdownHook);
        }
    }

    /**
     * Proves the mount answers by opening and closing the hidden probe through the kernel; under
     * {@link FlushPolicy#NO_FLUSH} that close is also the FLUSH whose ENOSYS answer sets {@code no_flush}.
     */
    private void awaitReady() {
        CompletableFuture<Void> probe = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                bridge.probe().run(mountPoint);
                probe.complete(null);
            } catch (Throwable e) {
                probe.completeExceptionally(e);
            }
        }, "fuseguard-probe-" + config.fsName());
        t.setDaemon(true);
        t.start();
        try {
            probe.get(config.mountTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | InterruptedException | ExecutionException e) {
            String why = e instanceof TimeoutException
                    ? "did not answer within " + config.mountTimeout().toMillis() + " ms"
                    : "failed its readiness probe: " + (e.getCause() != null ? e.getCause() : e);
            // Release the probe thread if it waits in the kernel, then take everything down.
            teardown();
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new MountException(MountException.Reason.NOT_ANSWERING, "filesystem at " + mountPoint + " " + why,
                    e instanceof ExecutionException ? e.getCause() : e);
        }
    }

    /** The absolute mount point. */
    public Path mountPoint() {
        return mountPoint;
    }

    /** The FUSE connection id (the directory name under /sys/fs/fuse/connections), if it could be found. */
    public OptionalLong connectionId() {
        return connectionId < 0 ? OptionalLong.empty() : OptionalLong.of(connectionId);
    }

    /** How long {@link #mount} took, until the filesystem answered. */
    public Duration mountTime() {
        return mountTime;
    }

    /** The configuration. */
    public FuseguardConfig config() {
        return config;
    }

    /**
     * FLUSH requests the kernel has sent to this mount. Under the default flush policy it stays at 1 (the
     * readiness probe's, answered ENOSYS) because the kernel then stops sending FLUSH for good.
     */
    public long flushRequestsReceived() {
        return bridge.flushRequests();
    }

    /** Requests being handled right now. */
    public int inFlight() {
        return guard.inFlight();
    }

    /**
     * The filesystem as the daemon itself should use it: the same handlers and deadlines, without going through
     * the kernel (so the daemon can never deadlock on its own mount).
     *
     * @throws UnsupportedOperationException for a mounted jnr-fuse filesystem (call it directly)
     */
    public FuseFileSystem inProcess() {
        if (inProcess == null) {
            throw new UnsupportedOperationException("in-process access is for FuseFileSystem mounts");
        }
        return inProcess;
    }

    /** Whether the FUSE loop is still running. */
    public boolean isMounted() {
        return loopEnded.getCount() > 0;
    }

    /** Blocks until the filesystem is unmounted (by {@link #close}, a shutdown hook or {@code umount}). */
    public void awaitUnmount() throws InterruptedException {
        loopEnded.await();
    }

    /**
     * Unmounts and waits for the FUSE loop to end. Never hangs: requests in flight are answered ENOTCONN; if the
     * mount is busy (open files, a working directory) it is detached lazily and its connection aborted, so
     * every later request fails at once instead of waiting for a daemon that is gone. Idempotent.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            awaitLoop(config.unmountTimeout());
            return;
        }
        long t0 = System.nanoTime();
        guard.beginShutdown();
        if (unmount()) {
            abortConnection("the mount was busy");
        }
        if (!awaitLoop(config.unmountTimeout())) {
            LOG.warn("FUSE loop of {} still running {} ms after the unmount; aborting the connection", mountPoint,
                    config.unmountTimeout().toMillis());
        }
        teardown();
        if (shutdownHook != null && Thread.currentThread() != shutdownHook) {
            try {
                Runtime.getRuntime().removeShutdownHook(shutdownHook);
            } catch (IllegalStateException e) {
                // JVM already shutting down
            }
        }
        LOG.info("Unmounted {} in {} ms", mountPoint, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
    }

    /** Unmounts; returns true when the mount was busy and had to be detached lazily. */
    private boolean unmount() {
        OptionalLong there = MountTableLookup.connectionOf(mountPoint);
        if (there.isEmpty() || (connectionId >= 0 && there.getAsLong() != connectionId)) {
            return false; // already unmounted (umount from outside): never touch what is mounted there now
        }
        if (isRoot()) {
            LibC libc = LibC.load();
            if (libc.umount2(mountPoint.toString(), 0) == 0) {
                return false;
            }
            int errno = LastError.getLastError(jnr.ffi.Runtime.getSystemRuntime());
            if (errno == EBUSY) {
                LOG.warn("Mount point {} is busy (a process has a file open or its working directory there); "
                        + "detaching it lazily and aborting the connection: those processes get ENOTCONN",
                        mountPoint);
                libc.umount2(mountPoint.toString(), LibC.MNT_DETACH);
                return true;
            }
            LOG.warn("umount {} failed with errno {}; detaching lazily", mountPoint, errno);
            libc.umount2(mountPoint.toString(), LibC.MNT_DETACH);
            return false;
        }
        return fusermountUnmount();
    }

    /**
     * Closes the channel and makes sure the mount point is gone: libfuse skips its own unmount when the
     * connection was already aborted, so the mount table is checked.
     */
    private void releaseChannel() {
        lib.fuse_unmount(mountPoint.toString(), channel);
        detachIfOurs();
    }

    /** Lazily detaches the mount point if what is mounted there is still this mount's connection. */
    private void detachIfOurs() {
        OptionalLong there = MountTableLookup.connectionOf(mountPoint);
        if (there.isPresent() && (connectionId < 0 || there.getAsLong() == connectionId)) {
            detach();
        }
    }

    /** Lazily detaches the mount point, whatever state its connection is in. */
    private void detach() {
        if (isRoot()) {
            LibC.load().umount2(mountPoint.toString(), LibC.MNT_DETACH);
        } else {
            try {
                Process p = new ProcessBuilder("fusermount", "-u", "-z", mountPoint.toString())
                        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (IOException e) {
                LOG.warn("Cannot run fusermount to detach {}: {}", mountPoint, e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private boolean fusermountUnmount() {
        try {
            Process p = new ProcessBuilder("fusermount", "-u", mountPoint.toString()).redirectErrorStream(true)
                    .start();
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                LOG.warn("fusermount -u {} did not finish in 5 s; detaching lazily", mountPoint);
                detach();
                return true;
            }
            String out = new String(p.getInputStream().readAllBytes()).trim();
            if (p.exitValue() == 0) {
                return false;
            }
            LOG.warn("fusermount -u {} failed ({}); detaching lazily", mountPoint, out);
            detach();
            return out.contains("busy");
        } catch (IOException e) {
            LOG.warn("Cannot run fusermount to unmount {} (install the 'fuse' package): {}", mountPoint,
                    e.getMessage());
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return true;
        }
    }

    private static boolean isRoot() {
        try {
            return (Integer) java.nio.file.Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private void abortConnection(String why) {
        if (connectionId < 0) {
            return;
        }
        try {
            FuseControl.ensureMounted();
            FuseControl control = new FuseControl();
            if (control.exists(connectionId)) {
                control.abort(connectionId);
                LOG.info("Aborted FUSE connection {} of {} ({})", connectionId, mountPoint, why);
            }
        } catch (IOException e) {
            LOG.warn("Could not abort FUSE connection {} of {}: {}", connectionId, mountPoint, e.getMessage());
        }
    }

    private boolean awaitLoop(Duration timeout) {
        try {
            return loopEnded.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Ends the loop, then closes the channel and frees libfuse's state, in that order: libfuse's workers use
     * the channel until the loop has ended. Setting libfuse's exit flag cannot end a libfuse 2 loop whose
     * workers sit in read(); aborting the connection does (their reads fail with ENODEV).
     */
    private void teardown() {
        guard.beginShutdown();
        if (loopEnded.getCount() > 0) {
            abortConnection("ending the FUSE loop");
            awaitLoop(Duration.ofSeconds(2));
        }
        if (loopEnded.getCount() == 0) {
            releaseChannel();
            lib.fuse_destroy(fuse);
        } else {
            // Freeing the channel under running workers would be a use-after-free: leak it instead.
            LOG.error("FUSE loop of {} did not end; its native state is leaked rather than freed under it",
                    mountPoint);
            detachIfOurs();
        }
        guard.close();
    }

    /** Finds a mount's connection id in /proc/self/mountinfo (never stats the mount). */
    static final class MountTableLookup {
        private MountTableLookup() {
        }

        static OptionalLong connectionOf(Path mountPoint) {
            try {
                return MountTable.load().findByMountPoint(mountPoint).map(MountEntry::connectionId)
                        .map(OptionalLong::of).orElse(OptionalLong.empty());
            } catch (IOException e) {
                return OptionalLong.empty();
            }
        }
    }
}
