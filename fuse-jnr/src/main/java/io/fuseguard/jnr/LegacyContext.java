package io.fuseguard.jnr;

import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.OpContext;
import ru.serce.jnrfuse.AbstractFuseFS;
import ru.serce.jnrfuse.FuseFS;
import ru.serce.jnrfuse.LibFuse;
import ru.serce.jnrfuse.struct.FuseContext;
import ru.serce.jnrfuse.struct.FusePollhandle;

import java.lang.reflect.Field;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;

/**
 * Makes jnr-fuse's {@code getContext()} tell the truth inside a handler served by fuseguard. jnr-fuse reads the
 * caller from libfuse's per-thread request context, which does not exist here (fuseguard speaks the protocol
 * itself); without this, a filesystem that checks the caller's uid would see root for every caller. So the
 * filesystem's {@code libFuse} binding is wrapped: {@code fuse_get_context()} answers the request being handled
 * on the calling thread (uid, gid, pid, umask and the {@code init} result), {@code fuse_notify_poll()} tells the
 * kernel through the mount that a polled file is ready (and {@code fuse_pollhandle_destroy()} hands the handle
 * back), every other call goes to libfuse.
 */
final class LegacyContext {
    private static final Log LOG = Log.of(LegacyContext.class);

    private LegacyContext() {
    }

    /**
     * The redirection: {@code fuse_get_context()} answers the request on the calling thread,
     * {@code fuse_notify_poll()} and {@code fuse_pollhandle_destroy()} go to the mount (there is no libfuse
     * session to send them), everything else to libfuse. The bridge is replaced when the filesystem is mounted
     * again.
     */
    private static final class Redirect implements InvocationHandler {
        private final LibFuse original;
        private volatile LegacyFsOps ops;

        Redirect(LibFuse original, LegacyFsOps ops) {
            this.original = original;
            this.ops = ops;
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            String name = method.getName();
            if (name.equals("fuse_get_context") && (args == null || args.length == 0)) {
                return context(ops);
            }
            if (name.equals("fuse_notify_poll") && args != null && args.length == 1) {
                return ops.notifyPoll((FusePollhandle) args[0]);
            }
            if (name.equals("fuse_pollhandle_destroy") && args != null && args.length == 1) {
                ops.destroyPollHandle((FusePollhandle) args[0]);
                return null;
            }
            if (method.getDeclaringClass() == Object.class) {
                return method.invoke(original, args);
            }
            try {
                return method.invoke(original, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        }
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
            if (original != null && Proxy.isProxyClass(original.getClass())
                    && Proxy.getInvocationHandler(original) instanceof Redirect r) {
                r.ops = ops; // mounted before: already redirected, now to this mount
                return new LegacyContext();
            }
            LibFuse redirected = (LibFuse) Proxy.newProxyInstance(LibFuse.class.getClassLoader(),
                    new Class<?>[] {LibFuse.class}, new Redirect(original, ops));
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
