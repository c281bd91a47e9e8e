package io.fuseguard.mount;

/** A mount that could not be made, with the reason in words an operator can act on. */
public final class MountException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Why a mount failed. */
    public enum Reason {
        /**
         * The mount needs the setuid helper {@code fusermount3} (or libfuse 2's {@code fusermount}) and neither is
         * installed: for a user who may not mount, and for {@code auto_unmount}.
         */
        FUSERMOUNT_MISSING,
        /** The mount point does not exist. */
        MOUNT_POINT_MISSING,
        /** The mount point is not a directory. */
        NOT_A_DIRECTORY,
        /** The mount point has files in it (they would be hidden); mount option {@code nonempty} allows it. */
        NOT_EMPTY,
        /** Something is already mounted there. */
        ALREADY_MOUNTED,
        /** /dev/fuse is missing or cannot be opened. */
        DEVICE_UNUSABLE,
        /** A mount option was rejected. */
        OPTION_REJECTED,
        /** The kernel or the fusermount helper refused the mount for another reason. */
        MOUNT_FAILED,
        /** The filesystem was mounted but did not answer within the mount timeout. */
        NOT_ANSWERING
    }

    private final Reason reason;

    /** A failure with a reason and message. */
    public MountException(Reason reason, String message) {
        this(reason, message, null);
    }

    /** A failure with a reason, message and cause. */
    public MountException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    /** Why the mount failed. */
    public Reason reason() {
        return reason;
    }
}
