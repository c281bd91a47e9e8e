package io.fuseguard.api;

import java.util.Objects;

/**
 * A POSIX record lock ({@code fcntl(2)}'s {@code struct flock}) as it travels between the kernel and a filesystem
 * that keeps locks itself ({@link FuseFileSystem#setlk}, {@link FuseFileSystem#getlk}): its type, the byte range
 * it covers, and the process that holds it.
 *
 * @param type  read (shared), write (exclusive), or unlock
 * @param start first byte of the range
 * @param end   last byte of the range, inclusive; {@link #TO_EOF} for "to the end of the file, however far it
 *              grows" (a {@code l_len} of 0)
 * @param pid   the process that holds the lock ({@code getlk}'s answer), or that asks for it; 0 when unknown
 */
public record FileLock(Type type, long start, long end, long pid) {
    /** The {@code end} of a lock that reaches to the end of the file, whatever its size. */
    public static final long TO_EOF = Long.MAX_VALUE;

    /** What a lock does. */
    public enum Type {
        /** A shared lock ({@code F_RDLCK}; {@code LOCK_SH} for {@code flock}). */
        READ,
        /** An exclusive lock ({@code F_WRLCK}; {@code LOCK_EX} for {@code flock}). */
        WRITE,
        /** Releases the range ({@code F_UNLCK}; {@code LOCK_UN} for {@code flock}). */
        UNLOCK
    }

    /** Validates the record. */
    public FileLock {
        Objects.requireNonNull(type, "type");
        if (start < 0 || end < start) {
            throw new IllegalArgumentException("bad lock range " + start + ".." + end);
        }
    }

    /** The answer of {@code getlk} when nothing conflicts: the asked range, type {@link Type#UNLOCK}. */
    public FileLock unlocked() {
        return new FileLock(Type.UNLOCK, start, end, 0);
    }

    /** Whether the range reaches to the end of the file. */
    public boolean toEndOfFile() {
        return end == TO_EOF;
    }

    /** Whether this lock and {@code other} cover a common byte. */
    public boolean overlaps(FileLock other) {
        return start <= other.end && other.start <= end;
    }
}
