package io.fuseguard.mount;

import io.fuseguard.internal.sys.Syscalls;

import java.nio.file.Path;
import java.util.List;

/**
 * Mounts through libfuse 2's {@code fuse_mount} (as root with mount(2), otherwise through the setuid
 * {@code fusermount}) and takes over the /dev/fuse descriptor. That is all fuseguard uses libfuse for: the
 * request protocol is spoken by fuseguard itself. Symbols are looked up by version, because libfuse.so.2 also
 * exports 2.2-era functions of the same names with other signatures.
 */
final class NativeMount {
    private static volatile long[] functions;

    private NativeMount() {
    }

    private static long[] functions() {
        long[] f = functions;
        if (f == null) {
            f = load("libfuse.so.2");
            functions = f;
        }
        return f;
    }

    /** Loads the mount functions of a libfuse 2 library, or explains which package to install. */
    static long[] load(String library) {
        long[] f;
        {
            long lib = Syscalls.dlopen(library);
            if (lib == 0) {
                throw new MountException(MountException.Reason.LIBFUSE_MISSING, "libfuse.so.2 could not be loaded: "
                        + "install the libfuse2 package (Debian/Ubuntu: apt-get install libfuse2; Fedora: dnf install "
                        + "fuse-libs)");
            }
            f = new long[] {
                Syscalls.dlvsym(lib, "fuse_mount", "FUSE_2.6"),
                Syscalls.dlvsym(lib, "fuse_chan_fd", "FUSE_2.4"),
                Syscalls.dlvsym(lib, "fuse_chan_destroy", "FUSE_2.4"),
                Syscalls.dlvsym(lib, "fuse_opt_free_args", "FUSE_2.5"),
            };
            for (int i = 0; i < 4; i++) {
                if (f[i] == 0) {
                    throw new MountException(MountException.Reason.LIBFUSE_MISSING, "libfuse.so.2 lacks the FUSE 2.6 "
                            + "mount functions: libfuse 2.6 or newer (2.9 recommended) is required");
                }
            }
        }
        return f;
    }

    /** Checks that libfuse can be loaded (for a clear error before anything else happens). */
    static void checkLibrary() {
        functions();
    }

    /**
     * Mounts {@code mountPoint} with the kernel mount options and returns a close-on-exec descriptor of the
     * connection's /dev/fuse file.
     */
    static int mount(Path mountPoint, List<String> options) {
        long[] f = functions();
        String[] argv = options.isEmpty() ? new String[] {"fuseguard"}
                : new String[] {"fuseguard", "-o", String.join(",", options)};
        long[] strings = new long[argv.length];
        long array = Syscalls.allocate(8L * (argv.length + 1));
        long args = Syscalls.allocate(24);
        long mp = Syscalls.cString(mountPoint.toString());
        try {
            for (int i = 0; i < argv.length; i++) {
                strings[i] = Syscalls.cString(argv[i]);
                Syscalls.putAddress(array + 8L * i, strings[i]);
            }
            // struct fuse_args { int argc; char **argv; int allocated; }
            Syscalls.putInt(args, argv.length);
            Syscalls.putAddress(args + 8, array);
            Syscalls.putInt(args + 16, 0);
            long ch = Syscalls.call(f[0], mp, args);
            Syscalls.call(f[3], args); // frees only what libfuse allocated while parsing
            if (ch == 0) {
                throw new MountException(MountException.Reason.MOUNT_FAILED, "the kernel refused to mount "
                        + mountPoint + " (libfuse printed the reason on stderr; as non-root, fusermount must be "
                        + "installed: package 'fuse')");
            }
            int fd = (int) Syscalls.call(f[1], ch);
            int own = Syscalls.dupCloseOnExec(fd);
            if (own < 0) {
                Syscalls.call(f[2], ch);
                throw new MountException(MountException.Reason.MOUNT_FAILED, "could not take over the /dev/fuse "
                        + "descriptor of " + mountPoint);
            }
            Syscalls.call(f[2], ch); // closes libfuse's descriptor and frees the channel
            return own;
        } finally {
            for (long s : strings) {
                Syscalls.free(s);
            }
            Syscalls.free(array);
            Syscalls.free(args);
            Syscalls.free(mp);
        }
    }
}
