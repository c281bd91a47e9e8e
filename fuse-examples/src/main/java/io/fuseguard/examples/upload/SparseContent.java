package io.fuseguard.examples.upload;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * A file's content as its data extents: every byte outside them is a zero the file does not store (a hole).
 * {@link CachedUploadFs} hands a cache file with holes to {@link Backend#putSparse}, so a backend that can keep
 * holes (a {@link DirectoryBackend}) never reads or sends them: a 1 TiB file holding 4 KiB of data costs 4 KiB.
 */
public interface SparseContent {
    /** A range of the file that holds data. */
    record Extent(long offset, long length) {
    }

    /** The file's size, holes included. */
    long size();

    /** The data extents, ascending and disjoint, within {@link #size()}. */
    List<Extent> extents() throws IOException;

    /**
     * Reads bytes at {@code position} into {@code dst} until it is full or the content ends.
     *
     * @return the bytes read (fewer than asked only at the end)
     */
    int read(ByteBuffer dst, long position) throws IOException;

    /** The whole content as a stream of {@link #size()} bytes, holes as zeros. */
    InputStream stream() throws IOException;
}
