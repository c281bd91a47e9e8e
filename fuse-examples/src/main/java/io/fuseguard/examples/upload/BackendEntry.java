package io.fuseguard.examples.upload;

import java.time.Instant;
import java.util.Objects;

/**
 * An entry of a {@link Backend} listing or {@code stat}.
 *
 * @param name      the last path component
 * @param directory whether it is a directory (for object stores: a common prefix)
 * @param size      size in bytes (0 for directories)
 * @param modified  last modification as the backend records it
 */
public record BackendEntry(String name, boolean directory, long size, Instant modified) {
    /** Validates the record. */
    public BackendEntry {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(modified, "modified");
    }
}
