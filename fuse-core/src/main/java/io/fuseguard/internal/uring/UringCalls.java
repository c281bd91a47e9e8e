package io.fuseguard.internal.uring;

import com.kenai.jffi.CallContext;
import com.kenai.jffi.CallContextCache;
import com.kenai.jffi.CallingConvention;
import com.kenai.jffi.Invoker;
import com.kenai.jffi.LastError;
import com.kenai.jffi.Library;
import com.kenai.jffi.Type;

/**
 * The system calls of io_uring and the mappings its rings need, bound through jffi like
 * {@code io.fuseguard.internal.sys.Syscalls} (kept apart so that class does not grow with a transport most mounts
 * never use). Every call returns {@code -errno} on failure.
 */
final class UringCalls {
    private static final boolean AARCH64 = System.getProperty("os.arch", "").contains("aarch64");
    /** io_uring came after the syscall tables were unified: the same numbers on x86_64 and aarch64. */
    static final long SYS_IO_URING_SETUP = 425;
    static final long SYS_IO_URING_ENTER = 426;
    private static final long SYS_EVENTFD2 = AARCH64 ? 19 : 290;

    private static final Invoker INVOKER = Invoker.getInstance();
    private static final LastError LAST_ERROR = LastError.getInstance();
    private static final Library LIBC = Library.getDefault();
    private static final CallContext L6 = context(6);
    private static final CallContext L2 = context(2);
    private static final long SYSCALL = symbol("syscall");
    private static final long MMAP = symbol("mmap");
    private static final long MUNMAP = symbol("munmap");

    private UringCalls() {
    }

    private static CallContext context(int params) {
        Type[] types = new Type[params];
        java.util.Arrays.fill(types, Type.SLONG);
        return CallContextCache.getInstance().getCallContext(Type.SLONG, types, CallingConvention.DEFAULT, true);
    }

    private static long symbol(String name) {
        long a = LIBC.getSymbolAddress(name);
        if (a == 0) {
            throw new UnsatisfiedLinkError("libc has no symbol " + name);
        }
        return a;
    }

    private static long result(long r) {
        return r < 0 ? -LAST_ERROR.get() : r;
    }

    /** io_uring_setup(2): the ring's descriptor, or -errno; {@code params} points at a zeroed io_uring_params. */
    static int setup(int entries, long params) {
        return (int) result(INVOKER.invokeN6(L6, SYSCALL, SYS_IO_URING_SETUP, entries, params, 0, 0, 0));
    }

    /**
     * io_uring_enter(2) without a signal mask: what was submitted, or -errno. The sixth argument (the mask's size)
     * is not passed: the kernel reads it only with a mask or IORING_ENTER_EXT_ARG.
     */
    static int enter(int fd, int toSubmit, int minComplete, int flags) {
        return (int) result(INVOKER.invokeN6(L6, SYSCALL, SYS_IO_URING_ENTER, fd, toSubmit, minComplete, flags, 0));
    }

    /** eventfd2(0, EFD_CLOEXEC): a descriptor, or -errno. */
    static int eventfd() {
        return (int) result(INVOKER.invokeN6(L6, SYSCALL, SYS_EVENTFD2, 0, 02000000, 0, 0, 0));
    }

    /** A shared read-write mapping of {@code length} bytes of {@code fd} at {@code offset}; 0 on failure. */
    static long mapShared(int fd, long length, long offset) {
        long r = INVOKER.invokeN6(L6, MMAP, 0, length, 3 /* PROT_READ|WRITE */,
                0x01 | 0x8000 /* MAP_SHARED|MAP_POPULATE */, fd, offset);
        return r == -1L ? 0 : r;
    }

    /** munmap(2). */
    static void unmap(long address, long length) {
        INVOKER.invokeN2(L2, MUNMAP, address, length);
    }

    /** The errno of the last failed call on this thread. */
    static int lastError() {
        return LAST_ERROR.get();
    }
}
