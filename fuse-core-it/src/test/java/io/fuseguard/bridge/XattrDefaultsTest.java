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
 * A filesystem without extended attributes: fuseguard answers ENOSYS for the methods it does not override, so
 * the kernel stops asking after the first question, where an EOPNOTSUPP answer had it ask for
 * {@code security.capability} before every write and chown (one more request each); callers see EOPNOTSUPP
 * either way. A filesystem that overrides {@code getxattr} and leaves other names to {@code super} keeps being
 * asked: the default body's ENOTSUP concerns that name only.
 */
class XattrDefaultsTest {
    /** "/" and one writable file "/f" whose writes and chowns are accepted and forgotten; no xattr method. */
    static class NoXattrFs implements FuseFileSystem {
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

    /** As {@link NoXattrFs}, with one attribute, {@code user.k}, on "/f"; other names go to the default. */
    static final class OneXattrFs extends NoXattrFs {
        @Override
        public byte[] getxattr(String path, String name) throws IOException {
            if (path.equals("/f") && name.equals("user.k")) {
                return new byte[] {7};
            }
            return super.getxattr(path, name);
        }
    }

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(NoXattrFs::new, FuseguardConfig.builder()
            .shutdownHook(false).build());

    @RegisterExtension
    final FuseMountExtension one = FuseMountExtension.of(OneXattrFs::new, FuseguardConfig.builder()
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

    @Test
    void anOverrideThatLeavesOtherNamesToSuperIsStillAskedForItsOwn() throws Exception {
        Path f = one.mountPoint().resolve("f");
        Files.write(f, new byte[100], StandardOpenOption.WRITE); // asks for security.capability: super's ENOTSUP
        UserDefinedFileAttributeView view = Files.getFileAttributeView(f, UserDefinedFileAttributeView.class);
        ByteBuffer got = ByteBuffer.allocate(8);
        assertThat(view.read("k", got)).as("user.k read after a name answered by super").isEqualTo(1);
        assertThat(got.get(0)).isEqualTo((byte) 7);
        assertThat(one.mount().metrics().requests(Operation.GETXATTR)).as("GETXATTR requests reaching the override")
                .isGreaterThanOrEqualTo(2);
    }
}
