/**
 * Fixtures the real-mount tests of fuseguard share: {@link io.fuseguard.testkit.Child} runs a process with a time
 * limit and kills it by pid; {@link io.fuseguard.testkit.Edges} checks the preconditions (FUSE, root, python3,
 * gcc; skipped with the reason, a failure under {@code FUSEGUARD_REQUIRE_FUSE=true}) and cleans up mounts;
 * {@link io.fuseguard.testkit.PyClient} drives a real client one system call at a time;
 * {@link io.fuseguard.testkit.SmallFs} and {@link io.fuseguard.testkit.StallingFs} are small filesystems on
 * fuseguard's API; {@link io.fuseguard.testkit.FuseTestSupport} mounts a plain jnr-fuse filesystem as a control.
 * Test scope only.
 */
package io.fuseguard.testkit;
