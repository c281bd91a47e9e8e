package io.fuseguard.examples.upload;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * Refuses a layout of mount point, cache directory and backend directory that cannot work, before anything is
 * created: a cache made inside the mount point would make the mount point non-empty (and every later mount
 * fail), a cache inside the backend would show the cache's own files as the filesystem's, a mistyped backend
 * directory would silently become a new empty store. Each refusal is one line naming the two paths.
 *
 * <pre>{@code
 * UploadLayout.check(Path.of("/mnt/drive"), Path.of("/var/cache/drive"), Path.of("/srv/store"), false);
 * }</pre>
 *
 * <p>Paths are compared as the kernel would resolve them: symbolic links in their existing part are followed,
 * {@code .} and {@code ..} are normalised, so a link into the mount point is caught as well.
 */
public final class UploadLayout {
    private UploadLayout() {
    }

    /** A layout that cannot work; its message is one line. */
    public static final class BadLayoutException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        BadLayoutException(String message) {
            super(message);
        }
    }

    /**
     * Checks the layout of an upload mount.
     *
     * @param mountPoint    where the filesystem is to be mounted
     * @param cache         the cache directory (created by {@link CachedUploadFs} if missing)
     * @param backendDir    a {@link DirectoryBackend}'s directory, or null for another backend (S3)
     * @param createBackend whether a missing {@code backendDir} may be created
     * @throws BadLayoutException when the layout cannot work; nothing has been created
     */
    public static void check(Path mountPoint, Path cache, Path backendDir, boolean createBackend) {
        // the mount point itself is never looked at (it may be a FUSE mount that does not answer): its parent is
        Path abs = mountPoint.toAbsolutePath().normalize();
        Path mnt = abs.getParent() == null ? abs : resolved(abs.getParent()).resolve(abs.getFileName());
        Path c = resolved(cache);
        if (Files.exists(cache) && !Files.isDirectory(cache)) {
            throw new BadLayoutException("--cache " + cache + " exists and is not a directory");
        }
        if (c.startsWith(mnt)) {
            throw new BadLayoutException("--cache " + cache + " is " + where(c, mnt) + " the mount point "
                    + mountPoint + ": the cache would be created in the directory the filesystem is mounted on");
        }
        if (mnt.startsWith(c)) {
            throw new BadLayoutException("the mount point " + mountPoint + " is inside --cache " + cache
                    + ": the filesystem would be mounted among the cache's own files");
        }
        if (backendDir == null) {
            return;
        }
        Path b = resolved(backendDir);
        if (c.startsWith(b)) {
            throw new BadLayoutException("--cache " + cache + " is " + where(c, b) + " --backend " + backendDir
                    + ": the cache's own files would be stored as files of the filesystem");
        }
        if (b.startsWith(c)) {
            throw new BadLayoutException("--backend " + backendDir + " is inside --cache " + cache
                    + ": the store would be mixed with the cache's own files");
        }
        if (b.startsWith(mnt)) {
            throw new BadLayoutException("--backend " + backendDir + " is " + where(b, mnt) + " the mount point "
                    + mountPoint + ": the store would be hidden by the mount, or be the filesystem itself");
        }
        if (mnt.startsWith(b)) {
            throw new BadLayoutException("the mount point " + mountPoint + " is inside --backend " + backendDir
                    + ": the mount would be read as part of the store");
        }
        if (!Files.exists(backendDir, LinkOption.NOFOLLOW_LINKS) && !Files.exists(backendDir)) {
            if (!createBackend) {
                throw new BadLayoutException("--backend " + backendDir + " does not exist (a mistyped store would "
                        + "start empty; --create-backend creates it)");
            }
        } else if (!Files.isDirectory(backendDir)) {
            throw new BadLayoutException("--backend " + backendDir + " is not a directory");
        }
    }

    private static String where(Path inner, Path outer) {
        return inner.equals(outer) ? "the same directory as" : "inside";
    }

    /**
     * The absolute, normalised path with symbolic links resolved in its longest existing prefix (the rest does
     * not exist yet, so it holds no link).
     */
    static Path resolved(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        Path existing = abs;
        Path rest = null;
        while (existing != null && !Files.exists(existing)) {
            Path name = existing.getFileName();
            rest = rest == null ? name : name.resolve(rest);
            existing = existing.getParent();
        }
        if (existing == null) {
            return abs;
        }
        try {
            Path real = existing.toRealPath();
            return rest == null ? real : real.resolve(rest).normalize();
        } catch (IOException e) {
            return abs;
        }
    }
}
