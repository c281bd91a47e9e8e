/** A supervised worker's link to its supervisor. Internal to fuseguard: not part of the public API. */
package io.fuseguard.internal.supervise;
