package io.fuseguard.api;

import io.fuseguard.internal.sys.Descriptors;

import java.io.FileDescriptor;
import java.nio.channels.FileChannel;
import java.util.Objects;

/**
 * A file on another (local) filesystem that the kernel reads and writes directly in place of an open file of the
 * mount: FUSE passthrough (Linux 6.9+). A filesystem names one in {@link FuseFileSystem#backingFile} for a file it
 * has just opened; from then on reads, writes and mmap of that open file never reach the daemon.
 *
 * <p>A backing file is a file the filesystem already has open and keeps owning: fuseguard registers it with the
 * kernel while it answers the open (the kernel takes its own reference then) and never closes, reads or writes
 * it. The filesystem may close it whenever it likes after that (at its {@code release}, typically). No descriptor
 * ever flows the other way: fuseguard hands nothing native to the filesystem.
 *
 * <p>The kernel performs the I/O with the daemon's credentials (as captured when the file is registered) and the
 * access mode of the open file of the mount, on the backing file's own page cache.
 */
public final class BackingFile {
    private final int descriptor;
    /** Keeps the channel (and so its descriptor) from being collected while fuseguard registers it. */
    private final Object owner;

    private BackingFile(int descriptor, Object owner) {
        this.descriptor = descriptor;
        this.owner = owner;
    }

    /**
     * The file of an open {@link FileChannel} (from {@code FileChannel.open} or a {@code RandomAccessFile}). If this
     * JDK does not reveal the channel's descriptor, the open is served by the filesystem's own read and write
     * instead (logged once).
     */
    public static BackingFile of(FileChannel channel) {
        Objects.requireNonNull(channel, "channel");
        return new BackingFile(Descriptors.of(channel), channel);
    }

    /** The file of an open {@link FileDescriptor} (from a {@code RandomAccessFile} or a file stream). */
    public static BackingFile of(FileDescriptor descriptor) {
        Objects.requireNonNull(descriptor, "descriptor");
        return new BackingFile(Descriptors.of(descriptor), descriptor);
    }

    /**
     * The file of a descriptor number the filesystem opened itself (through JNI, jnr-ffi or the FFM API): a regular
     * file, opened for reading or writing (not {@code O_PATH}).
     */
    public static BackingFile ofDescriptor(int descriptor) {
        if (descriptor < 0) {
            throw new IllegalArgumentException("not a descriptor: " + descriptor);
        }
        return new BackingFile(descriptor, null);
    }

    /** The descriptor number fuseguard registers with the kernel; -1 when the JDK did not reveal a channel's. */
    public int descriptor() {
        return descriptor;
    }

    @Override
    public String toString() {
        return "BackingFile[fd " + descriptor + (owner != null ? ", " + owner.getClass().getSimpleName() : "") + "]";
    }
}
