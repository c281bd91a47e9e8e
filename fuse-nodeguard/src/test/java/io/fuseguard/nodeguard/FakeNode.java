package io.fuseguard.nodeguard;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** A fake {@code /proc}, {@code fusectl} and mount table in a temporary directory, for decision tests. */
final class FakeNode {
    final Path proc;
    final Path fusectl;
    final Path mountinfo;

    FakeNode(Path root, String kernel) throws IOException {
        proc = Files.createDirectories(root.resolve("proc"));
        fusectl = Files.createDirectories(root.resolve("fusectl"));
        mountinfo = root.resolve("mountinfo");
        write(proc.resolve("sys/kernel/osrelease"), kernel + "\n");
        Files.writeString(mountinfo, "");
    }

    static void write(Path p, String text) throws IOException {
        Files.createDirectories(p.getParent());
        Files.writeString(p, text, StandardCharsets.UTF_8);
    }

    static String stat(int id, String comm, char state, long flags, long utime) {
        return id + " (" + comm + ") " + state + " 1 " + id + " " + id + " 0 -1 " + flags + " 0 0 0 0 " + utime
                + " 0 0 0 20 0 1 0 " + (1000 + id) + " 0 0\n";
    }

    FakeNode mount(long conn, String mountPoint) throws IOException {
        return mount(conn, mountPoint, "fake-src");
    }

    /** A mount with the given source (fsname), e.g. a fuseguard daemon's {@code fuseguard:PID:NAME}. */
    FakeNode mount(long conn, String mountPoint, String source) throws IOException {
        Files.writeString(mountinfo, Files.readString(mountinfo) + (100 + conn) + " 1 0:" + conn + " / " + mountPoint
                + " rw,nosuid - fuse.fake " + source + " rw,user_id=0\n");
        write(fusectl.resolve(conn + "/waiting"), "0\n");
        write(fusectl.resolve(conn + "/abort"), "");
        return this;
    }

    FakeNode waiting(long conn, int n) throws IOException {
        write(fusectl.resolve(conn + "/waiting"), n + "\n");
        return this;
    }

    String aborts(long conn) throws IOException {
        return Files.readString(fusectl.resolve(conn + "/abort"));
    }

    /** A process with one thread. */
    FakeNode process(int pid, String comm, char state, long flags) throws IOException {
        write(proc.resolve(pid + "/stat"), stat(pid, comm, state, flags, 1));
        write(proc.resolve(pid + "/task/" + pid + "/stat"), stat(pid, comm, state, flags, 1));
        write(proc.resolve(pid + "/io"), "rchar: 1\nwchar: 1\nsyscr: 10\nsyscw: 10\n");
        Files.createDirectories(proc.resolve(pid + "/fd"));
        return this;
    }

    FakeNode io(int pid, long syscr) throws IOException {
        write(proc.resolve(pid + "/io"), "rchar: 1\nwchar: 1\nsyscr: " + syscr + "\nsyscw: 10\n");
        return this;
    }

    /** A /dev/fuse descriptor, attached to {@code conn} (or to none when {@code conn < 0}). */
    FakeNode devFuse(int pid, int fd, long conn) throws IOException {
        Path link = proc.resolve(pid + "/fd/" + fd);
        Files.createDirectories(link.getParent());
        Files.deleteIfExists(link);
        Files.createSymbolicLink(link, Path.of("/dev/fuse"));
        write(proc.resolve(pid + "/fdinfo/" + fd), "pos:\t0\nflags:\t0100002\nmnt_id:\t24\nino:\t90\n"
                + (conn >= 0 ? "fuse_connection:\t" + conn + "\n" : ""));
        return this;
    }

    /** A thread blocked in FUSE (request_wait_answer), in a mount namespace where {@code conn} is mounted. */
    FakeNode blocked(int pid, int tid, String comm, long conn, String mountPoint) throws IOException {
        Path t = proc.resolve(pid + "/task/" + tid);
        if (!Files.exists(proc.resolve(pid + "/stat"))) {
            write(proc.resolve(pid + "/stat"), stat(pid, comm, 'S', 0, 1));
        }
        write(t.resolve("stat"), stat(tid, comm, 'D', 0, 1));
        write(t.resolve("wchan"), "request_wait_answer");
        write(t.resolve("stack"), "[<0>] request_wait_answer+0x12b/0x270 [fuse]\n[<0>] __fuse_simple_request+0xd5/0x2a0\n"
                + "[<0>] fuse_lookup_name+0xf0/0x250\n[<0>] do_syscall_64+0x82/0x190\n");
        write(t.resolve("syscall"), "262 0xffffffffffffff9c 0x7ffd 0x7ffe 0x0 0x0 0x0 0x7ff 0x7fe\n");
        write(t.resolve("mountinfo"), (100 + conn) + " 1 0:" + conn + " / " + mountPoint
                + " rw - fuse.fake fake-src rw\n");
        Files.createDirectories(t.resolve("ns"));
        Files.createSymbolicLink(t.resolve("ns/pid"), Path.of("pid:[4026531836]"));
        Files.createSymbolicLink(t.resolve("ns/mnt"), Path.of("mnt:[4026531840]"));
        return this;
    }

    GuardSettings.Builder settings() {
        return GuardSettings.builder().proc(proc).fusectl(fusectl).mountinfo(mountinfo).grace(java.time.Duration.ZERO)
                .releaseWait(java.time.Duration.ofMillis(50));
    }
}
