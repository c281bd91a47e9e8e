/**
 * Counters of a mount ({@link io.fuseguard.metrics.MountMetrics}, always kept, without allocation on the request
 * path) and their Micrometer binding ({@link io.fuseguard.metrics.FuseguardMeterBinder}, when Micrometer is on
 * the class path).
 */
package io.fuseguard.metrics;
