package io.fuseguard.benchmark;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Writes the synthetic source tree of the {@code tar -x} workload: DIRS directories of FILES small files
 * each (34 × 100 = 3,400 by default), sizes 0–16 KiB and content from a fixed seed, so the tree, and the
 * tarball bench/run makes from it with fixed owner, mtime and order, are the same on every machine.
 *
 * <pre>TreeGen OUTDIR [DIRS [FILES]]</pre>
 */
public final class TreeGen {
    private TreeGen() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: TreeGen OUTDIR [DIRS [FILES]]");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        int dirs = args.length > 1 ? Integer.parseInt(args[1]) : 34;
        int files = args.length > 2 ? Integer.parseInt(args[2]) : 100;
        SplittableRandom random = new SplittableRandom(20240909L);
        long bytes = 0;
        for (int d = 0; d < dirs; d++) {
            Path dir = out.resolve(String.format(Locale.ROOT, "module-%02d/src", d));
            Files.createDirectories(dir);
            for (int f = 0; f < files; f++) {
                // Mostly small, like a source tree: 0-4 KiB for 3 files in 4, up to 16 KiB for the rest.
                int size = random.nextInt(4) == 0 ? random.nextInt(16 * 1024 + 1) : random.nextInt(4 * 1024 + 1);
                byte[] content = new byte[size];
                for (int i = 0; i < size; i++) {
                    content[i] = (byte) (' ' + random.nextInt(95));
                }
                Files.write(dir.resolve(String.format(Locale.ROOT, "file-%03d.txt", f)), content);
                bytes += size;
            }
        }
        System.out.println("files=" + dirs * files + " dirs=" + 2 * dirs + " bytes=" + bytes);
    }
}
