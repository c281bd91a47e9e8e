package io.fuseguard.examples.upload;

/** String arithmetic on the filesystem's absolute, slash-separated paths. */
final class UploadPaths {
    /**
     * Where libfuse 2 (and fuseguard's engine) moves a file unlinked while open: such names, and anything below a
     * directory so named, never reach the backend and are removed from the cache at the next start.
     */
    private static final String FUSE_HIDDEN = "/.fuse_hidden";

    private UploadPaths() {
    }

    /** The directory holding {@code path} ({@code "/"} for a top-level entry). */
    static String parentOf(String path) {
        int i = path.lastIndexOf('/');
        return i <= 0 ? "/" : path.substring(0, i);
    }

    /** The path of {@code name} inside directory {@code dir}. */
    static String child(String dir, String name) {
        return dir.equals("/") ? "/" + name : dir + "/" + name;
    }

    /** Whether {@code path} lies strictly below directory {@code dir}. */
    static boolean under(String path, String dir) {
        return path.startsWith(dir + "/");
    }

    /** {@code path} with its prefix {@code from} replaced by {@code to} (a path moved by a rename). */
    static String moved(String path, String from, String to) {
        return to + path.substring(from.length());
    }

    /** Whether {@code path} lives in the cache only and never reaches the backend (a hidden name in it). */
    static boolean localOnly(String path) {
        return path.contains(FUSE_HIDDEN);
    }
}
