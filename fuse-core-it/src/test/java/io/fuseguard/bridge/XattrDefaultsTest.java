package io.fuseguard.bridge;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FuseFileSystem;
import io.fuseguard.api.Operation;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseMountExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.util.OptionalLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A filesystem without extended attributes: fuseguard's defaults answer ENOSYS, so the kernel stops asking after
 * the first question, where an EOPNOTSUPP answer had it ask for {@code security.capability} before every write
 * and chown (one more request each); callers see EOPNOTSUPP either way.
 */
class XattrDefaultsTest {
    /** "/" and one writable file "/f" whose writes and chowns are accepted and forgotten; no xattr method. */
    static final class NoXattrFs implements FuseFileSystem {
        @Override
        public FileAttributes getattr(String path) throws IOException {
            return switch (path) {
                case "/" -> FileAttributes.builder(FileType.DIRECTORY).permissions(0755).build();
                case "/f" -> FileAttributes.builder(FileType.REGULAR).permissions(0666).build();
                default -> throw new ErrnoException(Errno.ENOENT);
            };
        }

        @Override
        public int write(String path, long fh, ByteBuffer src, long offset) {
            int n = src.remaining();
            src.position(src.limit());
            return n;
        }

        @Override
        public void truncate(String path, long size) {
        }

        @Override
        public void chown(String path, OptionalLong uid, OptionalLong gid) {
        }
    }

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(NoXattrFs::new, FuseguardConfig.builder()
            .shutdownHook(false).build());

    @Test
    void withoutXattrMethodsTheKernelAsksOnceThenNeverBeforeWritesAndChowns() throws Exception {
        Path f = fuse.mountPoint().resolve("f");
        for (int i = 0; i < 20; i++) {
            Files.write(f, new byte[100], StandardOpenOption.WRITE);
            Files.setAttribute(f, "unix:uid", 1000 + i);
        }
        assertThat(fuse.mount().metrics().requests(Operation.GETXATTR))
                .as("GETXATTR requests for 20 writes and 20 chowns (one ENOSYS answer, then the kernel stops)")
                .isLessThanOrEqualTo(1);
        UserDefinedFileAttributeView view = Files.getFileAttributeView(f, UserDefinedFileAttributeView.class);
        assertThatThrownBy(() -> view.write("k", ByteBuffer.wrap(new byte[] {1})))
                .as("setxattr").isInstanceOf(IOException.class).hasMessageContaining("not supported");
        assertThatThrownBy(() -> view.read("k", ByteBuffer.allocate(8)))
                .as("getxattr").isInstanceOf(IOException.class).hasMessageContaining("not supported");
    }
}
