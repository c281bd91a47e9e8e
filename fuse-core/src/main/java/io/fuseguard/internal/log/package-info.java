/**
 * Logging off the request path: messages are handed to a background thread that writes them through SLF4J (or to
 * standard error when no SLF4J backend is present). Internal: not part of fuseguard's API.
 */
package io.fuseguard.internal.log;
