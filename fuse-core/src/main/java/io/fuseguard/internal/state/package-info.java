/**
 * What a supervised mount's kernel knows (node ids, lookup counts, open handles, INIT), kept in a memfd the
 * supervisor holds, so a new worker can take over. Internal to fuseguard: not part of the public API.
 */
package io.fuseguard.internal.state;
