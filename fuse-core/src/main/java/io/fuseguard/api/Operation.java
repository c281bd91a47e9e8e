package io.fuseguard.api;

/** The FUSE operations the framework forwards to a filesystem, each with the kind that sets its deadline. */
public enum Operation {
    /** A name looked up: the filesystem's getattr of the path. */
    LOOKUP(OperationKind.METADATA),
    GETATTR(OperationKind.METADATA),
    READDIR(OperationKind.METADATA),
    READLINK(OperationKind.METADATA),
    MKDIR(OperationKind.METADATA),
    RMDIR(OperationKind.METADATA),
    UNLINK(OperationKind.METADATA),
    RENAME(OperationKind.METADATA),
    SYMLINK(OperationKind.METADATA),
    LINK(OperationKind.METADATA),
    CHMOD(OperationKind.METADATA),
    CHOWN(OperationKind.METADATA),
    UTIMENS(OperationKind.METADATA),
    STATFS(OperationKind.METADATA),
    OPEN(OperationKind.METADATA),
    CREATE(OperationKind.METADATA),
    RELEASE(OperationKind.METADATA),
    MKNOD(OperationKind.METADATA),
    SETXATTR(OperationKind.METADATA),
    GETXATTR(OperationKind.METADATA),
    LISTXATTR(OperationKind.METADATA),
    REMOVEXATTR(OperationKind.METADATA),
    OPENDIR(OperationKind.METADATA),
    RELEASEDIR(OperationKind.METADATA),
    ACCESS(OperationKind.METADATA),
    /** {@code statx(2)} asking for more than {@code stat} (a birth time). */
    STATX(OperationKind.METADATA),
    /** {@code open(2)} with {@code O_TMPFILE}. */
    TMPFILE(OperationKind.METADATA),
    /** {@code fcntl(F_GETLK)}: which lock is in the way. */
    GETLK(OperationKind.METADATA),
    /** {@code fcntl(F_SETLK)}: a POSIX lock taken or released without waiting. */
    SETLK(OperationKind.METADATA),
    /** {@code ioctl(2)} (jnr-fuse filesystems). */
    IOCTL(OperationKind.DATA),
    /** {@code poll(2)} and friends (jnr-fuse filesystems). */
    POLL(OperationKind.METADATA),
    READ(OperationKind.DATA),
    WRITE(OperationKind.DATA),
    TRUNCATE(OperationKind.DATA),
    FALLOCATE(OperationKind.DATA),
    /** {@code lseek(2)} with {@code SEEK_DATA} or {@code SEEK_HOLE}. */
    LSEEK(OperationKind.DATA),
    /** {@code copy_file_range(2)}. */
    COPY_FILE_RANGE(OperationKind.DATA),
    /** {@code fcntl(F_SETLKW)}: a POSIX lock that waits for a conflicting one to go. */
    SETLKW(OperationKind.DATA),
    /** {@code flock(2)} (with or without {@code LOCK_NB}). */
    FLOCK(OperationKind.DATA),
    FSYNC(OperationKind.SYNC),
    FSYNCDIR(OperationKind.SYNC),
    FLUSH(OperationKind.FLUSH);

    private final OperationKind kind;

    Operation(OperationKind kind) {
        this.kind = kind;
    }

    /** The kind that decides this operation's deadline. */
    public OperationKind kind() {
        return kind;
    }
}
