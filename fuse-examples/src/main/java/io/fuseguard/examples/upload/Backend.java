package io.fuseguard.examples.upload;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The remote store behind a {@link CachedUploadFs}: a namespace of files addressed by absolute slash-separated
 * paths ({@code /dir/file}). Directories are implicit (a directory exists while something is stored under it),
 * as with object stores; {@link CachedUploadFs} keeps empty directories in its cache only.
 *
 * <p>Every method may block (network I/O) and must be interruptible: {@link CachedUploadFs} calls it from its
 * uploader threads, from {@code fsync} and from the first {@code open} of an uncached file, and interrupts the
 * thread when the request's deadline passed or the filesystem is closed. A call must not outlast a bound of its
 * own either (a store that stops reading or answering): an uploader thread held for good uploads nothing more. Implementations must be thread-safe.
 *
 * <h2>Plugging in an object store</h2>
 * An S3-like store implements this interface directly:
 * <ul>
 *   <li><b>{@link #put}</b>: a single {@code PutObject} for small files; above a threshold (S3: parts of 8 to
 *       64 MiB) a multipart upload: {@code CreateMultipartUpload}, {@code UploadPart} per part (parts may be
 *       uploaded in parallel and retried one by one; keep each part's ETag), {@code CompleteMultipartUpload}
 *       with the ETags. The object becomes visible atomically at completion, so a reader never sees half a
 *       file, like the temp-file-and-rename of {@link DirectoryBackend}. On failure or interruption call
 *       {@code AbortMultipartUpload} (and configure a bucket lifecycle rule that aborts incomplete uploads, for
 *       daemons killed mid-upload).</li>
 *   <li><b>Idempotent retries</b>: {@link CachedUploadFs} retries a failed {@code put} with exponential backoff
 *       and repeats it after a daemon crash, so a put may run several times for the same content; a put of the
 *       same bytes to the same key must be harmless (it is for S3). Send {@code Content-MD5} (or a SHA-256
 *       checksum) so a corrupted transfer fails instead of being stored, and compare the returned ETag with the
 *       local MD5 for single-part uploads. Conditional writes ({@code If-Match} with the last known ETag) can
 *       detect concurrent writers from other clients; this example assumes a single writer.</li>
 *   <li><b>{@link #delete}</b>: {@code DeleteObject}, which already succeeds for a missing key. A delete of a
 *       "directory" is a no-op for a store without directories (or removes its zero-byte marker).</li>
 *   <li><b>{@link #list}</b>: {@code ListObjectsV2} with {@code Prefix=dir/} and {@code Delimiter=/}: the
 *       contents are files, the common prefixes directories; follow continuation tokens.</li>
 *   <li><b>{@link #stat}</b>: {@code HeadObject}; on 404 fall back to a one-key listing of {@code path/} to
 *       tell an implicit directory.</li>
 *   <li><b>{@link #get}</b>: {@code GetObject}, streamed; {@link CachedUploadFs} downloads it in the background
 *       to a temp file (reads of the opened file wait only for their own bytes), flushes it and renames it into
 *       the cache, so an interrupted download leaves nothing behind.</li>
 * </ul>
 * Map throttling and 5xx answers to {@link IOException}s (the uploader retries them) and let the SDK's own
 * retries be few, so {@code fsync} stays within its deadline.
 *
 * <p>Sparse files: a cache file with holes is handed to {@link #putSparse}. A store that can keep holes
 * overrides it and writes the data extents only ({@link DirectoryBackend}); an object store cannot (an S3 object
 * is a sequence of bytes, a hole in it is zeros that have to be sent), so the default sends every byte.
 */
public interface Backend extends Closeable {

    /**
     * Stores {@code size} bytes read from {@code data} at {@code path}, replacing what was there. Visible to
     * readers only once complete.
     */
    void put(String path, InputStream data, long size) throws IOException;

    /**
     * Stores {@code content}, whose bytes outside its {@link SparseContent#extents() extents} are zeros, at
     * {@code path}, replacing what was there; visible to readers only once complete. The default sends every
     * byte ({@link #put(String, InputStream, long)}, zeros included): override it when the store can keep holes.
     */
    default void putSparse(String path, SparseContent content) throws IOException {
        try (InputStream in = content.stream()) {
            put(path, in, content.size());
        }
    }

    /** Stores a local file at {@code path}. */
    default void put(String path, Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            put(path, in, Files.size(file));
        }
    }

    /**
     * The content stored at {@code path}; the caller closes the stream.
     *
     * @throws java.nio.file.NoSuchFileException if nothing is stored there
     */
    InputStream get(String path) throws IOException;

    /**
     * The direct children of directory {@code dir} ({@code "/"} for the top level); empty when the directory
     * does not exist.
     */
    List<BackendEntry> list(String dir) throws IOException;

    /** Removes the file at {@code path} (or an empty directory); succeeds when nothing is there. */
    void delete(String path) throws IOException;

    /** The entry at {@code path}: a file, an (implicit) directory, or empty. */
    Optional<BackendEntry> stat(String path) throws IOException;

    /**
     * The longest path, in UTF-8 bytes and with its leading slash, the backend can store a file at (S3: 1024
     * bytes of key, less the prefix). {@link CachedUploadFs} refuses to create or rename anything to a longer
     * path with ENAMETOOLONG up front: the file could be written and closed, but never uploaded. Unlimited by
     * default.
     */
    default int maxPathLength() {
        return Integer.MAX_VALUE;
    }

    /**
     * Whether {@code path} is a name the backend keeps for itself and cannot store anything at
     * ({@link DirectoryBackend}: its {@value DirectoryBackend#INCOMING} directory of uploads in progress, and
     * everything below it). Only top-level names, with everything below them, may be reserved.
     * {@link CachedUploadFs} hides such names from the mount and refuses to create them (EPERM). None by default.
     */
    default boolean reserves(String path) {
        return false;
    }

    /**
     * Releases what the backend holds (an S3 client's connections). {@link CachedUploadFs} does not own its
     * backend: whoever created the backend closes it after the filesystem. Nothing to release by default.
     */
    @Override
    default void close() throws IOException {
        // nothing held
    }
}
