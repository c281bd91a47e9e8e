/**
 * Delivery of {@link io.fuseguard.api.GuardEvent}s to listeners and metrics, off the request path. Internal: not
 * part of fuseguard's API.
 */
package io.fuseguard.internal.events;
