package io.fuseguard.examples.hello;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The first rung of the example ladder: the smallest useful filesystem. A read-only directory holding one file,
 * {@code /hello}, that contains {@code "Hello, world!\n"}.
 *
 * <p>It shows the whole shape of a fuseguard filesystem: implement one interface ({@link FuseFileSystem}), answer
 * {@link #getattr} with {@link FileAttributes}, and report errors by throwing ({@link ErrnoException}); every
 * operation you do not override already has a sensible answer. The next rungs build on this:
 * {@code PassthroughFs} (mirror a real directory), {@code MemoryFs} (a complete writable filesystem) and
 * {@code CachedUploadFs} (slow remote work at close time, under deadlines). A filesystem already written for
 * jnr-fuse starts at {@code JnrMapFs} instead: it is mounted unchanged, with one line.
 *
 * <p>Run it with {@code java ... io.fuseguard.examples.hello.HelloFs /mnt/hello}, then {@code cat /mnt/hello/hello}.
 */
public final class HelloFs implements FuseFileSystem {
    private static final String FILE = "/hello";
    private static final byte[] CONTENT = "Hello, world!\n".getBytes(StandardCharsets.UTF_8);

    /** Attributes of the root directory and of {@code /hello}; every other path does not exist. */
    @Override
    public FileAttributes getattr(String path) {
        return switch (path) {
            case "/" -> FileAttributes.builder(FileType.DIRECTORY).permissions(0755).build();
            case FILE -> FileAttributes.builder(FileType.REGULAR).permissions(0444).size(CONTENT.length).build();
            // An exception is the error answer: the kernel turns ENOENT into "No such file or directory".
            default -> throw new ErrnoException(Errno.ENOENT);
        };
    }

    /** Lists the root: just {@code hello} (the framework adds "." and ".."). */
    @Override
    public void readdir(String path, DirectorySink sink) {
        if (!path.equals("/")) {
            throw new ErrnoException(Errno.ENOTDIR); // getattr already said /hello is not a directory
        }
        sink.add(FILE.substring(1));
    }

    /** Opens {@code /hello} for reading; writing is refused, because mode 0444 alone does not stop root. */
    @Override
    public long open(String path, OpenFlags flags) {
        getattr(path); // ENOENT for anything that does not exist
        if (flags.writable() || flags.truncate()) {
            throw new ErrnoException(Errno.EROFS);
        }
        return 0; // no per-open state, so any handle will do
    }

    /** Copies the part of the content at {@code offset}; 0 bytes past the end means end of file. */
    @Override
    public int read(String path, long fh, ByteBuffer dst, long offset) {
        if (!path.equals(FILE)) {
            throw new ErrnoException(Errno.ENOENT);
        }
        if (offset >= CONTENT.length) {
            return 0; // the kernel may read past the end (it asks for whole pages); that is EOF, not an error
        }
        int n = (int) Math.min(dst.remaining(), CONTENT.length - offset);
        dst.put(CONTENT, (int) offset, n);
        return n;
    }

    /**
     * Mounts HelloFs on {@code args[0]} and serves it until it is unmounted ({@code umount}, or Ctrl-C, whose
     * shutdown hook unmounts cleanly).
     *
     * @param args the mount point, an existing empty directory
     */
    public static void main(String[] args) throws InterruptedException {
        if (args.length != 1) {
            System.err.println("usage: HelloFs <mount-point>");
            System.exit(2);
        }
        try (FuseMount mount = FuseMount.mount(new HelloFs(), Path.of(args[0]), FuseguardConfig.defaults())) {
            mount.awaitUnmount();
        }
    }
}
