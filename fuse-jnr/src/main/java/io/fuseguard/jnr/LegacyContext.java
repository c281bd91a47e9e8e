package io.fuseguard.jnr;

import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.OpContext;
import ru.serce.jnrfuse.AbstractFuseFS;
import ru.serce.jnrfuse.FuseFS;
import ru.serce.jnrfuse.LibFuse;
import ru.serce.jnrfuse.struct.FuseContext;

import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;

/**
 * Makes jnr-fuse's {@code getContext()} tell the truth inside a handler served by fuseguard. jnr-fuse reads the
 * caller from libfuse's per-thread request context, which does not exist here (fuseguard speaks the protocol
 * itself); without this, a filesystem that checks the caller's uid would see root for every caller. So the
 * filesystem's {@code libFuse} binding is wrapped: {@code fuse_get_context()} answers the request being handled
 * on the calling thread (uid, gid, pid, umask and the {@code init} result), every other call goes to libfuse.
 */
final class LegacyContext {
    private static final Log LOG = Log.of(LegacyContext.class);

    private LegacyContext() {
    }

    /** Installs the redirection on {@code fs}; returns null when it cannot (the filesystem is no AbstractFuseFS). */
    static LegacyContext install(FuseFS fs, LegacyFsOps ops) {
        if (!(fs instanceof AbstractFuseFS)) {
            return null;
        }
        try {
            Field f = AbstractFuseFS.class.getDeclaredField("libFuse");
            f.setAccessible(true);
            LibFuse original = (LibFuse) f.get(fs);
            if (original != null && Proxy.isProxyClass(original.getClass())) {
                return new LegacyContext(); // mounted before: already redirected
            }
            LibFuse redirected = (LibFuse) Proxy.newProxyInstance(LibFuse.class.getClassLoader(),
                    new Class<?>[] {LibFuse.class}, (proxy, method, args) -> {
                        if (method.getName().equals("fuse_get_context") && (args == null || args.length == 0)) {
                            return context(ops);
                        }
                        if (method.getDeclaringClass() == Object.class) {
                            return method.invoke(original, args);
                        }
                        try {
                            return method.invoke(original, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            f.set(fs, redirected);
            return new LegacyContext();
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.warn("Cannot redirect getContext() of {} ({}); in its handlers use "
                    + "io.fuseguard.api.RequestContext.current() for the caller", fs.getClass().getName(),
                    e.toString());
            return null;
        }
    }

    private static FuseContext context(LegacyFsOps ops) {
        OpContext c = OpContext.current();
        if (c == null) {
            c = OpContext.forCurrentThread(); // a thread of the filesystem's own: nobody called
        }
        Object s = c.legacyScratch;
        LegacyScratch scratch;
        if (s instanceof LegacyScratch ls) {
            scratch = ls;
        } else {
            scratch = new LegacyScratch();
            c.legacyScratch = scratch;
        }
        if (!c.active) {
            return scratch.context(0, 0, 0, 0, ops.privateData());
        }
        return scratch.context(c.uid, c.gid, c.pid, c.umask, ops.privateData());
    }
}
