package io.fuseguard.api;

/**
 * Receives the entries of a directory listing. The framework owns it and copies the entries to the kernel
 * after the handler returned, so a handler may call it from any thread until it returns; calls after the
 * request was answered (timed out) are ignored.
 */
public interface DirectorySink {
    /** Adds an entry whose attributes the kernel will ask for separately. */
    void add(String name);

    /** Adds an entry with its attributes (saves the kernel a GETATTR per entry for {@code ls -l}). */
    void add(String name, FileAttributes attributes);
}
