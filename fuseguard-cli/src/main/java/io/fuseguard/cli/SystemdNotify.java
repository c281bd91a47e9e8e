package io.fuseguard.cli;

import com.kenai.jffi.CallContext;
import com.kenai.jffi.CallContextCache;
import com.kenai.jffi.CallingConvention;
import com.kenai.jffi.Invoker;
import com.kenai.jffi.LastError;
import com.kenai.jffi.Library;
import com.kenai.jffi.MemoryIO;
import com.kenai.jffi.Type;

import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * systemd's readiness protocol without libsystemd: when the service manager set {@code NOTIFY_SOCKET} (a unit
 * with {@code Type=notify}), a datagram such as {@code READY=1} sent to that unix socket tells it the service is up.
 * The address is a path, or an abstract-namespace name when it starts with {@code @}. Without the variable every
 * call does nothing, so the commands behave the same outside systemd.
 *
 * <p>The socket calls are made through jffi (already on the class path for fuseguard's own system calls): the JDK's
 * unix-domain sockets are stream sockets only.
 */
final class SystemdNotify {
    private static final int AF_UNIX = 1;
    private static final int SOCK_DGRAM = 2;
    private static final int SOCK_CLOEXEC = 02000000;
    /** {@code sizeof(struct sockaddr_un)}: a 2-byte family and a 108-byte path. */
    private static final int SUN_PATH = 108;

    private SystemdNotify() {
    }

    /**
     * Sends {@code state} (lines such as {@code READY=1}, {@code STATUS=...}, {@code STOPPING=1}) to
     * {@code $NOTIFY_SOCKET}.
     *
     * @param state the message
     * @return empty when sent or when there is no socket to send to; otherwise why it could not be sent
     */
    static Optional<String> notify(String state) {
        return send(System.getenv("NOTIFY_SOCKET"), state);
    }

    /** Sends {@code state} to the notification socket {@code address} (null or empty: nothing to do). */
    static Optional<String> send(String address, String state) {
        if (address == null || address.isEmpty()) {
            return Optional.empty();
        }
        byte[] path = address.getBytes(StandardCharsets.UTF_8);
        boolean abstractName = path[0] == '@';
        if (path[0] != '/' && !abstractName) {
            return Optional.of("NOTIFY_SOCKET is neither a path nor an abstract name: " + address);
        }
        if (path.length >= SUN_PATH) {
            return Optional.of("NOTIFY_SOCKET is too long for a unix socket address: " + address);
        }
        return Native.send(path, abstractName, state.getBytes(StandardCharsets.UTF_8));
    }

    /** The libc calls, loaded only when a notification is really sent. */
    private static final class Native {
        private static final Invoker INVOKER = Invoker.getInstance();
        private static final MemoryIO MEMORY = MemoryIO.getInstance();
        private static final Library LIBC = Library.getDefault();
        private static final CallContext SIX = context(6);
        private static final CallContext THREE = context(3);
        private static final long SOCKET = symbol("socket");
        private static final long SENDTO = symbol("sendto");
        private static final long CLOSE = symbol("close");

        private static CallContext context(int params) {
            Type[] types = new Type[params];
            java.util.Arrays.fill(types, Type.SLONG);
            return CallContextCache.getInstance().getCallContext(Type.SINT, types, CallingConvention.DEFAULT, true);
        }

        private static long symbol(String name) {
            long a = LIBC.getSymbolAddress(name);
            if (a == 0) {
                throw new UnsatisfiedLinkError("libc has no symbol " + name);
            }
            return a;
        }

        static Optional<String> send(byte[] path, boolean abstractName, byte[] message) {
            int fd = (int) INVOKER.invokeN3(THREE, SOCKET, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                return Optional.of("socket(AF_UNIX, SOCK_DGRAM) failed: errno " + LastError.getInstance().get());
            }
            // struct sockaddr_un: family (native-endian short), then the path; an abstract name starts with a NUL
            // byte instead of '@' and is not NUL-terminated (its length is the address length)
            int addrLen = 2 + path.length + (abstractName ? 0 : 1);
            long addr = MEMORY.allocateMemory(2 + SUN_PATH, true);
            long msg = MEMORY.allocateMemory(Math.max(1, message.length), false);
            try {
                MEMORY.putShort(addr, (short) AF_UNIX);
                MEMORY.putByteArray(addr + 2, path, 0, path.length);
                if (abstractName) {
                    MEMORY.putByte(addr + 2, (byte) 0);
                }
                MEMORY.putByteArray(msg, message, 0, message.length);
                int sent = (int) INVOKER.invokeN6(SIX, SENDTO, fd, msg, message.length, 0, addr, addrLen);
                if (sent < 0) {
                    return Optional.of("sendto " + new String(path, StandardCharsets.UTF_8) + " failed: errno "
                            + LastError.getInstance().get());
                }
                return Optional.empty();
            } finally {
                INVOKER.invokeN3(THREE, CLOSE, fd, 0, 0);
                MEMORY.freeMemory(addr);
                MEMORY.freeMemory(msg);
            }
        }
    }
}
