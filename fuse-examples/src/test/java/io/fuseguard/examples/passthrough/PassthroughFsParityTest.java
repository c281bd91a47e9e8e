package io.fuseguard.examples.passthrough;

import io.fuseguard.api.Operation;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.config.SelfAccessPolicy;
import io.fuseguard.junit.FuseMountExtension;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link PassthroughFs} gives the same answers as the directory it mirrors: one script of POSIX scenarios runs
 * directly in a directory of the source tree and, through the mount, in another, and both transcripts (errno of
 * every step, and type/mode/uid/gid/nlink/size/rdev of what it made) must be identical. The scenarios are the
 * ones a java.nio passthrough got wrong: FIFOs, device nodes and unix sockets, a tree deeper than PATH_MAX
 * walked with relative steps, chmod/chown by a non-root user with supplementary groups, a set-group-ID
 * directory, a sticky directory, rename over directories, hard link counts. Users are switched inside the
 * script's forked children (setgroups/setgid/setuid), so it needs root, as the mount does.
 */
class PassthroughFsParityTest {
    private static final String SCRIPT = """
            import ctypes, errno, os, socket, stat, sys
            os.chdir(sys.argv[1])
            os.umask(0o022)

            def desc(p):
                st = os.stat(p, follow_symlinks=False)
                m = st.st_mode
                s = "type=%o mode=%o uid=%d gid=%d nlink=%d" % (stat.S_IFMT(m), stat.S_IMODE(m), st.st_uid,
                                                               st.st_gid, st.st_nlink)
                if stat.S_ISREG(m) or stat.S_ISLNK(m):
                    s += " size=%d" % st.st_size
                if stat.S_ISCHR(m) or stat.S_ISBLK(m):
                    s += " rdev=%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
                return s

            def step(name, fn, *paths):
                try:
                    r = fn()
                    r = "ok" + (" " + r if isinstance(r, str) and r else "")
                except OSError as e:
                    r = errno.errorcode.get(e.errno, str(e.errno))
                for p in paths:
                    try:
                        r += " | %s: %s" % (p, desc(p))
                    except OSError as e:
                        r += " | %s: %s" % (p, errno.errorcode.get(e.errno, str(e.errno)))
                print(name + ": " + r, flush=True)

            def as_user(uid, groups, fn):
                pid = os.fork()
                if pid == 0:
                    try:
                        os.setgroups(groups)
                        os.setgid(groups[0])
                        os.setuid(uid)
                        fn()
                    finally:
                        sys.stdout.flush()
                        os._exit(0)
                os.waitpid(pid, 0)

            def touch(p, mode=0o644):
                os.close(os.open(p, os.O_CREAT | os.O_WRONLY, mode))

            # special files
            step("mkfifo", lambda: os.mkfifo("fifo", 0o640), "fifo")
            step("mkfifo-again", lambda: os.mkfifo("fifo"), "fifo")
            def fifo_io():
                fd = os.open("fifo", os.O_RDWR)
                os.write(fd, b"abc")
                r = os.read(fd, 3).decode()
                os.close(fd)
                return r
            step("fifo-io", fifo_io)
            step("mknod-char", lambda: os.mknod("null", 0o666 | stat.S_IFCHR, os.makedev(1, 3)), "null")
            step("mknod-block", lambda: os.mknod("blk", 0o600 | stat.S_IFBLK, os.makedev(7, 200)), "blk")
            def bind():
                s = socket.socket(socket.AF_UNIX)
                s.bind("sock")
                s.close()
            step("socket-bind", bind, "sock")

            # deeper than PATH_MAX, walked one relative step at a time
            def deep():
                top = os.open(".", os.O_RDONLY)
                os.mkdir("deep")
                os.chdir("deep")
                for i in range(25):
                    os.mkdir("d" * 200)
                    os.chdir("d" * 200)
                with open("leaf", "w") as f:
                    f.write("hello")
                os.mkdir("sub")
                os.rename("leaf", "sub/leaf2")
                os.link("sub/leaf2", "hard")
                os.symlink("sub/leaf2", "sym")
                os.mkfifo("fifo")
                with open("sym") as f:
                    r = f.read()
                r += " | " + desc("sub/leaf2") + " | " + desc("sym") + " | " + desc("fifo") + " | " + desc(".")
                os.unlink("hard")
                r += " | " + desc("sub/leaf2")
                os.fchdir(top)
                os.close(top)
                return r
            step("deep", deep)

            # a non-root user: chmod/chown rules, supplementary groups, permission checks
            os.mkdir("home")
            os.chown("home", 4242, 4242)
            touch("rootfile")
            touch("grpfile", 0o640)
            os.chown("grpfile", 0, 4300)
            touch("home/g")
            os.chown("home/g", 4242, 4400)
            def user():
                step("u-create", lambda: touch("home/f"), "home/f")
                step("u-chmod-suid", lambda: os.chmod("home/f", 0o4755), "home/f")
                step("u-chmod-other", lambda: os.chmod("rootfile", 0o777), "rootfile")
                step("u-chown-to-root", lambda: os.chown("home/f", 0, -1), "home/f")
                step("u-chown-nonmember", lambda: os.chown("home/f", -1, 4343), "home/f")
                step("u-chown-supplementary", lambda: os.chown("home/f", -1, 4300), "home/f")
                step("u-chmod-sgid-nonmember", lambda: os.chmod("home/g", 0o2755), "home/g")
                step("u-read-by-group", lambda: open("grpfile").read())
                step("u-write-other", lambda: open("rootfile", "a").write("x"), "rootfile")
                step("u-create-in-root-dir", lambda: touch("nope"), "nope")
                step("u-utime-other", lambda: os.utime("rootfile", (1, 1)))
                step("u-utime-now-other", lambda: os.utime("rootfile"))
                step("u-mknod-char", lambda: os.mknod("home/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3)))
            as_user(4242, [4242, 4300], user)

            # a set-group-ID directory: its group (and, for directories, the bit) is inherited
            os.mkdir("sgid")
            os.chown("sgid", 0, 4500)
            os.chmod("sgid", 0o2777)
            def sgid():
                step("sgid-file", lambda: touch("sgid/f"), "sgid/f")
                step("sgid-dir", lambda: os.mkdir("sgid/d", 0o755), "sgid/d")
                step("sgid-file-with-bit", lambda: touch("sgid/x", 0o2755), "sgid/x")
                step("sgid-fifo", lambda: os.mkfifo("sgid/p"), "sgid/p")
                step("sgid-symlink", lambda: os.symlink("f", "sgid/l"), "sgid/l")
                step("sgid-nested", lambda: touch("sgid/d/y"), "sgid/d/y")
            as_user(4242, [4242], sgid)

            # a sticky directory: only owners remove or rename
            os.mkdir("sticky")
            os.chmod("sticky", 0o1777)
            as_user(4242, [4242], lambda: (touch("sticky/a"), touch("sticky/b")))
            def other():
                step("sticky-unlink-other", lambda: os.unlink("sticky/a"), "sticky/a")
                step("sticky-rename-other", lambda: os.rename("sticky/b", "sticky/c"), "sticky/b")
                touch("sticky/mine")
                step("sticky-replace-other", lambda: os.rename("sticky/mine", "sticky/a"), "sticky/a")
            as_user(4343, [4343], other)
            as_user(4242, [4242], lambda: step("sticky-unlink-own", lambda: os.unlink("sticky/a"), "sticky/a"))

            # rename over directories
            os.mkdir("r1"); os.mkdir("r2")
            step("rename-dir-over-empty-dir", lambda: os.rename("r1", "r2"), "r1", "r2")
            os.mkdir("r3"); os.mkdir("r4"); touch("r4/x")
            step("rename-dir-over-full-dir", lambda: os.rename("r3", "r4"), "r3", "r4")
            touch("rf")
            step("rename-file-over-dir", lambda: os.rename("rf", "r3"), "rf", "r3")
            step("rename-dir-over-file", lambda: os.rename("r3", "rf"), "rf", "r3")
            step("rename-dir-into-itself", lambda: os.rename("r4", "r4/sub"), "r4")

            # hard link counts
            touch("h1")
            step("link", lambda: (os.link("h1", "h2"), os.link("h1", "h3")) and None, "h1", "h3")
            step("unlink-one", lambda: os.unlink("h2"), "h1", "h2")
            step("link-dir", lambda: os.link("r4", "r5"), "r4")
            os.mkdir("nl"); os.mkdir("nl/a"); os.mkdir("nl/b")
            step("dir-nlink", lambda: None, "nl", "nl/a")
            step("rmdir-nlink", lambda: os.rmdir("nl/b"), "nl")

            # renameat2's flags and fallocate, passed on to the source
            libc = ctypes.CDLL(None, use_errno=True)
            def checked(rc):
                if rc != 0:
                    e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
            def rename2(a, b, flags):
                checked(libc.renameat2(-100, a.encode(), -100, b.encode(), flags))
            def falloc(p, mode, off, n):
                fd = os.open(p, os.O_RDWR)
                try:
                    checked(libc.fallocate(fd, mode, ctypes.c_long(off), ctypes.c_long(n)))
                finally:
                    os.close(fd)
            touch("x1"); touch("x2", 0o600); os.mkdir("xd")
            step("rename-noreplace-new", lambda: rename2("x1", "x3", 1), "x1", "x3")
            step("rename-exchange-file-dir", lambda: rename2("x3", "xd", 2), "x3", "xd")
            step("rename-exchange-files", lambda: rename2("x2", "x3", 2), "x2", "x3")
            with open("fa", "w") as f: f.write("0123456789")
            step("fallocate-grow", lambda: falloc("fa", 0, 8, 100), "fa")
            step("fallocate-punch", lambda: falloc("fa", 3, 2, 3), "fa")
            step("fallocate-zero-range", lambda: falloc("fa", 0x10, 0, 4), "fa")
            # (collapse and insert ranges never reach a FUSE filesystem: the kernel answers EOPNOTSUPP itself)
            """;

    /**
     * The calls issue 19 forwards, each compared with the source directory: SEEK_DATA/SEEK_HOLE, statx's birth
     * time, copy_file_range, O_TMPFILE (with linkat), POSIX record locks (within a process, between processes,
     * waiting, released with the open file and at exit), open file description locks and flock.
     */
    private static final String CALLS = """
            import ctypes, errno, fcntl, os, struct, sys, time
            os.chdir(sys.argv[1])
            os.umask(0o022)
            libc = ctypes.CDLL(None, use_errno=True)

            def step(name, fn):
                try:
                    r = fn()
                    r = "ok" + (" " + str(r) if r is not None else "")
                except OSError as e:
                    r = errno.errorcode.get(e.errno, str(e.errno))
                print(name + ": " + r, flush=True)

            def in_child(fn):
                pid = os.fork()
                if pid == 0:
                    try:
                        fn()
                    finally:
                        sys.stdout.flush()
                        os._exit(0)
                os.waitpid(pid, 0)

            def retry(fn, seconds=2.0):
                # what the kernel does at a close reaches the filesystem a moment later (RELEASE is asynchronous)
                end = time.time() + seconds
                while True:
                    try:
                        return fn()
                    except OSError as e:
                        if e.errno != errno.EAGAIN or time.time() > end:
                            raise
                        time.sleep(0.01)

            # holes: data at 0 and at 1 MiB
            fd = os.open("sparse", os.O_CREAT | os.O_RDWR, 0o644)
            os.pwrite(fd, b"a" * 4096, 0)
            os.pwrite(fd, b"b" * 4096, 1 << 20)
            for w, n in ((os.SEEK_DATA, "data"), (os.SEEK_HOLE, "hole")):
                for off in (0, 4096, 65536, (1 << 20) + 100, (1 << 20) + 4096, 5 << 20):
                    step("seek-%s-%d" % (n, off), lambda off=off, w=w: os.lseek(fd, off, w))
            os.close(fd)

            # birth time
            def btime(p):
                buf = ctypes.create_string_buffer(256)
                if libc.statx(-100, p.encode(), 0x100, 0xfff, buf) != 0:
                    e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
                mask = struct.unpack_from("<I", buf, 0)[0]
                if not mask & 0x800:
                    return "no btime"
                sec = struct.unpack_from("<q", buf, 80)[0]
                return "btime within 10 min" if abs(sec - time.time()) < 600 else "btime %d" % sec
            step("statx-btime", lambda: btime("sparse"))

            # copy_file_range
            with open("src", "wb") as f:
                f.write(os.urandom(3 << 20))
            fi = os.open("src", os.O_RDONLY)
            fo = os.open("dst", os.O_CREAT | os.O_WRONLY, 0o644)
            step("copy", lambda: os.copy_file_range(fi, fo, 3 << 20, 0, 0))
            step("copy-at-offsets", lambda: os.copy_file_range(fi, fo, 1000, 4096, 5000))
            step("copy-past-end", lambda: os.copy_file_range(fi, fo, 100, 10 << 20, 0))
            os.close(fi)
            os.close(fo)
            def same():
                a = open("src", "rb").read()
                b = open("dst", "rb").read()
                return "same" if a[:5000] + a[4096:5096] + a[6000:] == b else "differs"
            step("copy-content", same)

            # O_TMPFILE, given a name with linkat, and one that never gets one
            def tmp():
                t = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o640)
                os.write(t, b"tmp")
                st = os.fstat(t)
                r = "nlink=%d size=%d mode=%o" % (st.st_nlink, st.st_size, st.st_mode & 0o7777)
                if libc.linkat(-100, ("/proc/self/fd/%d" % t).encode(), -100, b"fromtmp", 0x400) != 0:
                    e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
                st = os.fstat(t)
                r += " | linked nlink=%d" % st.st_nlink
                os.close(t)
                return r + " | " + open("fromtmp").read()
            step("tmpfile", tmp)
            def tmp_unnamed():
                t = os.open(".", os.O_TMPFILE | os.O_WRONLY, 0o600)
                os.write(t, b"x")
                os.close(t)
            step("tmpfile-unnamed", tmp_unnamed)
            def tmp_excl():
                t = os.open(".", os.O_TMPFILE | os.O_RDWR | os.O_EXCL, 0o600)
                try:
                    if libc.linkat(-100, ("/proc/self/fd/%d" % t).encode(), -100, b"never", 0x400) != 0:
                        e = ctypes.get_errno(); raise OSError(e, os.strerror(e))
                finally:
                    os.close(t)
            step("tmpfile-excl-linkat", tmp_excl)
            step("tmpfile-in-a-file", lambda: os.open("src", os.O_TMPFILE | os.O_RDWR))
            step("names", lambda: " ".join(sorted(os.listdir("."))))

            # POSIX record locks
            fd = os.open("lk", os.O_CREAT | os.O_RDWR, 0o644)
            os.write(fd, b"0" * 100)
            fd2 = os.open("lk", os.O_RDWR)
            step("lock-write", lambda: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0))
            step("lock-same-owner-other-open", lambda: fcntl.lockf(fd2, fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 5))
            me = os.getpid()
            def child():
                c = os.open("lk", os.O_RDWR)
                step("child-conflict", lambda: fcntl.lockf(c, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 0))
                step("child-read-conflict", lambda: fcntl.lockf(c, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 3))
                step("child-other-range", lambda: fcntl.lockf(c, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, 20))
                def getlk():
                    r = fcntl.fcntl(c, fcntl.F_GETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 50, 0))
                    t, w, start, ln, pid = struct.unpack("hhqqi4x", r)
                    return "type=%d start=%d len=%d by-parent=%s" % (t, start, ln, pid == me)
                step("child-getlk", getlk)
                def getlk_free():
                    r = fcntl.fcntl(c, fcntl.F_GETLK, struct.pack("hhqqi4x", fcntl.F_RDLCK, 0, 40, 10, 0))
                    return "type=%d" % struct.unpack("hhqqi4x", r)[0]
                step("child-getlk-free", getlk_free)
                os.close(c)
            in_child(child)
            step("unlock-part", lambda: fcntl.lockf(fd, fcntl.LOCK_UN, 5, 0))
            in_child(lambda: step("child-after-unlock-part",
                                  lambda: fcntl.lockf(os.open("lk", os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB, 5, 0)))
            def waiter():
                c = os.open("lk", os.O_RDWR)
                t0 = time.time()
                fcntl.lockf(c, fcntl.LOCK_EX, 10, 0)
                return "waited %s" % (time.time() - t0 > 0.2)
            pid = os.fork()
            if pid == 0:
                # the child's copies of the parent's descriptors would keep the parent's open file, and through
                # the mount its locks, alive (fuseguard drops them when the open file is released)
                os.close(fd)
                os.close(fd2)
                step("child-waits", waiter)
                sys.stdout.flush()
                os._exit(0)
            time.sleep(0.4)
            os.close(fd)  # the open file that locked goes: so do its locks
            os.waitpid(pid, 0)
            os.close(fd2)
            def exits_holding():
                c = os.open("lk", os.O_RDWR)
                fcntl.lockf(c, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)
            in_child(exits_holding)
            step("lock-after-holder-exited", lambda: retry(lambda: fcntl.lockf(os.open("lk", os.O_RDWR),
                                                                                 fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0)))

            # open file description locks: two opens of one process conflict
            a = os.open("ofd", os.O_CREAT | os.O_RDWR, 0o644)
            b = os.open("ofd", os.O_RDWR)
            F_OFD_SETLK = 37
            ofd = lambda f, t: fcntl.fcntl(f, F_OFD_SETLK, struct.pack("hhqqi4x", t, 0, 0, 0, 0))
            step("ofd-lock", lambda: ofd(a, fcntl.F_WRLCK) and None)
            step("ofd-other-open", lambda: ofd(b, fcntl.F_RDLCK) and None)
            os.close(a)
            step("ofd-after-close", lambda: retry(lambda: ofd(b, fcntl.F_RDLCK)) and None)
            os.close(b)

            # flock
            a = os.open("fl", os.O_CREAT | os.O_RDWR, 0o644)
            b = os.open("fl", os.O_RDWR)
            step("flock-ex", lambda: fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB))
            step("flock-other-open", lambda: fcntl.flock(b, fcntl.LOCK_SH | fcntl.LOCK_NB))
            d = os.dup(a)
            step("flock-dup-shares", lambda: fcntl.flock(d, fcntl.LOCK_EX | fcntl.LOCK_NB))
            step("flock-downgrade", lambda: fcntl.flock(a, fcntl.LOCK_SH | fcntl.LOCK_NB))
            step("flock-shared-too", lambda: fcntl.flock(b, fcntl.LOCK_SH | fcntl.LOCK_NB))
            step("flock-upgrade-blocked", lambda: fcntl.flock(a, fcntl.LOCK_EX | fcntl.LOCK_NB))
            os.close(b)
            os.close(d)
            os.close(a)
            c = os.open("fl", os.O_RDWR)
            step("flock-after-close", lambda: retry(lambda: fcntl.flock(c, fcntl.LOCK_EX | fcntl.LOCK_NB)))
            os.close(c)
            """;

    final Path root = createRoot();

    @RegisterExtension
    final FuseMountExtension fuse = FuseMountExtension.of(this::newFs, FuseguardConfig.builder()
            .selfAccessPolicy(SelfAccessPolicy.ALLOW_WITH_WARNING).shutdownHook(false)
            .allowOther(true) // and so default_permissions: the kernel checks access for other users
            .mountOption("use_ino").mountOption("attr_timeout=0").mountOption("entry_timeout=0")
            .mountOption("negative_timeout=0").fsName("passthrough-parity").build());

    PassthroughFs fs;

    private static Path createRoot() {
        return FuseTestSupport.newTempDir("passthrough-parity-", "rwxr-xr-x");
    }

    private PassthroughFs newFs() {
        try {
            fs = new PassthroughFs(root);
            return fs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterEach
    void cleanRoot() throws Exception {
        if (fs != null) {
            fs.close();
        }
        Child.runOk("rm", "-rf", root.toString());
    }

    /** Runs the scenarios in {@code dir} and returns their transcript, one line per step. */
    private static List<String> transcript(Path dir) throws Exception {
        return transcript(SCRIPT, dir);
    }

    private static List<String> transcript(String script, Path dir) throws Exception {
        Child.Result r = Child.run(Duration.ofSeconds(30), "python3", "-c", script, dir.toString()).assertOk();
        return r.out().lines().toList();
    }

    @Test
    void everyScenarioAnswersAsTheSourceDirectoryDoes() throws Exception {
        Path direct = Files.createDirectory(root.resolve("direct"));
        Path viaMount = Files.createDirectory(fuse.mountPoint().resolve("via-mount"));

        List<String> expected = transcript(direct);
        List<String> actual = transcript(viaMount);

        assertThat(actual).as("transcript through the mount vs. directly on the source").isEqualTo(expected);
        // and the scenarios did what they are about, on both sides
        assertThat(expected).contains(
                "mkfifo: ok | fifo: type=10000 mode=640 uid=0 gid=0 nlink=1",
                "mkfifo-again: EEXIST | fifo: type=10000 mode=640 uid=0 gid=0 nlink=1",
                "fifo-io: ok abc",
                "mknod-char: ok | null: type=20000 mode=644 uid=0 gid=0 nlink=1 rdev=1:3",
                "socket-bind: ok | sock: type=140000 mode=755 uid=0 gid=0 nlink=1",
                "u-chmod-other: EPERM | rootfile: type=100000 mode=644 uid=0 gid=0 nlink=1 size=0",
                "u-chown-nonmember: EPERM | home/f: type=100000 mode=4755 uid=4242 gid=4242 nlink=1 size=0",
                "u-chown-supplementary: ok | home/f: type=100000 mode=755 uid=4242 gid=4300 nlink=1 size=0",
                "u-read-by-group: ok",
                "u-create-in-root-dir: EACCES | nope: ENOENT",
                "sgid-dir: ok | sgid/d: type=40000 mode=2755 uid=4242 gid=4500 nlink=2",
                "sticky-unlink-other: EPERM | sticky/a: type=100000 mode=644 uid=4242 gid=4242 nlink=1 size=0",
                "rename-dir-over-full-dir: ENOTEMPTY | r3: type=40000 mode=755 uid=0 gid=0 nlink=2 | r4: "
                        + "type=40000 mode=755 uid=0 gid=0 nlink=2",
                "unlink-one: ok | h1: type=100000 mode=644 uid=0 gid=0 nlink=2 size=0 | h2: ENOENT",
                "rename-noreplace-new: ok | x1: ENOENT | x3: type=100000 mode=644 uid=0 gid=0 nlink=1 size=0",
                "rename-exchange-file-dir: ok | x3: type=40000 mode=755 uid=0 gid=0 nlink=2 | xd: type=100000 "
                        + "mode=644 uid=0 gid=0 nlink=1 size=0",
                "fallocate-grow: ok | fa: type=100000 mode=644 uid=0 gid=0 nlink=1 size=108");
        assertThat(expected).anySatisfy(l -> assertThat(l).startsWith("deep: ok hello | type=100000 mode=644"));
    }

    @Test
    void forwardedCallsAnswerAsTheSourceDirectoryDoes() throws Exception {
        Path direct = Files.createDirectory(root.resolve("direct"));
        Path viaMount = Files.createDirectory(fuse.mountPoint().resolve("via-mount"));

        List<String> expected = transcript(CALLS, direct);
        List<String> actual = transcript(CALLS, viaMount);

        assertThat(actual).as("transcript through the mount vs. directly on the source").isEqualTo(expected);
        // the calls did what they are about (the table: these were the kernel's answers before)
        assertThat(expected).contains(
                "seek-data-4096: ok 1048576",
                "seek-hole-0: ok 4096",
                "statx-btime: ok btime within 10 min",
                "copy: ok 3145728",
                "copy-content: ok same",
                "tmpfile: ok nlink=0 size=3 mode=640 | linked nlink=1 | tmp",
                "tmpfile-excl-linkat: ENOENT",
                "names: ok dst fromtmp sparse src",
                "child-conflict: EAGAIN",
                "child-getlk: ok type=1 start=0 len=10 by-parent=True",
                "child-waits: ok waited True",
                "lock-after-holder-exited: ok",
                "ofd-other-open: EAGAIN",
                "flock-other-open: EAGAIN",
                "flock-after-close: ok");
        assertThat(fuse.mount().metrics().requests(Operation.LSEEK)).as("LSEEK requests").isPositive();
        assertThat(fuse.mount().metrics().requests(Operation.STATX)).as("STATX requests").isPositive();
        assertThat(fuse.mount().metrics().requests(Operation.TMPFILE)).as("TMPFILE requests").isPositive();
        assertThat(fuse.mount().metrics().requests(Operation.SETLKW)).as("SETLKW requests").isPositive();
        assertThat(fuse.mount().metrics().requests(Operation.FLOCK)).as("flock requests").isPositive();
    }

    /** The birth time seen through the mount is the source file's own. */
    @Test
    void birthTimeIsTheSourceFilesOwn() throws Exception {
        Files.writeString(root.resolve("born"), "x");
        assertThat(birthTime(fuse.mountPoint().resolve("born"))).isEqualTo(birthTime(root.resolve("born")))
                .isNotEqualTo("0");
    }

    private static String birthTime(Path p) throws Exception {
        return Child.run(Duration.ofSeconds(10), "stat", "-c", "%W.%w", p.toString()).assertOk().out().trim();
    }

    /**
     * copy_file_range through the mount is one COPY_FILE_RANGE request that the source's kernel carries out: no
     * WRITE reaches the daemon (before, the kernel's fallback read and wrote every byte through it).
     */
    @Test
    void copyFileRangeIsDoneByTheSourceNotByReadsAndWrites() throws Exception {
        Path mp = fuse.mountPoint();
        Child.run(Duration.ofSeconds(20), "dd", "if=/dev/urandom", "of=" + mp.resolve("big"), "bs=1M", "count=8",
                "status=none").assertOk();
        long writes = fuse.mount().metrics().requests(Operation.WRITE);
        long copies = fuse.mount().metrics().requests(Operation.COPY_FILE_RANGE);
        Child.run(Duration.ofSeconds(20), "python3", "-c", """
                import os, sys
                i = os.open(sys.argv[1], os.O_RDONLY)
                o = os.open(sys.argv[2], os.O_CREAT | os.O_WRONLY, 0o644)
                left = 8 << 20
                while left:
                    left -= os.copy_file_range(i, o, left)
                """, mp.resolve("big").toString(), mp.resolve("copy").toString()).assertOk();
        assertThat(fuse.mount().metrics().requests(Operation.WRITE)).as("WRITE requests during the copy")
                .isEqualTo(writes);
        assertThat(fuse.mount().metrics().requests(Operation.COPY_FILE_RANGE) - copies).as("copy requests")
                .isBetween(1L, 8L);
        assertThat(Files.mismatch(root.resolve("big"), root.resolve("copy"))).isEqualTo(-1L);
    }
}
