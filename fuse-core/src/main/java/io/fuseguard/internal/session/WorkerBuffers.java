package io.fuseguard.internal.session;

import io.fuseguard.internal.sys.Syscalls;

import java.nio.ByteBuffer;

/**
 * A request thread's input and output buffers, mapped once and never unmapped: a thread that ends gives them
 * back to a pool (their pages returned to the kernel), so an address ever handed to a handler stays valid for the
 * life of the process, whatever the handler does with it.
 */
final class WorkerBuffers {
    /**
     * The device descriptor a thread with these buffers reads from: the connection's own, or a clone of it
     * ({@code clone_fd}) that lives as long as the buffers, never closed before the connection ends, so a request
     * read through it and waiting in a lane can always be answered through it.
     */
    final int fd;
    final int inCapacity;
    final int outCapacity;
    final long inAddress;
    final long outAddress;
    final ByteBuffer in;
    final ByteBuffer out;

    WorkerBuffers(int inCapacity, int outCapacity, int fd) {
        this.fd = fd;
        this.inCapacity = inCapacity;
        this.outCapacity = outCapacity;
        this.inAddress = Syscalls.mapAnonymous(inCapacity);
        this.outAddress = Syscalls.mapAnonymous(outCapacity);
        this.in = Syscalls.view(inAddress, inCapacity);
        this.out = Syscalls.view(outAddress, outCapacity);
    }

    /** Returns the pages to the kernel (the mapping stays; it reads as zeros until used again). */
    void discard() {
        Syscalls.discard(inAddress, inCapacity);
        Syscalls.discard(outAddress, outCapacity);
    }
}
