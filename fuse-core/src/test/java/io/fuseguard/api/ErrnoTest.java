package io.fuseguard.api;

import org.junit.jupiter.api.Test;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.SocketException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;

import static org.assertj.core.api.Assertions.assertThat;

/** What the JDK's I/O exceptions convert to, and the table's look-ups. */
class ErrnoTest {

    @Test
    void jdkExceptionTypesAndStrerrorTextsConvert() {
        assertThat(Errno.of(new NoSuchFileException("/x"))).isEqualTo(Errno.ENOENT);
        assertThat(Errno.of(new FileSystemException("/x", null, "Read-only file system"))).isEqualTo(Errno.EROFS);
        assertThat(Errno.of(new FileSystemException("/x", null,
                "Too many levels of symbolic links (NOFOLLOW_LINKS specified)"))).isEqualTo(Errno.ELOOP);
        assertThat(Errno.of(new IOException("No space left on device"))).isEqualTo(Errno.ENOSPC);
        assertThat(Errno.of(new FileNotFoundException("/x (Permission denied)"))).isEqualTo(Errno.EACCES);
    }

    @Test
    void otherExceptionsMessagesAreNotRead() {
        // A backend's failure must stay EIO (logged and counted), whatever its text says.
        assertThat(Errno.of(new SocketException("Broken pipe"))).isNull();
        assertThat(Errno.of(new IOException("upload failed"))).isNull();
        assertThat(Errno.of(new IOException((String) null))).isNull();
    }

    @Test
    void numbersAndAliases() {
        assertThat(Errno.of(11)).isEqualTo(Errno.EAGAIN);
        assertThat(Errno.EWOULDBLOCK.code()).isEqualTo(11);
        assertThat(Errno.of(95)).isEqualTo(Errno.EOPNOTSUPP);
        assertThat(Errno.of(111)).isEqualTo(Errno.ECONNREFUSED);
        assertThat(Errno.of(133)).isEqualTo(Errno.EHWPOISON);
        assertThat(Errno.of(0)).isNull();
        assertThat(Errno.ofDescription("File exists")).isEqualTo(Errno.EEXIST);
    }
}
