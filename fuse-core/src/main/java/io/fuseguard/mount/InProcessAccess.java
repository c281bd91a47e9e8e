package io.fuseguard.mount;

import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.Operation;
import io.fuseguard.guard.RequestGuard;
import io.fuseguard.guard.RequestSource;
import jnr.constants.platform.Errno;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The daemon's own way into its filesystem: calls the handlers directly, under the same deadlines, without
 * the kernel. A daemon that reads or writes its own mount through the kernel risks the exit-time deadlock;
 * through this it cannot.
 */
final class InProcessAccess {
    private InProcessAccess() {
    }

    static FuseFileSystem of(FuseFileSystem fs, RequestGuard guard) {
        return (FuseFileSystem) Proxy.newProxyInstance(FuseFileSystem.class.getClassLoader(),
                new Class<?>[] {FuseFileSystem.class}, (proxy, method, args) -> {
                    if (method.getDeclaringClass() == Object.class) {
                        return method.invoke(fs, args);
                    }
                    return call(fs, guard, method, args);
                });
    }

    private static Object call(FuseFileSystem fs, RequestGuard guard, Method method, Object[] args) {
        Operation op = Operation.valueOf(method.getName().toUpperCase(java.util.Locale.ROOT));
        String path = args != null && args.length > 0 && args[0] instanceof String s ? s : "";
        AtomicReference<Object> out = new AtomicReference<>();
        int r = guard.run(RequestSource.NONE, op, path, false, () -> {
            try {
                out.set(method.invoke(fs, args));
            } catch (InvocationTargetException e) {
                throw e.getCause() instanceof Exception ex ? ex : new RuntimeException(e.getCause());
            }
            return 0;
        }, null);
        if (r < 0) {
            throw new ErrnoException(Errno.valueOf(-r), op + " " + path);
        }
        return out.get();
    }
}
