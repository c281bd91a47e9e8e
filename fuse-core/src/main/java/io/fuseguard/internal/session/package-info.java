/**
 * A mounted connection at work: reader threads that read requests and run handlers inline, the watchdog that
 * answers a request at its deadline, lanes that bound what queues, close-time work (deferred flush and
 * release), self-access checks and interrupts. Internal: not part of fuseguard's API.
 */
package io.fuseguard.internal.session;
