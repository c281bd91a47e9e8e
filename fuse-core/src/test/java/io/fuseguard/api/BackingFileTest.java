package io.fuseguard.api;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A backing file names exactly the descriptor of what the filesystem has open, however it holds it. */
class BackingFileTest {
    @TempDir
    Path dir;

    private static Path target(int fd) throws Exception {
        return Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd));
    }

    @Test
    void aChannelsAndAFileDescriptorsDescriptorIsTheOpenFile() throws Exception {
        Path f = Files.writeString(dir.resolve("f"), "x");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ);
             RandomAccessFile raf = new RandomAccessFile(f.toFile(), "r")) {
            assertThat(target(BackingFile.of(ch).descriptor())).isEqualTo(f);
            assertThat(target(BackingFile.of(raf.getFD()).descriptor())).isEqualTo(f);
            assertThat(BackingFile.of(ch).descriptor()).isNotEqualTo(BackingFile.of(raf.getFD()).descriptor());
        }
    }

    @Test
    void aClosedChannelHasNoDescriptorAndNegativeNumbersAreRefused() throws Exception {
        FileChannel ch = FileChannel.open(Files.writeString(dir.resolve("g"), "y"), StandardOpenOption.READ);
        ch.close();
        assertThat(BackingFile.of(ch).descriptor()).isEqualTo(-1);
        assertThat(BackingFile.ofDescriptor(7).descriptor()).isEqualTo(7);
        assertThatThrownBy(() -> BackingFile.ofDescriptor(-1)).isInstanceOf(IllegalArgumentException.class);
    }
}
