package io.fuseguard.examples.upload;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The durable to-do list of a {@link CachedUploadFs}: at most one entry per path, "path X version V pending
 * upload" ({@link Op#PUT}) or "path X pending delete" ({@link Op#DELETE}), each a small file
 * {@code <hash of path>.entry}.
 *
 * <p>An entry is written to a temp file, fsynced, renamed over the previous entry of the same path (atomic) and
 * the directory fsynced: after {@link #write} returns, the entry survives a crash of the daemon or of the
 * machine, and a reader finds either the old or the new entry, never a torn one. {@link #remove} happens only
 * after the backend confirmed.
 */
final class Journal {
    private static final Logger LOG = LoggerFactory.getLogger(Journal.class);
    private static final String MAGIC = "fuseguard-upload-journal 1";
    private static final String SUFFIX = ".entry";

    /** What the backend still has to be told about a path. */
    enum Op {
        /** Upload the cache file of the path. */
        PUT,
        /** Delete the path from the backend. */
        DELETE
    }

    /** One journal entry. */
    record Entry(Op op, String path, long version) {
    }

    private final Path dir;

    Journal(Path dir) throws IOException {
        this.dir = dir;
        Files.createDirectories(dir);
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (p.getFileName().toString().endsWith(".tmp")) {
                    Files.deleteIfExists(p); // a write interrupted by a crash: its entry was never committed
                }
            }
        }
    }

    /** The directory holding the entries. */
    Path dir() {
        return dir;
    }

    /** Every committed entry. */
    List<Entry> load() throws IOException {
        List<Entry> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (!p.getFileName().toString().endsWith(SUFFIX)) {
                    continue;
                }
                try {
                    out.add(parse(Files.readString(p, StandardCharsets.UTF_8)));
                } catch (RuntimeException e) {
                    LOG.error("Unreadable journal entry {} kept for inspection: {}", p, e.toString());
                }
            }
        }
        return out;
    }

    /** Commits {@code e} durably, replacing the path's previous entry. */
    void write(Entry e) throws IOException {
        Path target = fileOf(e.path());
        Path tmp = dir.resolve(target.getFileName() + "." + Thread.currentThread().getId() + ".tmp");
        String text = MAGIC + "\nop " + e.op() + "\nversion " + e.version() + "\npath "
                + Base64.getUrlEncoder().encodeToString(e.path().getBytes(StandardCharsets.UTF_8)) + "\n";
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        syncDir();
    }

    /** Removes the path's entry (the backend confirmed). */
    void remove(String path) throws IOException {
        try {
            Files.delete(fileOf(path));
        } catch (NoSuchFileException e) {
            return;
        }
        syncDir();
    }

    private void syncDir() throws IOException {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    private Path fileOf(String path) {
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(path.getBytes(StandardCharsets.UTF_8));
            return dir.resolve(HexFormat.of().formatHex(h, 0, 16) + SUFFIX);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static Entry parse(String text) {
        String[] lines = text.split("\n");
        if (lines.length < 4 || !lines[0].equals(MAGIC)) {
            throw new IllegalArgumentException("not a journal entry");
        }
        Op op = Op.valueOf(value(lines[1], "op"));
        long version = Long.parseLong(value(lines[2], "version"));
        String path = new String(Base64.getUrlDecoder().decode(value(lines[3], "path")), StandardCharsets.UTF_8);
        if (!path.startsWith("/")) {
            throw new IllegalArgumentException("bad path in journal entry");
        }
        return new Entry(op, path, version);
    }

    private static String value(String line, String key) {
        if (!line.startsWith(key + " ")) {
            throw new IllegalArgumentException("expected '" + key + "' in journal entry");
        }
        return line.substring(key.length() + 1);
    }
}
