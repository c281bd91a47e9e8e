package io.fuseguard.examples.upload;

import io.fuseguard.api.OpenFlags;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.FuseTestSupport;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random kills during renames: a client renames files and directories back and forth as fast as it can while
 * the daemon (a child JVM, its backend 3 ms slow per call, so uploads and deletes of earlier renames are under
 * way) is stopped at a random moment, with {@code kill -9} or with SIGTERM. After each stop a filesystem
 * restarted on the same cache and backend must show every file whole and in exactly one place, each directory
 * with all its files, the same through the mount and in the backend, with nothing left pending. The rounds go
 * on from the state the previous one left.
 */
class UploadRenameKillTest {
    private static final int DIRS = 4;
    private static final int FILES_PER_DIR = 10;
    private static final int FILES = 6;

    private static final String SCRIPT = """
            import os, random, sys
            mnt, seed, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
            rnd = random.Random(seed)
            names = [("d%d" % i, "D%d" % i) for i in range(dirs)] + [("f%d" % i, "F%d" % i) for i in range(files)]
            n = 0
            try:
                while True:
                    a, b = rnd.choice(names)
                    src, dst = (a, b) if os.path.exists(os.path.join(mnt, a)) else (b, a)
                    os.rename(os.path.join(mnt, src), os.path.join(mnt, dst))
                    n += 1
            except OSError as e:
                print("STOPPED after %d renames, errno %d" % (n, e.errno), flush=True)
            """;

    @Test
    void killMinus9AndSigtermDuringFileAndDirectoryRenamesLeaveEachNameWholeInOnePlace() throws Exception {
        FuseAvailability.assumeUsable();
        Path work = FuseTestSupport.newTempDir("upload-renamekill-", "rwx------");
        Path cache = work.resolve("cache");
        Path backend = Files.createDirectories(work.resolve("backend"));
        Path mnt = Files.createDirectories(work.resolve("mnt"));
        try {
            seed(cache, backend);
            String classpath = UploadCrashRecoveryTest.snapshotClasspath(work.resolve("cp"));
            Random random = new Random(17);
            List<String> rounds = new ArrayList<>();
            String[] signals = {"KILL", "KILL", "TERM", "KILL", "KILL", "TERM"};
            for (int round = 0; round < signals.length; round++) {
                String signal = signals[round];
                CrashRig.Daemon d = CrashRig.Daemon.start(classpath, Map.of(), work.resolve("daemon" + round + ".log"),
                        mnt.toString(), cache.toString(), backend.toString(), "false", "3");
                Process client = new ProcessBuilder("python3", "-c", SCRIPT, mnt.toString(),
                        Integer.toString(round), Integer.toString(DIRS), Integer.toString(FILES))
                        .redirectErrorStream(true).start();
                String clientOut;
                long stopAfter = 300 + random.nextInt(1200);
                try {
                    Thread.sleep(stopAfter);
                    if (signal.equals("KILL")) {
                        d.kill();
                    } else {
                        d.term();
                    }
                } finally {
                    if (!client.waitFor(20, TimeUnit.SECONDS)) {
                        client.destroyForcibly();
                    }
                    clientOut = new String(client.getInputStream().readAllBytes()).trim();
                    d.kill();
                    UploadCrashRecoveryTest.cleanupMount(mnt);
                }
                CrashRig.Recovered rec = CrashRig.recover(cache, backend, work.resolve("mnt-check"),
                        Duration.ofSeconds(30));
                String last = clientOut.lines().reduce((a, b) -> b).orElse("");
                rounds.add(String.format("round %d: SIG%s after %d ms, client: %s", round, signal, stopAfter, last));
                assertThat(rec.idle()).as("round %d: pending %s", round, rec.pending()).isTrue();
                assertThat(rec.hidden()).isEmpty();
                assertThat(describe(rec.backend())).as("round %d: backend = mount", round)
                        .isEqualTo(describe(rec.mount()));
                assertWholeInOnePlace(rec.mount(), round);
            }
            rounds.forEach(System.out::println);
        } finally {
            UploadCrashRecoveryTest.cleanupMount(mnt);
            UploadCrashRecoveryTest.cleanupMount(work.resolve("mnt-check"));
            new ProcessBuilder("rm", "-rf", work.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** Every seeded file exactly once, under one of its two names; every directory whole under one of its two. */
    private static void assertWholeInOnePlace(Map<String, byte[]> state, int round) {
        Map<String, byte[]> left = new TreeMap<>(state);
        for (int i = 0; i < DIRS; i++) {
            List<String> under = new ArrayList<>();
            for (String dirName : List.of("/d" + i, "/D" + i)) {
                if (left.keySet().stream().anyMatch(p -> p.startsWith(dirName + "/"))) {
                    under.add(dirName);
                }
            }
            assertThat(under).as("round %d: directory %d is in exactly one place", round, i).hasSize(1);
            for (int j = 0; j < FILES_PER_DIR; j++) {
                String p = under.get(0) + "/x" + j;
                assertThat(left.remove(p)).as("round %d: %s", round, p).isEqualTo(dirContent(i, j));
            }
        }
        for (int i = 0; i < FILES; i++) {
            byte[] a = left.remove("/f" + i);
            byte[] b = left.remove("/F" + i);
            assertThat(a == null ^ b == null).as("round %d: file %d under exactly one name", round, i).isTrue();
            assertThat(a != null ? a : b).isEqualTo(fileContent(i));
        }
        assertThat(left.keySet()).as("round %d: nothing else", round).isEmpty();
    }

    private static void seed(Path cache, Path backend) throws Exception {
        try (CachedUploadFs fs = new CachedUploadFs(cache, new DirectoryBackend(backend))) {
            for (int i = 0; i < DIRS; i++) {
                fs.mkdir("/d" + i, 0755);
                for (int j = 0; j < FILES_PER_DIR; j++) {
                    put(fs, "/d" + i + "/x" + j, dirContent(i, j));
                }
            }
            for (int i = 0; i < FILES; i++) {
                put(fs, "/f" + i, fileContent(i));
            }
            assertThat(fs.awaitIdle(Duration.ofSeconds(30))).isTrue();
        }
    }

    private static void put(CachedUploadFs fs, String path, byte[] content) throws Exception {
        long fh = fs.create(path, 0644, OpenFlags.of(1));
        fs.write(path, fh, ByteBuffer.wrap(content), 0);
        fs.release(path, fh, OpenFlags.of(1));
    }

    private static byte[] dirContent(int dir, int file) {
        return bytes(4096 + file * 100, 1000 * dir + file);
    }

    private static byte[] fileContent(int i) {
        return bytes(20_000 + i, 50_000 + i);
    }

    private static byte[] bytes(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static String describe(Map<String, byte[]> s) {
        Map<String, Integer> out = new TreeMap<>();
        s.forEach((k, v) -> out.put(k, Arrays.hashCode(v)));
        return out.toString();
    }
}
