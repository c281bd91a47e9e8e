package io.fuseguard.internal.session;

import io.fuseguard.internal.sys.Syscalls;

import java.nio.ByteBuffer;

/**
 * A request thread's input and output buffers, mapped once and never unmapped: a thread that ends gives them
 * back to a pool (their pages returned to the kernel), so an address ever handed to a handler stays valid for the
 * life of the process, whatever the handler does with it.
 */
final class WorkerBuffers {
    final int inCapacity;
    final int outCapacity;
    final long inAddress;
    final long outAddress;
    final ByteBuffer in;
    final ByteBuffer out;

    WorkerBuffers(int inCapacity, int outCapacity) {
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
