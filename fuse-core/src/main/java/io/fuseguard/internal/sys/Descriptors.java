package io.fuseguard.internal.sys;

import java.io.FileDescriptor;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;
import java.nio.channels.FileChannel;

/**
 * The descriptor number behind a {@link FileChannel} or a {@link FileDescriptor}. The JDK keeps it private
 * ({@code FileDescriptor.fd}, {@code sun.nio.ch.FileChannelImpl.fd}) and, since Java 16, refuses reflective access
 * without {@code --add-opens}; {@code sun.misc.Unsafe} (module {@code jdk.unsupported}, open to everyone) reads a
 * field by its offset without that, which is what this does, once per call, without changing anything. Where even
 * that is missing (another JDK's layout), the answer is -1 and the caller falls back.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class Descriptors {
    private static final MethodHandle GET_INT;
    private static final MethodHandle GET_OBJECT;
    private static final long FD_OFFSET;
    private static final long CHANNEL_FD_OFFSET;
    private static final Class<?> CHANNEL_IMPL;

    static {
        MethodHandle getInt = null;
        MethodHandle getObject = null;
        long fdOffset = -1;
        long channelOffset = -1;
        Class<?> impl = null;
        try {
            Class<?> unsafeClass = Class.forName("sun.misc.Unsafe");
            Field f = unsafeClass.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            Object unsafe = f.get(null);
            MethodHandles.Lookup l = MethodHandles.lookup();
            MethodHandle offset = l.findVirtual(unsafeClass, "objectFieldOffset",
                    MethodType.methodType(long.class, Field.class)).bindTo(unsafe);
            getInt = l.findVirtual(unsafeClass, "getInt", MethodType.methodType(int.class, Object.class, long.class))
                    .bindTo(unsafe);
            getObject = l.findVirtual(unsafeClass, "getObject",
                    MethodType.methodType(Object.class, Object.class, long.class)).bindTo(unsafe);
            fdOffset = (long) offset.invoke(FileDescriptor.class.getDeclaredField("fd"));
            impl = Class.forName("sun.nio.ch.FileChannelImpl");
            channelOffset = (long) offset.invoke(impl.getDeclaredField("fd"));
        } catch (Throwable e) {
            // another JDK: channels and FileDescriptors cannot back files; descriptor numbers still can
        }
        GET_INT = getInt;
        GET_OBJECT = getObject;
        FD_OFFSET = fdOffset;
        CHANNEL_FD_OFFSET = channelOffset;
        CHANNEL_IMPL = impl;
    }

    private Descriptors() {
    }

    /** The descriptor number of {@code fd}, or -1 when it is closed or this JDK does not tell. */
    public static int of(FileDescriptor fd) {
        if (fd == null || GET_INT == null || FD_OFFSET < 0) {
            return -1;
        }
        try {
            return (int) GET_INT.invoke((Object) fd, FD_OFFSET);
        } catch (Throwable e) {
            return -1;
        }
    }

    /** The descriptor number of an open file channel, or -1 when it is closed or this JDK does not tell. */
    public static int of(FileChannel channel) {
        if (channel == null || !channel.isOpen() || CHANNEL_IMPL == null || !CHANNEL_IMPL.isInstance(channel)
                || GET_OBJECT == null || CHANNEL_FD_OFFSET < 0) {
            return -1;
        }
        try {
            return of((FileDescriptor) GET_OBJECT.invoke((Object) channel, CHANNEL_FD_OFFSET));
        } catch (Throwable e) {
            return -1;
        }
    }
}
