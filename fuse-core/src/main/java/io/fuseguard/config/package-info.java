/**
 * Immutable configuration of a mount: {@link io.fuseguard.config.GuardSettings how requests are guarded}
 * (deadlines, threads, the flush and self-access policies) and {@link io.fuseguard.config.MountSettings how the
 * filesystem is mounted} (name, options, cache timeouts, mount and unmount timeouts), brought together by
 * {@link io.fuseguard.config.FuseguardConfig}. Every setting has a default that suits a production filesystem;
 * bad values are refused when built.
 */
package io.fuseguard.config;
