/**
 * fuseguard's engine and API: serve a FUSE filesystem ({@link io.fuseguard.api.FuseFileSystem}) under deadlines
 * and guards, mount it without libfuse ({@link io.fuseguard.mount.FuseMount}), read and act on the kernel's FUSE
 * state ({@code io.fuseguard.kernel}).
 *
 * <p>Exported: the public packages only. {@code io.fuseguard.junit} needs JUnit Jupiter and
 * {@code io.fuseguard.metrics} needs Micrometer: both are {@code requires static}, so an application that uses
 * neither needs neither, to compile or to run. Not {@code transitive}: that would make both mandatory when
 * compiling any module that requires this one; a module that uses the extension or the binder requires
 * {@code org.junit.jupiter.api} or {@code micrometer.core} itself (it names their types anyway).
 *
 * <p>The engine's internal packages are exported to one module only, {@code io.fuseguard.jnr} (the fuse-jnr
 * adapter, which serves unchanged jnr-fuse filesystems through the engine's operation table {@code FsOps}).
 * Qualified exports rather than a public SPI: that table, its argument types and the mount hook change with
 * the protocol (each new FUSE operation adds to them), and the adapter is built and released with fuse-core at
 * the same version, so nobody else should compile against them. On the class path, where jnr-fuse filesystems
 * run (jnr-fuse's jar splits the package {@code jnr.ffi} with jnr-ffi and can be on no module path), this
 * descriptor is ignored and everything works as before.
 */
module io.fuseguard.core {
    requires org.jnrproject.jffi;
    requires org.slf4j;
    requires static org.junit.jupiter.api;
    requires static micrometer.core;

    exports io.fuseguard.api;
    exports io.fuseguard.config;
    exports io.fuseguard.mount;
    exports io.fuseguard.kernel;
    exports io.fuseguard.metrics;
    exports io.fuseguard.junit;

    exports io.fuseguard.internal.bridge to io.fuseguard.jnr;
    exports io.fuseguard.internal.events to io.fuseguard.jnr;
    exports io.fuseguard.internal.log to io.fuseguard.jnr;
    exports io.fuseguard.internal.ops to io.fuseguard.jnr;
    exports io.fuseguard.internal.sys to io.fuseguard.jnr;
    exports io.fuseguard.internal.wire to io.fuseguard.jnr;
}
