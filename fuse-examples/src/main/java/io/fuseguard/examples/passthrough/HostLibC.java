package io.fuseguard.examples.passthrough;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;

/**
 * The two libc calls {@link PassthroughFs} needs and the JDK lacks: {@code symlink(2)} with the target passed
 * verbatim (the JDK normalises a target given as a {@code Path}: {@code "a//b/"} would become {@code "a/b"}),
 * and {@code statvfs(3)} for inode counts. Public only because jnr-ffi generates its implementation in another
 * class loader.
 */
public interface HostLibC {
    /** symlink(2). */
    int symlink(String target, String linkPath);

    /** statvfs(3) into a buffer of at least {@link #STATVFS_SIZE} bytes. */
    int statvfs(String path, Pointer buf);

    /** sizeof(struct statvfs) on 64-bit Linux (x86_64, aarch64), rounded up generously. */
    int STATVFS_SIZE = 128;

    /** Loads libc once. */
    static HostLibC load() {
        return Holder.INSTANCE;
    }

    /** Lazy holder. */
    final class Holder {
        static final HostLibC INSTANCE = LibraryLoader.create(HostLibC.class).load("c");

        private Holder() {
        }
    }
}
