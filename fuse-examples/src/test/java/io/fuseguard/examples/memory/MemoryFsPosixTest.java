package io.fuseguard.examples.memory;

import io.fuseguard.junit.FuseMountExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileStore;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import static io.fuseguard.examples.memory.MountedFsSupport.run;
import static io.fuseguard.examples.memory.MountedFsSupport.sh;
import static io.fuseguard.examples.memory.MountedFsSupport.stat;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * MemoryFs through the real kernel: java.nio and ordinary programs (coreutils) against a fresh mount per test.
 */
class MemoryFsPosixTest {
    private static final long CAPACITY = 64L << 20;

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(
            () -> MemoryFs.builder().capacity(CAPACITY).maxInodes(10_000).build(), MountedFsSupport.config());

    @TempDir
    Path local;

    private Path mnt(String name) {
        return fuse.mountPoint().resolve(name);
    }

    private MemoryFs fs() {
        return (MemoryFs) fuse.fileSystem();
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static FileTime ctime(Path p) throws Exception {
        return (FileTime) Files.getAttribute(p, "unix:ctime", LinkOption.NOFOLLOW_LINKS);
    }

    /** The options of this test's mount, as /proc/mounts lists them. */
    private List<String> mountOptions() throws Exception {
        String mp = fuse.mountPoint().toRealPath().toString();
        return Files.readAllLines(Path.of("/proc/mounts")).stream().map(l -> l.split(" "))
                .filter(f -> f.length > 3 && f[1].equals(mp)).findFirst()
                .map(f -> Arrays.asList(f[3].split(","))).orElseThrow(() -> new AssertionError("not mounted: " + mp));
    }

    private static void tick() throws InterruptedException {
        Thread.sleep(15); // timestamps have microsecond resolution or better; make "later" unambiguous
    }

    @Test
    void createWriteReadAndAppend() throws Exception {
        Path f = mnt("hello.txt");
        Files.writeString(f, "hello\n");
        sh("echo world >> " + f).assertOk();
        assertThat(run("cat", f.toString()).assertOk().out()).isEqualTo("hello\nworld\n");
        Files.writeString(f, "!", StandardOpenOption.APPEND);
        assertThat(Files.readString(f)).isEqualTo("hello\nworld\n!");
        assertThat(stat("%s", f)).isEqualTo("13");
        // Overwrite in place with O_TRUNC.
        Files.writeString(f, "short");
        assertThat(run("cat", f.toString()).assertOk().out()).isEqualTo("short");
    }

    @Test
    void largeFilesRoundTripThroughCpAndDd() throws Exception {
        byte[] data = random(5 * 1024 * 1024 + 123, 1);
        Path src = local.resolve("src.bin");
        Files.write(src, data);
        Path big = mnt("big.bin");
        run("cp", src.toString(), big.toString()).assertOk();
        assertThat(Files.mismatch(src, big)).isEqualTo(-1L);
        Path back = local.resolve("back.bin");
        run("dd", "if=" + big, "of=" + back, "bs=1M", "status=none").assertOk();
        assertThat(Files.mismatch(src, back)).isEqualTo(-1L);
        assertThat(stat("%s", big)).isEqualTo(String.valueOf(data.length));
    }

    @Test
    void truncateDownAndUp() throws Exception {
        Path f = mnt("t.bin");
        byte[] data = random(100_000, 2);
        Files.write(f, data);
        assertThat(Long.parseLong(stat("%b", f))).isEqualTo((65536 + 65536) / 512); // 64 KiB + 34,464 B in 64 KiB

        run("truncate", "-s", "10000", f.toString()).assertOk();
        assertThat(Files.size(f)).isEqualTo(10_000);
        assertThat(Files.readAllBytes(f)).isEqualTo(Arrays.copyOf(data, 10_000));
        assertThat(stat("%b", f)).isEqualTo(String.valueOf(16384 / 512)); // the kept chunk shrank to 16 KiB

        run("truncate", "-s", "200000", f.toString()).assertOk();
        byte[] grown = Files.readAllBytes(f);
        assertThat(grown).hasSize(200_000);
        assertThat(Arrays.copyOf(grown, 10_000)).isEqualTo(Arrays.copyOf(data, 10_000));
        assertThat(Arrays.copyOfRange(grown, 10_000, 200_000)).containsOnly((byte) 0); // old bytes gone
        assertThat(stat("%b", f)).isEqualTo(String.valueOf(16384 / 512)); // growing allocated nothing

        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
            ch.truncate(5); // ftruncate(2)
        }
        assertThat(Files.readAllBytes(f)).isEqualTo(Arrays.copyOf(data, 5));
    }

    @Test
    void sparseFilesReadZerosInHolesAndAllocateOnlyWhatWasWritten() throws Exception {
        Path f = mnt("sparse.bin");
        // dd seeks 10 MiB past the (empty) end and writes one 4 KiB block.
        sh("printf 'ABCD' | dd of=" + f + " bs=4096 seek=2560 conv=sync status=none").assertOk();
        assertThat(Files.size(f)).isEqualTo(10L * 1024 * 1024 + 4096);
        assertThat(stat("%b", f)).isEqualTo("8"); // one 4 KiB allocation, in 512-byte blocks
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer hole = ByteBuffer.allocate(1 << 20);
            ch.read(hole, 5L << 20);
            assertThat(hole.array()).containsOnly((byte) 0);
            ByteBuffer tail = ByteBuffer.allocate(4);
            ch.read(tail, 10L << 20);
            assertThat(new String(tail.array(), StandardCharsets.US_ASCII)).isEqualTo("ABCD");
            // A write 1 GiB further out: the file size jumps, the allocation does not.
            ch.write(ByteBuffer.wrap("end".getBytes()), 1L << 30);
        }
        assertThat(Files.size(f)).isEqualTo((1L << 30) + 3);
        assertThat(stat("%b", f)).isEqualTo("16");
        assertThat(fs().usedBytes()).isEqualTo(8192);
    }

    @Test
    void renameReplacesExistingEntries() throws Exception {
        Files.writeString(mnt("a"), "A");
        Files.writeString(mnt("b"), "B");
        run("mv", mnt("a").toString(), mnt("b").toString()).assertOk(); // file over file
        assertThat(Files.exists(mnt("a"))).isFalse();
        assertThat(Files.readString(mnt("b"))).isEqualTo("A");

        Files.createDirectories(mnt("d1/sub"));
        Files.writeString(mnt("d1/sub/x"), "x");
        Files.createDirectory(mnt("d2"));
        Files.move(mnt("d1"), mnt("d2"), StandardCopyOption.ATOMIC_MOVE); // directory over empty directory
        assertThat(Files.readString(mnt("d2/sub/x"))).isEqualTo("x");
        assertThat(Files.exists(mnt("d1"))).isFalse();

        Files.createDirectory(mnt("empty"));
        assertThatThrownBy(() -> Files.move(mnt("empty"), mnt("d2"), StandardCopyOption.ATOMIC_MOVE))
                .isInstanceOf(FileSystemException.class).hasMessageContaining("Directory not empty");
        assertThatThrownBy(() -> Files.move(mnt("b"), mnt("empty"), StandardCopyOption.ATOMIC_MOVE))
                .isInstanceOf(FileSystemException.class).hasMessageContaining("Is a directory");
        assertThatThrownBy(() -> Files.move(mnt("empty"), mnt("b"), StandardCopyOption.ATOMIC_MOVE))
                .isInstanceOf(FileSystemException.class).hasMessageContaining("Not a directory");
        assertThatThrownBy(() -> Files.move(mnt("d2"), mnt("d2/sub/inside"), StandardCopyOption.ATOMIC_MOVE))
                .isInstanceOf(FileSystemException.class).hasMessageContaining("Invalid argument");
        // Nothing moved by the failed attempts.
        assertThat(Files.readString(mnt("b"))).isEqualTo("A");
        assertThat(Files.readString(mnt("d2/sub/x"))).isEqualTo("x");
    }

    @Test
    void unlinkedOpenFileStaysReadableAndWritableUntilClosed() throws Exception {
        long inodesBefore = fs().usedInodes();
        Path f = mnt("doomed");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap("still here".getBytes()));
            run("rm", f.toString()).assertOk();
            assertThat(Files.exists(f, LinkOption.NOFOLLOW_LINKS)).isFalse();
            ByteBuffer b = ByteBuffer.allocate(64);
            ch.read(b, 0);
            assertThat(new String(b.array(), 0, b.position())).isEqualTo("still here");
            ch.write(ByteBuffer.wrap("!".getBytes()), 10);
            ByteBuffer again = ByteBuffer.allocate(64);
            ch.read(again, 0);
            assertThat(new String(again.array(), 0, again.position())).isEqualTo("still here!");
            assertThat(ch.size()).isEqualTo(11);
        }
        // RELEASE is asynchronous: the inode goes once the kernel sent it (and libfuse removed its hidden name).
        await().atMost(Duration.ofSeconds(5)).until(() -> fs().usedInodes() == inodesBefore);
        try (Stream<Path> s = Files.list(fuse.mountPoint())) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith(".fuse_hidden"));
        }
        assertThat(fs().usedBytes()).isZero();
    }

    @Test
    void mkdirAndRmdirOfNonEmptyDirectory() throws Exception {
        run("mkdir", "-p", mnt("a/b/c").toString()).assertOk();
        MountedFsSupport.Result r = run("rmdir", mnt("a").toString());
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("Directory not empty");
        assertThatThrownBy(() -> Files.delete(mnt("a/b"))).isInstanceOf(DirectoryNotEmptyException.class);
        assertThat(run("mkdir", mnt("a/b").toString()).err()).contains("File exists");
        run("rmdir", mnt("a/b/c").toString(), mnt("a/b").toString(), mnt("a").toString()).assertOk();
        assertThat(Files.exists(mnt("a"))).isFalse();
    }

    @Test
    void readdirListsEveryEntry() throws Exception {
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            Files.writeString(mnt("file-" + i), "x");
            expected.add("file-" + i);
        }
        Files.createDirectory(mnt("dir"));
        Files.createSymbolicLink(mnt("link"), Path.of("file-0"));
        expected.addAll(List.of("dir", "link"));
        try (Stream<Path> s = Files.list(fuse.mountPoint())) {
            assertThat(s.map(p -> p.getFileName().toString()).toList()).containsExactlyInAnyOrderElementsOf(expected);
        }
        String ls = run("ls", "-1a", fuse.mountPoint().toString()).assertOk().out();
        List<String> withDots = new ArrayList<>(expected);
        withDots.addAll(List.of(".", ".."));
        assertThat(ls.lines().toList()).containsExactlyInAnyOrderElementsOf(withDots);
        assertThat(run("ls", "-l", fuse.mountPoint().toString()).assertOk().out()).contains("link -> file-0");
    }

    @Test
    void symlinksAndReadlink() throws Exception {
        Files.createDirectory(mnt("d"));
        Files.writeString(mnt("d/target.txt"), "through the link");
        run("ln", "-s", "d/target.txt", mnt("rel").toString()).assertOk();
        run("ln", "-s", "/nowhere/at/all", mnt("dangling").toString()).assertOk();
        assertThat(Files.readSymbolicLink(mnt("rel"))).isEqualTo(Path.of("d/target.txt"));
        assertThat(run("readlink", mnt("dangling").toString()).assertOk().out().trim()).isEqualTo("/nowhere/at/all");
        assertThat(run("cat", mnt("rel").toString()).assertOk().out()).isEqualTo("through the link");
        assertThat(stat("%F %s", mnt("rel"))).isEqualTo("symbolic link 12");
        assertThat(Files.exists(mnt("dangling"))).isFalse();
        assertThat(Files.exists(mnt("dangling"), LinkOption.NOFOLLOW_LINKS)).isTrue();
        assertThat(run("ln", "-s", "x", mnt("rel").toString()).err()).contains("File exists");
    }

    @Test
    void hardLinksShareContentAndCountLinks() throws Exception {
        Files.writeString(mnt("f"), "one");
        run("ln", mnt("f").toString(), mnt("g").toString()).assertOk();
        assertThat(stat("%h", mnt("f"))).isEqualTo("2");
        assertThat(stat("%i", mnt("g"))).isEqualTo(stat("%i", mnt("f")));
        Files.writeString(mnt("g"), "two", StandardOpenOption.APPEND);
        assertThat(run("cat", mnt("f").toString()).assertOk().out()).isEqualTo("onetwo");
        run("rm", mnt("f").toString()).assertOk();
        assertThat(stat("%h", mnt("g"))).isEqualTo("1");
        assertThat(Files.readString(mnt("g"))).isEqualTo("onetwo");
        Files.createDirectory(mnt("dir"));
        assertThat(run("ln", mnt("dir").toString(), mnt("dirlink").toString()).exit()).isNotZero();
    }

    @Test
    void directoryLinkCountIsTwoPlusSubdirectories() throws Exception {
        Files.createDirectories(mnt("d/a"));
        Files.createDirectories(mnt("d/b"));
        Files.writeString(mnt("d/file"), "not a directory");
        assertThat(stat("%h", mnt("d"))).isEqualTo("4");
        assertThat(stat("%h", mnt("d/a"))).isEqualTo("2");
        assertThat(stat("%h", fuse.mountPoint())).isEqualTo("3");
        run("mv", mnt("d/a").toString(), mnt("a").toString()).assertOk();
        assertThat(stat("%h", mnt("d"))).isEqualTo("3");
        assertThat(stat("%h", fuse.mountPoint())).isEqualTo("4");
    }

    @Test
    void fifoIsCreatedAndCarriesDataBetweenProcesses() throws Exception {
        Path fifo = mnt("fifo");
        run("mkfifo", "-m", "0640", fifo.toString()).assertOk();
        assertThat(stat("%F %a %s", fifo)).isEqualTo("fifo 640 0");
        assertThat(Files.isRegularFile(fifo)).isFalse();
        // The kernel runs the pipe: a reader and a writer meet in it, the filesystem never sees the bytes.
        Path out = mnt("out");
        sh("cat " + fifo + " > " + out + " & echo hi > " + fifo + "; wait").assertOk();
        assertThat(Files.readString(out)).isEqualTo("hi\n");
        assertThat(stat("%s", fifo)).isEqualTo("0");
        assertThat(fs().usedBytes()).isEqualTo(4096); // only "out" holds content
        assertThat(run("mkfifo", fifo.toString()).err()).contains("File exists");
    }

    @Test
    void deviceNodesReportTheirTypeAndDeviceNumber() throws Exception {
        Path chr = mnt("null");
        run("mknod", chr.toString(), "c", "1", "3").assertOk();
        assertThat(stat("%t %T %F", chr)).isEqualTo("1 3 character special file");
        // Opening it is the kernel's business: on a "dev" mount it opens the real /dev/null driver; libfuse 2
        // mounts "nodev" unless told otherwise, and then the kernel refuses (EACCES) before asking MemoryFs.
        MountedFsSupport.Result open = sh("echo gone > " + chr + " && wc -c < " + chr);
        if (mountOptions().contains("nodev")) {
            assertThat(open.err()).contains("Permission denied");
        } else {
            assertThat(open.assertOk().out().trim()).isEqualTo("0");
        }
        Path blk = mnt("blk");
        run("mknod", "-m", "0600", blk.toString(), "b", "7", "200").assertOk();
        assertThat(stat("%t %T %F %a %s", blk)).isEqualTo("7 c8 block special file 600 0"); // %T is hex
        // bind(2) of a unix socket creates the socket file with mknod; connecting to it finds the listener
        // through the inode, again without the filesystem.
        Path sock = mnt("sock");
        assertThat(run("perl", "-MSocket", "-e", "my $p = shift;"
                + " socket(S, PF_UNIX, SOCK_STREAM, 0) or die; bind(S, pack_sockaddr_un($p)) or die \"bind: $!\";"
                + " listen(S, 1) or die; socket(C, PF_UNIX, SOCK_STREAM, 0) or die;"
                + " connect(C, pack_sockaddr_un($p)) or die \"connect: $!\"; accept(A, S) or die;"
                + " syswrite(C, 'ping'); sysread(A, my $b, 4); print $b", sock.toString()).assertOk().out())
                .isEqualTo("ping");
        assertThat(stat("%F %s", sock)).isEqualTo("socket 0");
        // readdir reports the types too (ls -l's first column comes from d_type/lstat).
        String ls = run("ls", "-l", fuse.mountPoint().toString()).assertOk().out();
        assertThat(ls.lines().filter(line -> line.endsWith(" null"))).singleElement().asString().startsWith("c");
        assertThat(ls.lines().filter(line -> line.endsWith(" blk"))).singleElement().asString().startsWith("b");
    }

    @Test
    void specialFilesAreRenamedLinkedChangedAndUnlinkedLikeFiles() throws Exception {
        long inodesBefore = fs().usedInodes();
        Path fifo = mnt("p");
        run("mkfifo", fifo.toString()).assertOk();
        run("mknod", mnt("c").toString(), "c", "1", "5").assertOk();
        String ino = stat("%i", fifo);
        Files.createDirectory(mnt("d"));
        run("mv", fifo.toString(), mnt("d/p2").toString()).assertOk();
        assertThat(Files.exists(fifo, LinkOption.NOFOLLOW_LINKS)).isFalse();
        assertThat(stat("%F %i", mnt("d/p2"))).isEqualTo("fifo " + ino);
        run("ln", mnt("d/p2").toString(), mnt("hard").toString()).assertOk();
        assertThat(stat("%h %F", mnt("hard"))).isEqualTo("2 fifo");
        // A rename over a special file replaces it, whatever either type is.
        run("mv", "-f", mnt("c").toString(), mnt("hard").toString()).assertOk();
        assertThat(stat("%F %t %T", mnt("hard"))).isEqualTo("character special file 1 5");
        assertThat(stat("%h", mnt("d/p2"))).isEqualTo("1");
        run("chmod", "0604", mnt("d/p2").toString()).assertOk();
        run("chown", "65534:65534", mnt("d/p2").toString()).assertOk();
        run("touch", "-h", "-d", "2001-02-03 04:05:06 UTC", mnt("d/p2").toString()).assertOk();
        assertThat(stat("%a %u %g %Y", mnt("d/p2"))).isEqualTo("604 65534 65534 "
                + Instant.parse("2001-02-03T04:05:06Z").getEpochSecond());
        run("rm", mnt("d/p2").toString(), mnt("hard").toString()).assertOk();
        run("rmdir", mnt("d").toString()).assertOk();
        assertThat(fs().usedInodes()).isEqualTo(inodesBefore);
        try (Stream<Path> s = Files.list(fuse.mountPoint())) {
            assertThat(s).isEmpty();
        }
    }

    @Test
    void chmodChangesModeAndCtimeButNotMtime() throws Exception {
        Path f = mnt("f");
        Files.writeString(f, "x");
        FileTime mtime = Files.getLastModifiedTime(f);
        FileTime ctime = ctime(f);
        tick();
        run("chmod", "4751", f.toString()).assertOk();
        assertThat(stat("%a", f)).isEqualTo("4751");
        assertThat(ctime(f)).isGreaterThan(ctime);
        assertThat(Files.getLastModifiedTime(f)).isEqualTo(mtime);
    }

    @Test
    void writeChangesMtimeAndCtimeAndTheDirectoryTimesFollowEntries() throws Exception {
        Path f = mnt("f");
        Files.writeString(f, "x");
        FileTime mtime = Files.getLastModifiedTime(f);
        FileTime ctime = ctime(f);
        FileTime dirMtime = Files.getLastModifiedTime(fuse.mountPoint());
        tick();
        sh("echo more >> " + f).assertOk();
        assertThat(Files.getLastModifiedTime(f)).isGreaterThan(mtime);
        assertThat(ctime(f)).isGreaterThan(ctime);
        // Writing a file leaves its directory alone; adding an entry does not.
        assertThat(Files.getLastModifiedTime(fuse.mountPoint())).isEqualTo(dirMtime);
        tick();
        Files.writeString(mnt("g"), "new entry");
        assertThat(Files.getLastModifiedTime(fuse.mountPoint())).isGreaterThan(dirMtime);
        FileTime afterCreate = Files.getLastModifiedTime(fuse.mountPoint());
        tick();
        run("rm", mnt("g").toString()).assertOk();
        assertThat(Files.getLastModifiedTime(fuse.mountPoint())).isGreaterThan(afterCreate);
    }

    @Test
    void utimensSetsTimesAndLeavesOmittedOnesAlone() throws Exception {
        Path f = mnt("f");
        Files.writeString(f, "x");
        run("touch", "-d", "2001-02-03 04:05:06.5 UTC", f.toString()).assertOk();
        Instant t2001 = Instant.parse("2001-02-03T04:05:06.5Z");
        assertThat(Files.getLastModifiedTime(f).toInstant()).isEqualTo(t2001);
        assertThat(((FileTime) Files.getAttribute(f, "lastAccessTime")).toInstant()).isEqualTo(t2001);
        FileTime ctime = ctime(f);
        tick();
        // touch -m passes UTIME_OMIT for atime: it must stay 2001.
        run("touch", "-m", "-d", "2010-01-01 00:00:00 UTC", f.toString()).assertOk();
        assertThat(Files.getLastModifiedTime(f).toInstant()).isEqualTo(Instant.parse("2010-01-01T00:00:00Z"));
        assertThat(((FileTime) Files.getAttribute(f, "lastAccessTime")).toInstant()).isEqualTo(t2001);
        assertThat(ctime(f)).isGreaterThan(ctime);
        assertThat(stat("%Y", f)).isEqualTo(String.valueOf(Instant.parse("2010-01-01T00:00:00Z").getEpochSecond()));
    }

    @Test
    void statfsReportsCapacityAndUse() throws Exception {
        long blocks = CAPACITY / 4096;
        String[] before = run("stat", "-f", "-c", "%S %b %f %a %c %d %l", fuse.mountPoint().toString()).assertOk()
                .out().trim().split(" ");
        assertThat(before).containsExactly("4096", String.valueOf(blocks), String.valueOf(blocks),
                String.valueOf(blocks), "10000", "9999", "255");
        Files.write(mnt("one-mib"), new byte[1 << 20]);
        String[] after = run("stat", "-f", "-c", "%f %d", fuse.mountPoint().toString()).assertOk().out().trim()
                .split(" ");
        assertThat(after).containsExactly(String.valueOf(blocks - 256), "9998");
        FileStore store = Files.getFileStore(fuse.mountPoint());
        assertThat(store.getTotalSpace()).isEqualTo(CAPACITY);
        assertThat(store.getUsableSpace()).isEqualTo(CAPACITY - (1 << 20));
    }

    @Test
    void extendedAttributes() throws Exception {
        Path f = mnt("f");
        Files.writeString(f, "x");
        UserDefinedFileAttributeView view = Files.getFileAttributeView(f, UserDefinedFileAttributeView.class);
        view.write("color", StandardCharsets.UTF_8.encode("blue"));
        view.write("empty", ByteBuffer.allocate(0));
        assertThat(view.list()).containsExactlyInAnyOrder("color", "empty");
        ByteBuffer b = ByteBuffer.allocate(view.size("color"));
        view.read("color", b);
        assertThat(new String(b.array(), StandardCharsets.UTF_8)).isEqualTo("blue");
        assertThat(view.size("empty")).isZero();
        // XATTR_CREATE on an existing name: EEXIST (17); XATTR_REPLACE on a missing one: ENODATA (61).
        assertThat(MountedFsSupport.setxattr(f, "user.color", "red".getBytes(), MountedFsSupport.XATTR_CREATE))
                .isEqualTo(17);
        assertThat(MountedFsSupport.setxattr(f, "user.shape", "round".getBytes(), MountedFsSupport.XATTR_REPLACE))
                .isEqualTo(61);
        assertThat(MountedFsSupport.setxattr(f, "user.color", "red".getBytes(), MountedFsSupport.XATTR_REPLACE))
                .isZero();
        b = ByteBuffer.allocate(view.size("color"));
        view.read("color", b);
        assertThat(new String(b.array(), StandardCharsets.UTF_8)).isEqualTo("red");
        view.delete("color");
        assertThat(view.list()).containsExactly("empty");
        assertThatThrownBy(() -> view.size("color")).isInstanceOf(FileSystemException.class);
    }

    @Test
    void namesLongerThan255BytesAreRefused() throws Exception {
        Files.writeString(mnt("n".repeat(255)), "fits");
        assertThat(Files.readString(mnt("n".repeat(255)))).isEqualTo("fits");
        assertThatThrownBy(() -> Files.createFile(mnt("n".repeat(256))))
                .isInstanceOf(FileSystemException.class).hasMessageContaining("File name too long");
        assertThat(run("mkdir", mnt("é".repeat(128)).toString()).err()).contains("File name too long");
    }

    @Test
    void concurrentWritersThroughTheKernel() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(6);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                int id = t;
                jobs.add(pool.submit(() -> {
                    byte[] data = random(3 * 1024 * 1024 + id, id);
                    Path p = mnt("w" + id);
                    Files.write(p, data);
                    assertThat(Files.readAllBytes(p)).isEqualTo(data);
                    return null;
                }));
            }
            // Meanwhile the namespace changes under them.
            for (int i = 0; i < 200; i++) {
                Files.createDirectory(mnt("churn" + i));
                Files.delete(mnt("churn" + i));
            }
            for (Future<?> f : jobs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        for (int t = 0; t < 6; t++) {
            assertThat(Files.size(mnt("w" + t))).isEqualTo(3 * 1024 * 1024 + t);
        }
    }
}
