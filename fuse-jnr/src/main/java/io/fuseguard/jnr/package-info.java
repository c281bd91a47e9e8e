/**
 * The jnr-fuse adapter: {@link io.fuseguard.jnr.JnrFuseMount} serves an unchanged jnr-fuse filesystem
 * ({@code ru.serce.jnrfuse.FuseFS}) through fuseguard's engine, the way libfuse 2's high-level layer calls it.
 * Everything but {@code JnrFuseMount} is package-private: the bridge reaches the engine through fuse-core's
 * internal packages, which the module {@code io.fuseguard.core} exports to this adapter ({@code io.fuseguard.jnr})
 * alone.
 */
package io.fuseguard.jnr;
