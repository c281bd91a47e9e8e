package io.fuseguard.engine;

import io.fuseguard.api.DirectorySink;
import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.api.FileAttributes;
import io.fuseguard.api.FileType;
import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.jnr.JnrFuseMount;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.Edges;
import io.fuseguard.testkit.SmallFs;
import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import ru.serce.jnrfuse.ErrorCodes;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Whatever a handler returns, the kernel gets exactly one valid answer and the caller returns: an errno the
 * kernel refuses (libfuse 2 passed -600 on and the caller waited in D until the kernel's request timeout killed
 * the whole connection), an owner the kernel's 32-bit field cannot carry (it became root), a read count larger
 * than what the handler wrote (the caller got earlier replies' bytes: another file's content), a listed name the
 * kernel refuses (it failed the whole listing). Through both APIs, on real mounts, driven by real processes.
 */
class BadAnswersTest {
    private static final byte[] SECRET = "SECRET-".repeat(1200).getBytes(StandardCharsets.US_ASCII);
    private static final Duration LIMIT = Duration.ofSeconds(20);

    private static FuseMount legacy;
    private static Path legacyMp;
    private static FuseMount modern;
    private static Path modernMp;

    /** An unchanged jnr-fuse filesystem that answers with values libfuse 2 passed on unchecked. */
    static final class WrongValuesFs extends FuseStubFS {
        @Override
        public int getattr(String path, FileStat stat) {
            switch (path) {
                case "/" -> {
                    stat.st_mode.set(FileStat.S_IFDIR | 0755);
                    stat.st_nlink.set(2);
                    return 0;
                }
                case "/good", "/secret", "/short-read", "/bad-read", "/long-read" -> {
                    stat.st_mode.set(FileStat.S_IFREG | 0644);
                    stat.st_nlink.set(1);
                    stat.st_size.set(SECRET.length);
                    return 0;
                }
                case "/bad-1000" -> {
                    return -1000;
                }
                case "/bad-600" -> {
                    return -600;
                }
                case "/bad-min" -> {
                    return Integer.MIN_VALUE;
                }
                case "/bad-positive" -> {
                    return 5;
                }
                default -> {
                    return -ErrorCodes.ENOENT();
                }
            }
        }

        @Override
        public int open(String path, FuseFileInfo fi) {
            return 0;
        }

        @Override
        public int read(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
            switch (path) {
                case "/secret", "/good" -> {
                    int n = (int) Math.max(0, Math.min(size, SECRET.length - offset));
                    buf.put(0, SECRET, (int) offset, n);
                    return n;
                }
                case "/short-read" -> {
                    buf.put(0, "ten bytes!".getBytes(StandardCharsets.US_ASCII), 0, 10);
                    return (int) Math.min(size, SECRET.length - offset); // claims much more than it wrote
                }
                case "/bad-read" -> {
                    return -4096;
                }
                case "/long-read" -> {
                    buf.put(0, SECRET, 0, (int) size);
                    return (int) size + 10; // claims more than was asked
                }
                default -> {
                    return -ErrorCodes.ENOENT();
                }
            }
        }

        @Override
        public int readdir(String path, Pointer buf, FuseFillDir filler, @off_t long offset, FuseFileInfo fi) {
            filler.apply(buf, ".", null, 0);
            filler.apply(buf, "..", null, 0);
            filler.apply(buf, "good", null, 0);
            filler.apply(buf, "a/b", null, 0); // a name the kernel refuses
            filler.apply(buf, "secret", null, 0);
            return 0;
        }
    }

    /** fuseguard's own API with the same kinds of wrong values. */
    static final class WrongValuesJavaFs extends SmallFs {
        WrongValuesJavaFs() {
            withFile("/secret", SECRET);
            withFile("/liar", SECRET);
        }

        @Override
        public synchronized FileAttributes getattr(String path) {
            if (path.equals("/huge-owner")) {
                return FileAttributes.builder(FileType.REGULAR).owner(1L << 40, 0).build();
            }
            return super.getattr(path);
        }

        @Override
        public synchronized int read(String path, long fh, ByteBuffer dst, long offset) {
            if (path.equals("/liar")) {
                dst.put("ten bytes!".getBytes(StandardCharsets.US_ASCII));
                return dst.capacity(); // more than it put
            }
            return super.read(path, fh, dst, offset);
        }

        @Override
        public synchronized void readdir(String path, DirectorySink sink) {
            super.readdir(path, sink);
            if (path.equals("/")) {
                sink.add("x/y");
                sink.add("ok-too");
            }
        }

        @Override
        public synchronized void mkdir(String path, int mode) {
            throw new ErrnoException(Errno.EROFS);
        }
    }

    @BeforeAll
    static void mount() throws Exception {
        Edges.assumeFuseAndRoot();
        legacyMp = Edges.newDir("bad-legacy-");
        legacy = JnrFuseMount.mount(new WrongValuesFs(), legacyMp, config("bad-legacy"));
        modernMp = Edges.newDir("bad-java-");
        modern = FuseMount.mount(new WrongValuesJavaFs(), modernMp, config("bad-java"));
    }

    private static FuseguardConfig config(String name) {
        // direct_io: every read reaches the daemon (no page cache in between)
        return FuseguardConfig.builder().fsName(name).shutdownHook(false).mountOption("direct_io")
                .cacheTimeouts(Duration.ZERO, Duration.ZERO, Duration.ZERO).build();
    }

    @AfterAll
    static void unmount() {
        for (FuseMount m : new FuseMount[] {legacy, modern}) {
            if (m != null) {
                m.close();
            }
        }
        for (Path p : new Path[] {legacyMp, modernMp}) {
            if (p != null) {
                Edges.forceUnmount(p);
            }
        }
    }

    @AfterEach
    void nothingStuck() {
        assertThat(Edges.descendantsInDState()).isEmpty();
    }

    private static Child.Result stat(Path p) throws Exception {
        return Child.run(LIMIT, "stat", "-c", "%u %s", p.toString());
    }

    /**
     * libfuse 2 answered a result at or below -1000 or a positive status with ERANGE ("bad error value") and a read
     * count beyond the request with EIO (the kernel's answer): a migrated filesystem's callers see the same. Values
     * from -512 to -999, which libfuse passed on for the kernel to refuse (the caller then waited in D), get EIO.
     */
    @Test
    void anErrnoTheKernelRefusesIsAnsweredAsLibfuseDidOrEioAndTheMountKeepsServing() throws Exception {
        for (String bad : new String[] {"bad-1000", "bad-600", "bad-min", "bad-positive"}) {
            long t0 = System.nanoTime();
            Child.Result r = stat(legacyMp.resolve(bad));
            long ms = Edges.ms(t0);
            System.out.printf("stat of a getattr answering %s: exit %d after %d ms: %s%n", bad, r.exit(), ms,
                    r.err().trim());
            assertThat(r.exit()).as("stat returned (not killed at the limit)").isEqualTo(1);
            assertThat(r.err()).contains(bad.equals("bad-600") ? "Input/output error"
                    : "Numerical result out of range");
            assertThat(ms).as("answered at once").isLessThan(5000);
        }
        Child.Result read = Child.run(LIMIT, "cat", legacyMp.resolve("bad-read").toString());
        assertThat(read.exit()).isEqualTo(1);
        assertThat(read.err()).contains("Numerical result out of range");
        Child.Result longRead = Child.run(LIMIT, "dd", "if=" + legacyMp.resolve("long-read"), "of=/dev/null",
                "bs=4096", "count=1", "iflag=direct");
        assertThat(longRead.exit()).isEqualTo(1);
        assertThat(longRead.err()).contains("Input/output error");
        assertThat(stat(legacyMp.resolve("good")).exit()).as("the mount still serves").isZero();
        assertThat(legacy.isMounted()).isTrue();
    }

    @Test
    void anOwnerBeyond32BitsIsRefusedNotShownAsRoot() throws Exception {
        Child.Result r = stat(modernMp.resolve("huge-owner"));
        assertThat(r.exit()).as("refused: %s", r.out()).isEqualTo(1);
        assertThat(r.err()).contains("Input/output error");
        assertThat(stat(modernMp.resolve("secret")).exit()).isZero();
    }

    /** Reads of the secret and of a liar alternate; the liar's answers must hold no byte of the secret. */
    private static String alternate(Path secret, Path liar) throws Exception {
        String script = "import sys\n"
                + "bad = short = 0\n"
                + "for i in range(300):\n"
                + "    open(sys.argv[1], 'rb').read()\n"
                + "    with open(sys.argv[2], 'rb', buffering=0) as f:\n"
                + "        d = f.read(65536)\n"
                + "    if b'SECRET' in d or b'ECRET-' in d: bad += 1\n"
                + "    if not d.startswith(b'ten bytes!'): short += 1\n"
                + "print('bad=%d wrong=%d len=%d' % (bad, short, len(d)))\n";
        Child.Result r = Child.run(Duration.ofSeconds(60), Edges.python(), "-c", script, secret.toString(),
                liar.toString()).assertOk();
        return r.out().trim();
    }

    @Test
    void aReadThatReturnsMoreThanItWroteNeverHandsOutOtherBytes() throws Exception {
        String java = alternate(modernMp.resolve("secret"), modernMp.resolve("liar"));
        System.out.println("fuseguard API, read count larger than what was put: " + java);
        assertThat(java).startsWith("bad=0 wrong=0 len=10");
        String adapter = alternate(legacyMp.resolve("secret"), legacyMp.resolve("short-read"));
        System.out.println("jnr-fuse adapter, read count larger than what was written: " + adapter);
        assertThat(adapter).startsWith("bad=0 wrong=0");
    }

    @Test
    void aListedNameTheKernelRefusesIsLeftOutNotTheWholeListing() throws Exception {
        Child.Result legacyLs = Child.run(LIMIT, "ls", "-a", legacyMp.toString());
        assertThat(legacyLs.exit()).as(legacyLs.err()).isZero();
        assertThat(Arrays.asList(legacyLs.out().split("\n"))).contains("good", "secret").doesNotContain("a/b");
        Child.Result javaLs = Child.run(LIMIT, "ls", "-a", modernMp.toString());
        assertThat(javaLs.exit()).as(javaLs.err()).isZero();
        assertThat(Arrays.asList(javaLs.out().split("\n"))).contains("ok-too", "secret");
    }
}
