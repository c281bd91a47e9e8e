package io.fuseguard.internal.mount;

import io.fuseguard.internal.log.Log;
import io.fuseguard.mount.MountException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Makes the kernel mount: the new mount API, else mount(2), for a process that may mount; the fusermount helper
 * for one that may not, and for {@code auto_unmount} (only a process that outlives the daemon can unmount after
 * its death, and the helper is that process). libfuse is not involved.
 *
 * <p>The system property {@value #METHOD_PROPERTY} pins one way ({@code new-api}, {@code mount},
 * {@code fusermount}; default {@code auto}): for a kernel or seccomp filter that mishandles one of them, and for
 * tests of each.
 */
public final class KernelMount {
    private static final Log LOG = Log.of(KernelMount.class);

    /** The system property that pins how to mount. */
    public static final String METHOD_PROPERTY = "fuseguard.mount.method";

    /** How to mount. */
    public enum Method {
        /** The new mount API, else mount(2), else fusermount; fusermount for {@code auto_unmount}. */
        AUTO("auto"),
        /** fsopen, fsconfig, fsmount, move_mount only. */
        NEW_API("new-api"),
        /** mount(2) only. */
        MOUNT_SYSCALL("mount"),
        /** The fusermount helper only. */
        FUSERMOUNT("fusermount");

        private final String property;

        Method(String property) {
            this.property = property;
        }

        /** The value of {@value #METHOD_PROPERTY} that selects it. */
        public String property() {
            return property;
        }

        /** The method the system property selects ({@link #AUTO} when unset). */
        public static Method fromProperty() {
            String v = System.getProperty(METHOD_PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
            for (Method m : values()) {
                if (m.property.equals(v)) {
                    return m;
                }
            }
            throw new MountException(MountException.Reason.OPTION_REJECTED, "system property " + METHOD_PROPERTY
                    + "='" + v + "' is none of auto, new-api, mount, fusermount");
        }
    }

    private KernelMount() {
    }

    /**
     * Mounts at {@code mountPoint} (its real path, checked already) with the kernel mount options, the way the
     * system property says.
     */
    public static MountedDevice mount(Path mountPoint, List<String> kernelOptions, Duration timeout) {
        MountRequest request = MountRequest.of(kernelOptions);
        for (String note : request.notes()) {
            LOG.warn("{}: {}", mountPoint, note);
        }
        return mount(mountPoint, request, Method.fromProperty(), timeout);
    }

    /** Mounts with the given method. */
    public static MountedDevice mount(Path mountPoint, MountRequest request, Method method, Duration timeout) {
        if (request.autoUnmount() || method == Method.FUSERMOUNT) {
            Path helper = Fusermount.locate().orElseThrow(() -> Fusermount.missing(whyHelper(request.autoUnmount(),
                    method)));
            return Fusermount.mount(helper, mountPoint, request, timeout);
        }
        int rootMode = rootMode(mountPoint);
        if (method == Method.NEW_API || method == Method.AUTO) {
            int fd = DirectMount.newApi(mountPoint, request, rootMode);
            if (fd >= 0) {
                return new MountedDevice(fd, "new mount API", -1, -1);
            }
            if (method == Method.NEW_API) {
                throw new MountException(MountException.Reason.MOUNT_FAILED, "the new mount API cannot mount "
                        + mountPoint + ": fsopen " + (fd == DirectMount.NOT_PERMITTED ? "was refused (EPERM: not "
                        + "root, no CAP_SYS_ADMIN, or a seccomp filter)" : "is not available (Linux < 5.2, or a "
                        + "seccomp filter)"));
            }
        }
        int fd = DirectMount.mountSyscall(mountPoint, request, rootMode);
        if (fd >= 0) {
            return new MountedDevice(fd, "mount(2)", -1, -1);
        }
        if (method == Method.MOUNT_SYSCALL) {
            throw new MountException(MountException.Reason.MOUNT_FAILED, "mount(2) of " + mountPoint
                    + " was refused (EPERM): mounting needs root or CAP_SYS_ADMIN");
        }
        Path helper = Fusermount.locate().orElseThrow(() -> Fusermount.missing(whyHelper(false, method)));
        return Fusermount.mount(helper, mountPoint, request, timeout);
    }

    /** What the kernel is told the root is: the mount point's file type ({@code S_IFDIR} for a directory). */
    private static int rootMode(Path mountPoint) {
        try {
            return ((Integer) Files.getAttribute(mountPoint, "unix:mode")) & 0170000;
        } catch (IOException | RuntimeException e) {
            throw new MountException(MountException.Reason.MOUNT_POINT_MISSING, "mount point " + mountPoint
                    + " cannot be read: " + e.getMessage(), e);
        }
    }

    /**
     * The reason to refuse before anything is done when mounting will need the helper and none is installed: for
     * {@code auto_unmount}, for {@value #METHOD_PROPERTY}{@code =fusermount}, and for a process without
     * {@code CAP_SYS_ADMIN}.
     */
    public static Optional<MountException> missingHelper(List<String> kernelOptions) {
        boolean autoUnmount = kernelOptions.contains("auto_unmount");
        Method method = Method.fromProperty();
        boolean needsHelper = autoUnmount || method == Method.FUSERMOUNT || (method == Method.AUTO && !mayMount());
        if (!needsHelper || Fusermount.locate().isPresent()) {
            return Optional.empty();
        }
        return Optional.of(Fusermount.missing(whyHelper(autoUnmount, method)));
    }

    private static String whyHelper(boolean autoUnmount, Method method) {
        if (autoUnmount) {
            return "mount option auto_unmount needs the fusermount helper (the process that stays behind and "
                    + "unmounts when the daemon is gone)";
        }
        return method == Method.FUSERMOUNT ? METHOD_PROPERTY + "=fusermount was asked for"
                : "this process may not mount (not root, no CAP_SYS_ADMIN)";
    }

    /**
     * Whether this process has {@code CAP_SYS_ADMIN} (in its user namespace), which mounting needs without the
     * helper; true when it cannot be told (the kernel then decides).
     */
    static boolean mayMount() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("CapEff:")) {
                    long caps = Long.parseUnsignedLong(line.substring(7).trim(), 16);
                    return (caps & (1L << 21)) != 0; // CAP_SYS_ADMIN
                }
            }
        } catch (IOException | RuntimeException e) {
            return true;
        }
        return true;
    }
}
