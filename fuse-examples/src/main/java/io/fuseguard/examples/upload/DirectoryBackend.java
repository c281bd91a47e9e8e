package io.fuseguard.examples.upload;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * A {@link Backend} kept in a directory of the local disk. Wrap it in a {@link FaultInjectingBackend} for
 * latency, stalls and failures in drills and benchmarks.
 *
 * <pre>{@code
 * DirectoryBackend backend = new DirectoryBackend(Path.of("/srv/backend"));
 * }</pre>
 *
 * <p>A put writes to a temp file under {@value #INCOMING} (never listed) and renames it into place, so readers
 * never see half a file; each chunk is written through at once, so the temp file is the visible sign of an
 * upload in flight (a stalled one included). Temp files left by a killed process are removed when a backend is
 * created.
 */
public final class DirectoryBackend implements Backend {
    /** Name of the top-level directory holding uploads in progress. */
    public static final String INCOMING = ".incoming";
    private static final int CHUNK = 64 * 1024;
    private static final LinkOption NOFOLLOW = LinkOption.NOFOLLOW_LINKS;

    private final Path root;
    private final Path incoming;
    private final AtomicLong puts = new AtomicLong();
    /** Serialises directory creation (puts) with the pruning of empty directories (deletes). */
    private final Object structure = new Object();

    /** A backend storing files under {@code root} (created if missing). */
    public DirectoryBackend(Path root) throws IOException {
        Files.createDirectories(root);
        this.root = root.toRealPath();
        this.incoming = this.root.resolve(INCOMING);
        Files.createDirectories(incoming);
        try (Stream<Path> s = Files.list(incoming)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** The directory holding the stored files. */
    public Path root() {
        return root;
    }

    /** Puts completed since creation. */
    public long completedPuts() {
        return puts.get();
    }

    /** Uploads in progress right now (temp files under {@value #INCOMING}). */
    public int uploadsInFlight() {
        try (Stream<Path> s = Files.list(incoming)) {
            return (int) s.count();
        } catch (IOException e) {
            return 0;
        }
    }

    /** The host file holding {@code path}. */
    public Path fileOf(String path) {
        if (path.equals("/")) {
            return root;
        }
        if (!path.startsWith("/")) {
            throw new IllegalArgumentException("not absolute: " + path);
        }
        Path p = root;
        for (String c : path.substring(1).split("/", -1)) {
            if (c.isEmpty() || c.equals(".") || c.equals("..")) {
                throw new IllegalArgumentException("bad path: " + path);
            }
            p = p.resolve(c);
        }
        if (p.getNameCount() > root.getNameCount() && p.getName(root.getNameCount()).toString().equals(INCOMING)) {
            throw new IllegalArgumentException("reserved name: " + path);
        }
        return p;
    }

    @Override
    public void put(String path, InputStream data, long size) throws IOException {
        Path target = fileOf(path);
        Path tmp = incoming.resolve(UUID.randomUUID() + ".part");
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                 OutputStream out = java.nio.channels.Channels.newOutputStream(ch)) {
                byte[] buf = new byte[CHUNK];
                long copied = 0;
                int n;
                while ((n = data.read(buf)) >= 0) {
                    out.write(buf, 0, n); // unbuffered: the temp file shows the upload in flight
                    copied += n;
                    if (Thread.currentThread().isInterrupted()) {
                        throw new InterruptedIOException("upload of " + path + " interrupted");
                    }
                }
                if (copied != size) {
                    throw new IOException("short upload of " + path + ": " + copied + " of " + size + " bytes");
                }
                ch.force(true);
            }
            synchronized (structure) { // a concurrent delete must not prune the parent in between
                Files.createDirectories(target.getParent());
                if (Files.isDirectory(target, NOFOLLOW)) {
                    throw new IOException("is a directory in the backend: " + path);
                }
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
            done = true;
            puts.incrementAndGet();
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    @Override
    public InputStream get(String path) throws IOException {
        Path p = fileOf(path);
        if (Files.isDirectory(p, NOFOLLOW)) {
            throw new IOException("is a directory: " + path);
        }
        return Files.newInputStream(p, NOFOLLOW);
    }

    @Override
    public List<BackendEntry> list(String dir) throws IOException {
        Path d = fileOf(dir);
        List<BackendEntry> out = new ArrayList<>();
        if (!Files.isDirectory(d, NOFOLLOW)) {
            return out;
        }
        try (DirectoryStream<Path> s = Files.newDirectoryStream(d)) {
            for (Path c : s) {
                if (c.equals(incoming)) {
                    continue;
                }
                entryOf(c).ifPresent(out::add);
            }
        } catch (NoSuchFileException e) {
            return out;
        }
        out.sort(Comparator.comparing(BackendEntry::name));
        return out;
    }

    @Override
    public void delete(String path) throws IOException {
        Path p = fileOf(path);
        if (p.equals(root)) {
            return;
        }
        synchronized (structure) {
            try {
                Files.deleteIfExists(p);
            } catch (DirectoryNotEmptyException e) {
                throw new IOException("directory not empty in the backend: " + path, e);
            }
            // Directories are implicit: drop parents that became empty.
            for (Path parent = p.getParent(); parent != null && !parent.equals(root);
                 parent = parent.getParent()) {
                try {
                    Files.delete(parent);
                } catch (IOException e) {
                    break;
                }
            }
        }
    }

    @Override
    public Optional<BackendEntry> stat(String path) throws IOException {
        return entryOf(fileOf(path));
    }

    private Optional<BackendEntry> entryOf(Path p) throws IOException {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(p, BasicFileAttributes.class, NOFOLLOW);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        String name = p.equals(root) ? "/" : p.getFileName().toString();
        if (a.isDirectory()) {
            return Optional.of(new BackendEntry(name, true, 0, a.lastModifiedTime().toInstant()));
        }
        if (a.isRegularFile()) {
            return Optional.of(new BackendEntry(name, false, a.size(), a.lastModifiedTime().toInstant()));
        }
        return Optional.empty();
    }
}
