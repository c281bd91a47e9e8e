package io.fuseguard.edges;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.BackedDirFs;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A daemon serving {@link BackedDirFs} (every open backed: FUSE passthrough where the kernel and privileges allow)
 * in its own JVM.
 *
 * <pre>
 * PassthroughDaemon &lt;source dir&gt; &lt;mount point&gt; [clients=N] [hold]
 * </pre>
 * Prints {@code READY <connection id> <passthrough state>} once mounted. With {@code clients=N} it then starts N
 * client processes that loop over the file {@code f} of the mount: reading it, rewriting its first 64 KiB, and
 * reading it through mmap; with {@code hold} its own thread keeps {@code f} open through the mount. Commands on
 * standard input: {@code selfread} (the daemon's own thread reads {@code f} through the kernel; prints
 * {@code SELFREAD <bytes> reads=<READs that reached the filesystem>}), {@code quit} (unmounts and exits); at the
 * end of its input it serves until killed.
 */
public final class PassthroughDaemon {
    private PassthroughDaemon() {
    }

    public static void main(String[] args) throws Exception {
        Path src = Path.of(args[0]);
        Path mp = Path.of(args[1]);
        int clients = 0;
        boolean hold = false;
        for (int i = 2; i < args.length; i++) {
            if (args[i].startsWith("clients=")) {
                clients = Integer.parseInt(args[i].substring(8));
            } else if (args[i].equals("hold")) {
                hold = true;
            } else {
                throw new IllegalArgumentException(args[i]);
            }
        }
        BackedDirFs fs = new BackedDirFs(src);
        FuseMount m = FuseMount.mount(fs, mp, FuseguardConfig.builder().fsName("pt-daemon")
                .interruptStalledHandlers(false).build());
        List<Process> started = new ArrayList<>();
        String f = mp.resolve("f").toString();
        for (int i = 0; i < clients; i++) {
            String loop = switch (i % 3) {
                case 0 -> "while :; do cat " + f + " > /dev/null; done";
                case 1 -> "while :; do dd if=/dev/zero of=" + f + " bs=64k count=1 conv=notrunc 2>/dev/null; done";
                default -> "while :; do python3 -c \"import mmap,sys; f=open(sys.argv[1],'rb'); "
                        + "m=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ); sum(m[::4096])\" " + f + "; done";
            };
            started.add(new ProcessBuilder("sh", "-c", loop).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start());
        }
        InputStream held = hold ? Files.newInputStream(mp.resolve("f")) : null;
        System.out.println("READY " + m.connectionId().orElse(-1) + " " + m.passthrough().state());
        System.out.flush();
        boolean quit = false;
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while (!quit && (line = in.readLine()) != null) {
                if (line.equals("selfread")) {
                    byte[] b = Files.readAllBytes(mp.resolve("f"));
                    System.out.println("SELFREAD " + b.length + " reads=" + fs.reads.get() + " backed="
                            + m.passthrough().backedOpens());
                } else if (line.equals("quit")) {
                    quit = true;
                }
                System.out.flush();
            }
        }
        if (!quit) {
            Thread.sleep(Long.MAX_VALUE); // no commands (started in the background by a shell): serve until killed
        }
        for (Process p : started) {
            p.destroyForcibly();
        }
        if (held != null) {
            held.close();
        }
        m.close();
        System.out.println("UNMOUNTED");
        System.out.flush();
    }
}
