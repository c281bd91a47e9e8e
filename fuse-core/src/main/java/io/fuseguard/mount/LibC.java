package io.fuseguard.mount;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;

/**
 * The libc calls the mount lifecycle needs and the JDK lacks. Public only because jnr-ffi generates its
 * implementation in another class loader; not part of fuseguard's API.
 */
public interface LibC {
    /** {@code MNT_DETACH}: lazy unmount. */
    int MNT_DETACH = 2;

    /** umount2(2). */
    int umount2(String target, int flags);

    /** dlopen(3). */
    Pointer dlopen(String file, int mode);

    /** dlvsym(3): a symbol of a given version. */
    Pointer dlvsym(Pointer handle, String symbol, String version);

    /** The loaded libc. */
    static LibC load() {
        return Holder.INSTANCE;
    }

    /** Loads libc once. */
    final class Holder {
        static final LibC INSTANCE = LibraryLoader.create(LibC.class).load("c");

        private Holder() {
        }
    }
}
