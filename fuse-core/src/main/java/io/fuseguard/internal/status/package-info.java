/**
 * What a mounted daemon publishes about its connection for other processes ({@code fuseguard connections}): one
 * small JSON file per connection under a run directory, written at mount and removed at unmount, and the reading
 * and checking of such files (a daemon killed with SIGKILL leaves its file behind).
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
package io.fuseguard.internal.status;
