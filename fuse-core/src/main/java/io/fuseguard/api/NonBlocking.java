package io.fuseguard.api;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a {@link FuseFileSystem} method implementation that never blocks (pure in-memory work, no I/O, no
 * locks held by slow code). The framework then runs it directly on the libfuse thread instead of handing it
 * to a worker, which saves the hand-off (two thread wake-ups) per request.
 *
 * <p>The price: such a handler gets no deadline and no interrupt handling. If it does block, the calling
 * process waits for it like on a plain jnr-fuse filesystem. Exceptions are still mapped to errnos, and the
 * self-access guard still applies. Put it on the method in your implementing class.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface NonBlocking {
}
