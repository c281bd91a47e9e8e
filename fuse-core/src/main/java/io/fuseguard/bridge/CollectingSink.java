package io.fuseguard.bridge;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.FileAttributes;

import java.util.ArrayList;
import java.util.List;

/**
 * Framework-owned directory sink: entries are kept on the Java heap and replayed into libfuse's filler on the
 * libfuse thread after the handler returned. Once sealed (the request was answered) further adds are ignored,
 * so a late handler cannot touch what the kernel already got.
 */
final class CollectingSink implements DirectorySink {
    /** One entry; {@code attributes} may be null. */
    record Entry(String name, FileAttributes attributes) {
    }

    private final List<Entry> entries = new ArrayList<>();
    private boolean sealed;

    @Override
    public synchronized void add(String name) {
        add(name, null);
    }

    @Override
    public synchronized void add(String name, FileAttributes attributes) {
        if (sealed) {
            return;
        }
        if (name == null || name.isEmpty() || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("bad directory entry name: '" + name + "'");
        }
        entries.add(new Entry(name, attributes));
    }

    /** Stops accepting entries and returns what was collected. */
    synchronized List<Entry> seal() {
        sealed = true;
        return entries;
    }
}
