package io.fuseguard.examples.upload;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

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
 * <p>Paths are compared as the kernel would resolve them: symbolic links are followed (a mount point given as a
 * link is where the link leads, found with {@code readlink(2)} so that a mount point with a filesystem on it is
 * never looked into), {@code .} and {@code ..} are normalised, and directories are compared by device and inode
 * as well as by name, so a link, or a bind mount that shows a directory under a second name, is caught too.
 */
public final class UploadLayout {
    /** Most symbolic links followed from a mount point, as the kernel's limit (ELOOP). */
    private static final int MAX_LINKS = 40;

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
        Place mnt = Place.ofMountPoint(mountTarget(mountPoint));
        Place c = Place.of(cache);
        if (Files.exists(cache) && !Files.isDirectory(cache)) {
            throw new BadLayoutException("--cache " + cache + " exists and is not a directory");
        }
        Relation r = c.in(mnt);
        if (r != Relation.APART) {
            throw new BadLayoutException("--cache " + cache + " is " + r.words + " the mount point "
                    + mountPoint + ": the cache would be created in the directory the filesystem is mounted on");
        }
        if (mnt.in(c) != Relation.APART) {
            throw new BadLayoutException("the mount point " + mountPoint + " is inside --cache " + cache
                    + ": the filesystem would be mounted among the cache's own files");
        }
        if (backendDir == null) {
            return;
        }
        Place b = Place.of(backendDir);
        r = c.in(b);
        if (r != Relation.APART) {
            throw new BadLayoutException("--cache " + cache + " is " + r.words + " --backend " + backendDir
                    + ": the cache's own files would be stored as files of the filesystem");
        }
        if (b.in(c) != Relation.APART) {
            throw new BadLayoutException("--backend " + backendDir + " is inside --cache " + cache
                    + ": the store would be mixed with the cache's own files");
        }
        r = b.in(mnt);
        if (r != Relation.APART) {
            throw new BadLayoutException("--backend " + backendDir + " is " + r.words + " the mount point "
                    + mountPoint + ": the store would be hidden by the mount, or be the filesystem itself");
        }
        if (mnt.in(b) != Relation.APART) {
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

    /** Whether two directories overlap (one is, or is inside, the other), by name or by device and inode. */
    static boolean overlap(Path a, Path b) {
        Place pa = Place.of(a);
        Place pb = Place.of(b);
        return pa.in(pb) != Relation.APART || pb.in(pa) != Relation.APART;
    }

    /** How one place lies relative to another. */
    private enum Relation {
        SAME("the same directory as"), INSIDE("inside"), APART("apart from");

        final String words;

        Relation(String words) {
            this.words = words;
        }
    }

    /**
     * A directory to be compared: its resolved path, and the directories on it that exist, deepest first, each
     * with its identity (device and inode); a path that does not exist yet is known by its deepest existing
     * directory and the names that follow it.
     */
    private record Place(Path path, List<Path> existing, List<String> ids) {
        static Place of(Path p) {
            return chain(resolved(p));
        }

        /** The mount point's place, from its parent's directories only (the mount point may not answer). */
        static Place ofMountPoint(Path resolvedMountPoint) {
            Path parent = resolvedMountPoint.getParent();
            if (parent == null) {
                return new Place(resolvedMountPoint, List.of(), List.of());
            }
            Place p = chain(parent);
            return new Place(resolvedMountPoint, p.existing, p.ids);
        }

        private static Place chain(Path resolved) {
            List<Path> existing = new ArrayList<>();
            List<String> ids = new ArrayList<>();
            for (Path q = resolved; q != null; q = q.getParent()) {
                String id = identity(q);
                if (id != null) {
                    existing.add(q);
                    ids.add(id);
                }
            }
            return new Place(resolved, existing, ids);
        }

        /**
         * Whether this place is {@code outer}, or inside it: by name, or because one of this place's directories
         * is {@code outer}'s deepest existing one (the same device and inode, under whatever name) and the names
         * from there on lead into {@code outer}.
         */
        Relation in(Place outer) {
            if (path.equals(outer.path)) {
                return Relation.SAME;
            }
            if (path.startsWith(outer.path)) {
                return Relation.INSIDE;
            }
            if (outer.existing.isEmpty()) {
                return Relation.APART;
            }
            Path outerAnchor = outer.existing.get(0);
            Path outerRest = outerAnchor.relativize(outer.path);
            String anchorId = outer.ids.get(0);
            for (int i = 0; i < ids.size(); i++) {
                if (!ids.get(i).equals(anchorId)) {
                    continue;
                }
                Path below = existing.get(i).relativize(path);
                if (below.equals(outerRest)) {
                    return Relation.SAME;
                }
                if (outerRest.toString().isEmpty() || below.startsWith(outerRest)) {
                    return Relation.INSIDE;
                }
            }
            return Relation.APART;
        }
    }

    /** "device:inode" of an existing directory (links followed), or null. */
    private static String identity(Path p) {
        try {
            Map<String, Object> a = Files.readAttributes(p, "unix:dev,ino");
            return a.get("dev") + ":" + a.get("ino");
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Where a mount point leads: its parent resolved, and the mount point itself followed with {@code readlink(2)}
     * while it is a symbolic link (readlink of a directory with a filesystem mounted on it answers EINVAL without
     * asking that filesystem, unlike {@code stat}).
     */
    static Path mountTarget(Path mountPoint) {
        Path p = mountPoint.toAbsolutePath().normalize();
        for (int links = 0; links <= MAX_LINKS; links++) {
            if (p.getParent() == null) {
                return p;
            }
            Path here = resolved(p.getParent()).resolve(p.getFileName());
            Path target;
            try {
                target = Files.readSymbolicLink(here);
            } catch (IOException | UnsupportedOperationException e) {
                return here; // not a link (NotLinkException), or nothing there yet
            }
            p = here.getParent().resolve(target).normalize();
        }
        throw new BadLayoutException("the mount point " + mountPoint + " leads through more than " + MAX_LINKS
                + " symbolic links");
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
