/**
 * Test support: a JUnit 5 extension that mounts a filesystem for a test and always unmounts it, whether real
 * mounts can be made here ({@link io.fuseguard.junit.FuseAvailability}), and calling a filesystem directly as a
 * chosen caller ({@link io.fuseguard.junit.TestCaller}).
 */
package io.fuseguard.junit;
