package io.fuseguard.uring;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Sets the fuse module's {@code enable_uring} parameter for the duration of a test and puts back what it was:
 * fuseguard itself never writes it (an administrator's choice), but the io_uring tests need it on.
 */
final class EnableUring implements AutoCloseable {
    static final Path PARAMETER = Path.of("/sys/module/fuse/parameters/enable_uring");
    private final String previous;

    private EnableUring(String previous) {
        this.previous = previous;
    }

    /** Whether this kernel has the parameter at all (Linux 6.14+ with CONFIG_FUSE_IO_URING). */
    static boolean available() {
        return Files.isWritable(PARAMETER);
    }

    /** Sets it to {@code value} (Y or N), remembering the value it had. */
    static EnableUring set(String value) throws IOException {
        String before = Files.readString(PARAMETER).trim();
        Files.writeString(PARAMETER, value);
        return new EnableUring(before);
    }

    /** Puts the previous value back. */
    @Override
    public void close() throws IOException {
        Files.writeString(PARAMETER, previous);
    }
}
