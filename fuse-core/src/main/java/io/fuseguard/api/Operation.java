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
    READ(OperationKind.DATA),
    WRITE(OperationKind.DATA),
    TRUNCATE(OperationKind.DATA),
    FALLOCATE(OperationKind.DATA),
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
