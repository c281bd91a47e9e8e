package io.fuseguard.mount;

/**
 * FUSE passthrough on a mount: whether the kernel serves the filesystem's backing files itself, and what it did.
 *
 * @param state          {@code on}; or why not: {@code not used} (the filesystem names no backing files),
 *                       {@code off} (configured so, or the writeback cache is on), {@code not available} (the
 *                       kernel, or the daemon's privileges), each with the reason
 * @param backedOpens    opens answered with a backing file so far
 * @param fallbackOpens  opens the filesystem named a backing file for that it served itself (the file was open
 *                       without one, or the backing file could not back it)
 * @param openBackingIds backing files registered with the kernel now (one per file open through one)
 */
public record PassthroughStatus(String state, long backedOpens, long fallbackOpens, int openBackingIds) {

    /** Whether opens the filesystem backs are served by the kernel. */
    public boolean active() {
        return state.equals("on");
    }
}
