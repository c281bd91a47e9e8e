package io.fuseguard.examples.memory;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.api.FsStats;
import io.fuseguard.api.OpenFlags;
import io.fuseguard.api.RenameMode;
import io.fuseguard.api.XattrMode;
import io.fuseguard.junit.TestCaller;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * MemoryFs called directly, without the kernel: the rules the kernel does not enforce for it (or that
 * in-process callers rely on), with a stepping clock so that time assertions are exact.
 */
class MemoryFsSemanticsTest {
    /** A clock that advances one second every time it is read. */
    static final class SteppingClock extends Clock {
        private final AtomicLong seconds = new AtomicLong(1_000_000_000L);

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochSecond(seconds.incrementAndGet());
        }
    }

    private final MemoryFs fs = MemoryFs.builder().clock(new SteppingClock()).capacity(1L << 20).maxInodes(50)
            .build();

    private TestCaller.Scope caller;

    @AfterEach
    void endCaller() {
        if (caller != null) {
            caller.close();
        }
    }

    private void as(long uid, long gid) {
        caller = TestCaller.actAs(uid, gid);
    }

    private static void assertErrno(Errno errno, ThrowingCallable call) {
        assertThatThrownBy(call).isInstanceOf(ErrnoException.class)
                .satisfies(e -> assertThat(((ErrnoException) e).errno()).isEqualTo(errno));
    }

    private long newFile(String path, String content) {
        long fh = fs.create(path, 0644, OpenFlags.of(0));
        fs.write(path, fh, ByteBuffer.wrap(content.getBytes(StandardCharsets.UTF_8)), 0);
        return fh;
    }

    private String readAll(String path, long fh) {
        ByteBuffer b = ByteBuffer.allocate(1 << 16);
        int n = fs.read(path, fh, b, 0);
        return new String(b.array(), 0, n, StandardCharsets.UTF_8);
    }

    private List<String> list(String dir) {
        List<String> names = new ArrayList<>();
        fs.readdir(dir, new DirectorySink() {
            @Override
            public void add(String name) {
                names.add(name);
            }

            @Override
            public void add(String name, FileAttributes attributes) {
                names.add(name);
            }
        });
        return names;
    }

    @Test
    void newFilesBelongToTheCaller() {
        as(1234, 99);
        fs.mkdir("/d", 0755);
        newFile("/d/f", "x");
        fs.symlink("f", "/d/l");
        assertThat(fs.getattr("/d").uid()).isEqualTo(1234);
        assertThat(fs.getattr("/d/f").uid()).isEqualTo(1234);
        assertThat(fs.getattr("/d/f").gid()).isEqualTo(99);
        assertThat(fs.getattr("/d/l").uid()).isEqualTo(1234);
    }

    @Test
    void setGroupIdDirectoriesPassOnTheirGroup() {
        fs.mkdir("/shared", 02775);
        fs.chown("/shared", OptionalLong.empty(), OptionalLong.of(500));
        as(1000, 1000);
        newFile("/shared/f", "x");
        fs.mkdir("/shared/sub", 0755);
        assertThat(fs.getattr("/shared/f").gid()).isEqualTo(500);
        assertThat(fs.getattr("/shared/sub").gid()).isEqualTo(500);
        assertThat(fs.getattr("/shared/sub").permissions() & 02000).isEqualTo(02000);
    }

    @Test
    void stickyDirectoryProtectsOtherUsersEntries() {
        fs.mkdir("/tmp", 01777);
        as(1000, 1000);
        newFile("/tmp/alice", "a");
        fs.mkdir("/tmp/alicedir", 0755);
        as(2000, 2000);
        newFile("/tmp/bob", "b");
        assertErrno(Errno.EPERM, () -> fs.unlink("/tmp/alice"));
        assertErrno(Errno.EPERM, () -> fs.rmdir("/tmp/alicedir"));
        assertErrno(Errno.EPERM, () -> fs.rename("/tmp/alice", "/tmp/mine"));
        assertErrno(Errno.EPERM, () -> fs.rename("/tmp/bob", "/tmp/alice")); // would replace alice's file
        fs.unlink("/tmp/bob"); // own file: fine
        as(0, 0);
        fs.unlink("/tmp/alice"); // root: fine
        // The directory's owner may remove anything in it.
        fs.chown("/tmp", OptionalLong.of(3000), OptionalLong.of(3000));
        as(3000, 3000);
        fs.rmdir("/tmp/alicedir");
        assertThat(list("/tmp")).containsExactly(".", "..");
    }

    /** The checks of renameat2's modes that the kernel leaves to the filesystem (in-process, so they all run). */
    @Test
    void renameModesRefuseWhatRenameat2Refuses() {
        newFile("/a", "A");
        newFile("/b", "B");
        fs.mkdir("/d", 0755);
        fs.mkdir("/d/sub", 0755);
        assertErrno(Errno.EEXIST, () -> fs.rename("/a", "/b", RenameMode.NO_REPLACE));
        assertErrno(Errno.ENOENT, () -> fs.rename("/a", "/nothing", RenameMode.EXCHANGE));
        assertErrno(Errno.ENOENT, () -> fs.rename("/nothing", "/a", RenameMode.EXCHANGE));
        assertErrno(Errno.EINVAL, () -> fs.rename("/d", "/d/sub", RenameMode.EXCHANGE));
        assertErrno(Errno.EINVAL, () -> fs.rename("/d/sub", "/d", RenameMode.EXCHANGE));
        assertErrno(Errno.EINVAL, () -> fs.rename("/d", "/d/sub/x", RenameMode.NO_REPLACE));
        // What succeeds, and the bookkeeping of directories moved by an exchange.
        fs.rename("/a", "/d/sub", RenameMode.EXCHANGE);
        assertThat(fs.getattr("/a").type()).isEqualTo(FileType.DIRECTORY);
        assertThat(fs.getattr("/d/sub").type()).isEqualTo(FileType.REGULAR);
        assertThat(fs.getattr("/").nlink()).as("/ gained the directory /a").isEqualTo(4);
        assertThat(fs.getattr("/d").nlink()).as("/d lost its subdirectory").isEqualTo(2);
        fs.rename("/b", "/c", RenameMode.NO_REPLACE);
        assertThat(list("/")).contains("c").doesNotContain("b");
    }

    @Test
    void renameReplacesAndRefusesAsPosixSays() {
        newFile("/a", "A");
        newFile("/b", "B");
        fs.mkdir("/d", 0755);
        fs.mkdir("/e", 0755);
        fs.mkdir("/full", 0755);
        newFile("/full/x", "x");

        fs.rename("/a", "/b"); // file over file
        assertThat(list("/")).doesNotContain("a");
        long fh = fs.open("/b", OpenFlags.of(0));
        assertThat(readAll("/b", fh)).isEqualTo("A");

        fs.rename("/d", "/e"); // directory over empty directory
        assertThat(list("/")).doesNotContain("d").contains("e");

        assertErrno(Errno.ENOTEMPTY, () -> fs.rename("/e", "/full"));
        assertErrno(Errno.EISDIR, () -> fs.rename("/b", "/e"));
        assertErrno(Errno.ENOTDIR, () -> fs.rename("/e", "/b"));
        fs.mkdir("/e/inner", 0755);
        assertErrno(Errno.EINVAL, () -> fs.rename("/e", "/e/inner/moved"));
        assertErrno(Errno.EINVAL, () -> fs.rename("/e", "/e/moved"));
        assertErrno(Errno.ENOENT, () -> fs.rename("/nope", "/x"));
        assertErrno(Errno.ENOENT, () -> fs.rename("/b", "/nodir/x"));
        assertErrno(Errno.ENOTDIR, () -> fs.rename("/e", "/b/x"));
        // Renaming a name onto another name of the same file does nothing.
        fs.link("/b", "/b2");
        fs.rename("/b", "/b2");
        assertThat(list("/")).contains("b", "b2");
        assertThat(fs.getattr("/b").nlink()).isEqualTo(2);
    }

    @Test
    void directoryLinkCountsFollowSubdirectories() {
        assertThat(fs.getattr("/").nlink()).isEqualTo(2);
        fs.mkdir("/a", 0755);
        fs.mkdir("/b", 0755);
        fs.mkdir("/a/x", 0755);
        newFile("/a/file", "f");
        assertThat(fs.getattr("/").nlink()).isEqualTo(4);
        assertThat(fs.getattr("/a").nlink()).isEqualTo(3);
        fs.rename("/a/x", "/b/x");
        assertThat(fs.getattr("/a").nlink()).isEqualTo(2);
        assertThat(fs.getattr("/b").nlink()).isEqualTo(3);
        fs.rename("/b", "/a/b"); // replaces nothing, moves a directory one level down
        assertThat(fs.getattr("/").nlink()).isEqualTo(3);
        assertThat(fs.getattr("/a").nlink()).isEqualTo(3);
        fs.rmdir("/a/b/x");
        assertThat(fs.getattr("/a/b").nlink()).isEqualTo(2);
    }

    @Test
    void hardLinksShareOneInode() {
        newFile("/f", "data");
        fs.link("/f", "/g");
        FileAttributes f = fs.getattr("/f");
        assertThat(f.nlink()).isEqualTo(2);
        assertThat(fs.getattr("/g").inode()).isEqualTo(f.inode());
        fs.unlink("/f");
        assertThat(fs.getattr("/g").nlink()).isEqualTo(1);
        long fh = fs.open("/g", OpenFlags.of(0));
        assertThat(readAll("/g", fh)).isEqualTo("data");
        fs.mkdir("/d", 0755);
        assertErrno(Errno.EPERM, () -> fs.link("/d", "/d2"));
        assertErrno(Errno.EEXIST, () -> fs.link("/g", "/d"));
    }

    @Test
    void unlinkedOpenFileLivesUntilReleased() {
        long before = fs.usedInodes();
        long fh = newFile("/f", "still here");
        fs.unlink("/f"); // what libfuse does under hard_remove
        assertErrno(Errno.ENOENT, () -> fs.getattr("/f"));
        assertThat(readAll("/f", fh)).isEqualTo("still here");
        fs.write("/f", fh, ByteBuffer.wrap("!".getBytes()), 10);
        assertThat(readAll("/f", fh)).isEqualTo("still here!");
        assertThat(fs.usedInodes()).isEqualTo(before + 1);
        assertThat(fs.usedBytes()).isPositive();
        fs.release("/f", fh, OpenFlags.of(0));
        assertThat(fs.usedInodes()).isEqualTo(before);
        assertThat(fs.usedBytes()).isZero();
    }

    @Test
    void namesLongerThan255BytesAreRefused() {
        String ok = "a".repeat(255);
        String tooLong = "a".repeat(256);
        String multiByte = "é".repeat(128); // 256 bytes in 128 characters
        newFile("/" + ok, "x");
        assertErrno(Errno.ENAMETOOLONG, () -> fs.create("/" + tooLong, 0644, OpenFlags.of(0)));
        assertErrno(Errno.ENAMETOOLONG, () -> fs.mkdir("/" + multiByte, 0755));
        assertErrno(Errno.ENAMETOOLONG, () -> fs.getattr("/" + tooLong));
        assertErrno(Errno.ENAMETOOLONG, () -> fs.rename("/" + ok, "/" + tooLong));
        assertErrno(Errno.ENAMETOOLONG, () -> fs.symlink("x".repeat(5000), "/l"));
    }

    @Test
    void rmdirRefusesNonEmptyAndNonDirectories() {
        fs.mkdir("/d", 0755);
        newFile("/d/f", "x");
        assertErrno(Errno.ENOTEMPTY, () -> fs.rmdir("/d"));
        assertErrno(Errno.ENOTDIR, () -> fs.rmdir("/d/f"));
        assertErrno(Errno.EISDIR, () -> fs.unlink("/d"));
        fs.unlink("/d/f");
        fs.rmdir("/d");
        assertErrno(Errno.ENOENT, () -> fs.getattr("/d"));
    }

    @Test
    void xattrFlagsAndErrors() {
        newFile("/f", "x");
        fs.setxattr("/f", "user.a", "1".getBytes(), XattrMode.SET);
        assertErrno(Errno.EEXIST, () -> fs.setxattr("/f", "user.a", "2".getBytes(), XattrMode.CREATE));
        fs.setxattr("/f", "user.a", "3".getBytes(), XattrMode.REPLACE);
        assertErrno(Errno.ENODATA, () -> fs.setxattr("/f", "user.b", "4".getBytes(), XattrMode.REPLACE));
        fs.setxattr("/f", "user.b", "5".getBytes(), XattrMode.CREATE);
        assertThat(fs.getxattr("/f", "user.a")).isEqualTo("3".getBytes());
        assertThat(fs.listxattr("/f")).containsExactlyInAnyOrder("user.a", "user.b");
        fs.removexattr("/f", "user.a");
        assertErrno(Errno.ENODATA, () -> fs.getxattr("/f", "user.a"));
        assertErrno(Errno.ENODATA, () -> fs.removexattr("/f", "user.a"));
        assertErrno(Errno.ENOTSUP, () -> fs.setxattr("/f", "system.posix_acl_access", new byte[4], XattrMode.SET));
        assertErrno(Errno.E2BIG, () -> fs.setxattr("/f", "user.big", new byte[MemoryFs.XATTR_SIZE_MAX + 1], XattrMode.SET));
        assertThat(fs.usedBytes()).isEqualTo(4096 + "user.b".length() + 1);
    }

    @Test
    void timestampsFollowPosix() {
        long fh = newFile("/f", "x");
        FileAttributes t0 = fs.getattr("/f");
        FileAttributes root0 = fs.getattr("/");

        fs.write("/f", fh, ByteBuffer.wrap("y".getBytes()), 1);
        FileAttributes t1 = fs.getattr("/f");
        assertThat(t1.mtime()).isAfter(t0.mtime());
        assertThat(t1.ctime()).isEqualTo(t1.mtime());
        assertThat(t1.atime()).isEqualTo(t0.atime());

        fs.read("/f", fh, ByteBuffer.allocate(10), 0);
        FileAttributes t2 = fs.getattr("/f");
        assertThat(t2.atime()).isAfter(t1.atime());
        assertThat(t2.mtime()).isEqualTo(t1.mtime());

        fs.chmod("/f", 0600);
        FileAttributes t3 = fs.getattr("/f");
        assertThat(t3.ctime()).isAfter(t2.ctime());
        assertThat(t3.mtime()).isEqualTo(t2.mtime());

        fs.truncate("/f", 0);
        FileAttributes t4 = fs.getattr("/f");
        assertThat(t4.mtime()).isAfter(t3.mtime());
        assertThat(t4.ctime()).isEqualTo(t4.mtime());

        Instant past = Instant.parse("2001-02-03T04:05:06.789Z");
        fs.utimens("/f", Optional.empty(), Optional.of(past));
        FileAttributes t5 = fs.getattr("/f");
        assertThat(t5.mtime()).isEqualTo(past);
        assertThat(t5.atime()).isEqualTo(t4.atime()); // null = unchanged
        assertThat(t5.ctime()).isAfter(t4.ctime());
        fs.utimens("/f", Optional.empty(), Optional.empty());
        assertThat(fs.getattr("/f").ctime()).isEqualTo(t5.ctime());

        fs.link("/f", "/g");
        FileAttributes t6 = fs.getattr("/f");
        assertThat(t6.ctime()).isAfter(t5.ctime());
        FileAttributes root1 = fs.getattr("/");
        assertThat(root1.mtime()).isAfter(root0.mtime());
        assertThat(root1.ctime()).isEqualTo(root1.mtime());

        fs.rename("/g", "/h");
        assertThat(fs.getattr("/h").ctime()).isAfter(t6.ctime());
        assertThat(fs.getattr("/").mtime()).isAfter(root1.mtime());
    }

    @Test
    void efbigPastTheMaximumFileSize() {
        MemoryFs small = MemoryFs.builder().maxFileSize(10_000).build();
        long fh = small.create("/f", 0644, OpenFlags.of(0));
        assertErrno(Errno.EFBIG, () -> small.truncate("/f", 10_001));
        small.truncate("/f", 10_000);
        // A write crossing the limit is shortened to it; the next one fails.
        assertThat(small.write("/f", fh, ByteBuffer.allocate(100), 9_950)).isEqualTo(50);
        assertErrno(Errno.EFBIG, () -> small.write("/f", fh, ByteBuffer.allocate(1), 10_000));
    }

    @Test
    void inodeLimitAndCapacityGiveEnospcAndStatfsReportsThem() {
        MemoryFs tiny = MemoryFs.builder().capacity(64 * 1024).maxInodes(3).build();
        long fh = tiny.create("/a", 0644, OpenFlags.of(0));
        tiny.mkdir("/d", 0755);
        assertErrno(Errno.ENOSPC, () -> tiny.create("/b", 0644, OpenFlags.of(0)));
        assertErrno(Errno.ENOSPC, () -> tiny.symlink("a", "/l"));
        tiny.write("/a", fh, ByteBuffer.allocate(60_000), 0);
        assertErrno(Errno.ENOSPC, () -> tiny.write("/a", fh, ByteBuffer.allocate(10_000), 60_000));
        FsStats s = tiny.statfs("/");
        assertThat(s.blockSize()).isEqualTo(4096);
        assertThat(s.totalBlocks()).isEqualTo(16);
        assertThat(s.freeBlocks()).isZero(); // 60,000 bytes sit in a 64 KiB chunk
        assertThat(s.totalFiles()).isEqualTo(3);
        assertThat(s.freeFiles()).isZero();
        tiny.release("/a", fh, OpenFlags.of(0));
        tiny.unlink("/a");
        FsStats after = tiny.statfs("/");
        assertThat(after.freeBlocks()).isEqualTo(16);
        assertThat(after.freeFiles()).isEqualTo(1);
    }

    @Test
    void typeErrors() {
        fs.mkdir("/d", 0755);
        newFile("/f", "x");
        fs.symlink("/f", "/l");
        assertErrno(Errno.EISDIR, () -> fs.truncate("/d", 0));
        assertErrno(Errno.EINVAL, () -> fs.readlink("/f"));
        assertErrno(Errno.ENOTDIR, () -> fs.getattr("/f/x"));
        assertErrno(Errno.ENOTDIR, () -> fs.create("/f/x", 0644, OpenFlags.of(0)));
        assertErrno(Errno.EEXIST, () -> fs.mkdir("/f", 0755));
        assertErrno(Errno.EEXIST, () -> fs.create("/f", 0644, OpenFlags.of(0200 /* O_EXCL */)));
        assertErrno(Errno.EBUSY, () -> fs.rmdir("/"));
        assertThat(fs.getattr("/l").type()).isEqualTo(FileType.SYMLINK);
        assertThat(fs.getattr("/l").size()).isEqualTo(2);
        assertThat(fs.readlink("/l")).isEqualTo("/f");
    }

    private static final int S_IFIFO = 0010000;
    private static final int S_IFCHR = 0020000;
    private static final int S_IFBLK = 0060000;
    private static final int S_IFSOCK = 0140000;

    @Test
    void mknodCreatesSpecialFilesOwnedLikeFiles() {
        FileAttributes root0 = fs.getattr("/");
        as(1234, 99);
        fs.mknod("/fifo", FileType.FIFO, 0640, 0x0103); // a FIFO's device number means nothing and is dropped
        fs.mknod("/null", FileType.CHARACTER_DEVICE, 0666, 0x0103);
        fs.mknod("/loop", FileType.BLOCK_DEVICE, 0600, (7 << 8) | 200);
        fs.mknod("/sock", FileType.SOCKET, 0755, 0);
        FileAttributes fifo = fs.getattr("/fifo");
        assertThat(fifo.type()).isEqualTo(FileType.FIFO);
        assertThat(fifo.permissions()).isEqualTo(0640);
        assertThat(fifo.mode()).isEqualTo(S_IFIFO | 0640);
        assertThat(fifo.uid()).isEqualTo(1234);
        assertThat(fifo.gid()).isEqualTo(99);
        assertThat(fifo.size()).isZero();
        assertThat(fifo.blocks()).isZero();
        assertThat(fifo.nlink()).isEqualTo(1);
        assertThat(fifo.rdev()).isZero();
        assertThat(fifo.atime()).isEqualTo(fifo.mtime()).isEqualTo(fifo.ctime());
        assertThat(fifo.ctime()).isAfter(root0.mtime());
        assertThat(fs.getattr("/null").type()).isEqualTo(FileType.CHARACTER_DEVICE);
        assertThat(fs.getattr("/null").rdev()).isEqualTo(0x0103);
        assertThat(fs.getattr("/loop").type()).isEqualTo(FileType.BLOCK_DEVICE);
        assertThat(fs.getattr("/loop").rdev()).isEqualTo((7 << 8) | 200);
        assertThat(fs.getattr("/sock").type()).isEqualTo(FileType.SOCKET);
        assertThat(fs.getattr("/sock").rdev()).isZero();
        // The new entry changed the directory.
        FileAttributes root1 = fs.getattr("/");
        assertThat(root1.mtime()).isAfter(root0.mtime());
        assertThat(root1.ctime()).isEqualTo(root1.mtime());
        // readdir reports the types (the kernel fills d_type from them).
        List<FileType> types = new ArrayList<>();
        fs.readdir("/", new DirectorySink() {
            @Override
            public void add(String name) {
                throw new AssertionError("expected attributes for " + name);
            }

            @Override
            public void add(String name, FileAttributes attributes) {
                types.add(attributes.type());
            }
        });
        assertThat(types).containsExactly(FileType.DIRECTORY, FileType.DIRECTORY, FileType.FIFO,
                FileType.CHARACTER_DEVICE, FileType.BLOCK_DEVICE, FileType.SOCKET);
        assertThat(fs.usedBytes()).isZero();
    }

    @Test
    void mknodFollowsTheRulesOfCreate() {
        fs.mkdir("/shared", 02775);
        fs.chown("/shared", OptionalLong.empty(), OptionalLong.of(500));
        newFile("/f", "x");
        as(1000, 1000);
        fs.mknod("/shared/p", FileType.FIFO, 0644, 0);
        assertThat(fs.getattr("/shared/p").gid()).isEqualTo(500);
        assertErrno(Errno.EEXIST, () -> fs.mknod("/shared/p", FileType.FIFO, 0644, 0));
        assertErrno(Errno.EEXIST, () -> fs.mknod("/f", FileType.CHARACTER_DEVICE, 0644, 0));
        assertErrno(Errno.EEXIST, () -> fs.mknod("/shared", FileType.SOCKET, 0644, 0));
        assertErrno(Errno.ENOENT, () -> fs.mknod("/nodir/p", FileType.FIFO, 0644, 0));
        assertErrno(Errno.ENOTDIR, () -> fs.mknod("/f/p", FileType.FIFO, 0644, 0));
        assertErrno(Errno.ENAMETOOLONG, () -> fs.mknod("/" + "p".repeat(256), FileType.FIFO, 0644, 0));
        assertErrno(Errno.EBUSY, () -> fs.mknod("/", FileType.FIFO, 0644, 0));
        // mknod(2)'s answers for the types that have their own calls (the kernel itself refuses type bits that
        // mean nothing, before asking the filesystem).
        assertErrno(Errno.EPERM, () -> fs.mknod("/dir", FileType.DIRECTORY, 0755, 0));
        assertErrno(Errno.EINVAL, () -> fs.mknod("/lnk", FileType.SYMLINK, 0777, 0));
        // A regular file: empty, as on Linux (the kernel sends no type bits as S_IFREG).
        fs.mknod("/shared/plain", FileType.REGULAR, 0600, 0);
        fs.mknod("/shared/reg", FileType.REGULAR, 0644, 0);
        assertThat(fs.getattr("/shared/plain").type()).isEqualTo(FileType.REGULAR);
        assertThat(fs.getattr("/shared/plain").permissions()).isEqualTo(0600);
        long fh = fs.open("/shared/reg", OpenFlags.of(0));
        fs.write("/shared/reg", fh, ByteBuffer.wrap("data".getBytes()), 0);
        assertThat(readAll("/shared/reg", fh)).isEqualTo("data");
        fs.release("/shared/reg", fh, OpenFlags.of(0));

        MemoryFs tiny = MemoryFs.builder().maxInodes(2).build();
        tiny.mknod("/one", FileType.FIFO, 0644, 0);
        assertErrno(Errno.ENOSPC, () -> tiny.mknod("/two", FileType.SOCKET, 0644, 0));
        tiny.unlink("/one");
        tiny.mknod("/two", FileType.SOCKET, 0644, 0);
        assertThat(tiny.usedInodes()).isEqualTo(2);
    }

    @Test
    void specialFilesAreRenamedLinkedChangedAndRemovedLikeFiles() {
        long before = fs.usedInodes();
        fs.mkdir("/d", 0755);
        fs.mknod("/p", FileType.FIFO, 06755, 0);
        fs.mknod("/c", FileType.CHARACTER_DEVICE, 0644, 0x0105);
        long ino = fs.getattr("/p").inode();

        fs.rename("/p", "/d/p");
        assertThat(fs.getattr("/d/p").inode()).isEqualTo(ino);
        assertErrno(Errno.ENOENT, () -> fs.getattr("/p"));
        fs.link("/d/p", "/q");
        assertThat(fs.getattr("/q").nlink()).isEqualTo(2);
        fs.rename("/c", "/q"); // a device over a FIFO: any non-directory may replace another
        assertThat(fs.getattr("/q").rdev()).isEqualTo(0x0105);
        assertThat(fs.getattr("/d/p").nlink()).isEqualTo(1);
        assertErrno(Errno.EISDIR, () -> fs.rename("/q", "/d"));
        assertErrno(Errno.ENOTDIR, () -> fs.rename("/d", "/q"));

        // Attribute changes work as on any file; chown drops set-user-ID and set-group-ID as Linux does
        // for every non-directory.
        FileAttributes a0 = fs.getattr("/d/p");
        fs.chown("/d/p", OptionalLong.of(42), OptionalLong.of(43));
        FileAttributes a1 = fs.getattr("/d/p");
        assertThat(a1.uid()).isEqualTo(42);
        assertThat(a1.gid()).isEqualTo(43);
        assertThat(a1.permissions()).isEqualTo(0755);
        assertThat(a1.ctime()).isAfter(a0.ctime());
        fs.chmod("/d/p", 0600);
        Instant past = Instant.parse("2001-02-03T04:05:06Z");
        fs.utimens("/d/p", Optional.of(past), Optional.of(past));
        FileAttributes a2 = fs.getattr("/d/p");
        assertThat(a2.permissions()).isEqualTo(0600);
        assertThat(a2.mtime()).isEqualTo(past);
        assertThat(a2.type()).isEqualTo(FileType.FIFO);
        fs.setxattr("/d/p", "user.note", "x".getBytes(), XattrMode.SET);
        assertThat(fs.getxattr("/d/p", "user.note")).isEqualTo("x".getBytes());

        // They have no content here (the kernel does their I/O), and are not directories or symlinks.
        assertErrno(Errno.EINVAL, () -> fs.truncate("/d/p", 0));
        assertErrno(Errno.EINVAL, () -> fs.readlink("/q"));
        assertErrno(Errno.ENOTDIR, () -> fs.rmdir("/q"));
        assertErrno(Errno.ENOTDIR, () -> fs.getattr("/q/x"));

        fs.unlink("/d/p");
        fs.unlink("/q");
        fs.rmdir("/d");
        assertThat(list("/")).containsExactly(".", "..");
        assertThat(fs.usedInodes()).isEqualTo(before);
        assertThat(fs.usedBytes()).isZero();
    }

    /** Many threads creating, writing, renaming and deleting: nothing is lost and accounting returns to zero. */
    @Test
    void concurrentUseKeepsTheAccountingExact() throws Exception {
        MemoryFs big = MemoryFs.builder().capacity(256L << 20).maxInodes(100_000).build();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                int id = t;
                jobs.add(pool.submit(() -> {
                    big.mkdir("/t" + id, 0755);
                    byte[] payload = new byte[100_000];
                    java.util.Arrays.fill(payload, (byte) id);
                    for (int i = 0; i < 200; i++) {
                        String p = "/t" + id + "/f" + i;
                        long fh = big.create(p, 0644, OpenFlags.of(0));
                        big.write(p, fh, ByteBuffer.wrap(payload), 0);
                        big.rename(p, p + ".done");
                        ByteBuffer back = ByteBuffer.allocate(payload.length);
                        assertThat(big.read(p + ".done", fh, back, 0)).isEqualTo(payload.length);
                        assertThat(back.array()).isEqualTo(payload);
                        big.release(p, fh, OpenFlags.of(0));
                        if (i % 2 == 0) {
                            big.unlink(p + ".done");
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : jobs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(big.usedInodes()).isEqualTo(1 + 8 + 8 * 100);
        // 100,000 bytes = one full 64 KiB chunk + 34,464 bytes in a 64 KiB array (next power of two).
        assertThat(big.usedBytes()).isEqualTo(8L * 100 * (65536 + 65536));
        for (int t = 0; t < 8; t++) {
            for (int i = 1; i < 200; i += 2) {
                big.unlink("/t" + t + "/f" + i + ".done");
            }
            big.rmdir("/t" + t);
        }
        assertThat(big.usedInodes()).isEqualTo(1);
        assertThat(big.usedBytes()).isZero();
        assertThat(big.getattr("/").nlink()).isEqualTo(2);
    }
}
