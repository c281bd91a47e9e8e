package io.fuseguard.mount;

/**
 * What a mount is doing, at one instant.
 *
 * @param requests         requests read from the kernel since the mount
 * @param inFlight         requests whose handler is running now
 * @param threads          request threads alive (stuck ones included)
 * @param stuckThreads     threads held by handlers that missed their deadline and have not returned
 * @param openHandles      open files and directories
 * @param pendingCloseWork close-time work (deferred flushes, releases) queued or running
 * @param flushRequests    FLUSH requests the kernel sent
 * @param interruptsLetPass kernel INTERRUPTs of callers that were not being killed (an ordinary signal): their
 *                         requests finished normally, as in libfuse without {@code -o intr}
 */
public record MountStatus(long requests, int inFlight, int threads, int stuckThreads, int openHandles,
                          int pendingCloseWork, long flushRequests, long interruptsLetPass) {
}
