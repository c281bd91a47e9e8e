package io.fuseguard.guard;

/**
 * What the guard needs to know about the kernel request being processed on the calling libfuse thread.
 * The mount implements it with libfuse's {@code fuse_get_context()} and {@code fuse_interrupted()}.
 */
public interface RequestSource {
    /** The caller of the current request. */
    Caller caller();

    /** Whether the kernel has sent an INTERRUPT for the current request. */
    boolean interrupted();

    /**
     * The caller of a request.
     *
     * @param pid thread id of the caller in the daemon's pid namespace, 0 if not visible
     * @param uid user id
     * @param gid group id
     */
    record Caller(int pid, long uid, long gid) {
    }

    /** A source for requests that do not come from the kernel (in-process access, unit tests). */
    RequestSource NONE = new RequestSource() {
        private final Caller nobody = new Caller(0, 0, 0);

        @Override
        public Caller caller() {
            return nobody;
        }

        @Override
        public boolean interrupted() {
            return false;
        }
    };
}
