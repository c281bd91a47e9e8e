package io.fuseguard.examples.upload;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.mount.FuseMount;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What the crash tests share: a daemon in a child JVM ({@link UploadDaemonMain}) whose standard output is kept
 * line by line (READY, and the {@link CrashPoints} lines), the removal of the mount a killed daemon leaves, and
 * a restart in this JVM on the same cache and backend that reads every file back through a real mount.
 */
final class CrashRig {
    /** JVM options of the child daemons: a quick start matters more than peak speed here. */
    private static final List<String> CHILD_JVM = List.of("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
            "-Xss512k");

    private CrashRig() {
    }

    /** A daemon JVM; its standard output lines are collected as they come. */
    static final class Daemon {
        final Process process;
        private final List<String> lines = new ArrayList<>();
        private final CompletableFuture<Void> ready = new CompletableFuture<>();
        private final Thread reader;

        private Daemon(Process process) {
            this.process = process;
            this.reader = new Thread(this::read, "daemon-out-" + process.pid());
            reader.setDaemon(true);
            reader.start();
        }

        private void read() {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    synchronized (lines) {
                        lines.add(line);
                    }
                    if (line.startsWith("READY")) {
                        ready.complete(null);
                    }
                }
            } catch (IOException e) {
                // the process ended
            }
            ready.completeExceptionally(new IOException("daemon exited before READY"));
        }

        /**
         * Starts {@link UploadDaemonMain} with {@code props} as system properties and waits for READY; the
         * daemon's stderr goes to {@code log}.
         */
        static Daemon start(String classpath, Map<String, String> props, Path log, String... args)
                throws Exception {
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            List<String> cmd = new ArrayList<>();
            cmd.add(java);
            cmd.addAll(CHILD_JVM);
            props.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
            cmd.add("-cp");
            cmd.add(classpath);
            cmd.add(UploadDaemonMain.class.getName());
            cmd.addAll(Arrays.asList(args));
            Process p = new ProcessBuilder(cmd).redirectError(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            Daemon d = new Daemon(p);
            try {
                d.ready.get(60, TimeUnit.SECONDS);
            } catch (Exception e) {
                d.kill();
                throw new AssertionError("daemon not ready: " + e + "\nout: " + d.lines() + "\nerr: "
                        + Files.readString(log), e);
            }
            return d;
        }

        /** The lines printed so far. */
        List<String> lines() {
            synchronized (lines) {
                return new ArrayList<>(lines);
            }
        }

        /** The point it crashed at ({@code CRASH name} printed), or null. */
        String crashedAt() throws InterruptedException {
            reader.join(2000); // the last lines
            for (String l : lines()) {
                if (l.startsWith("CRASH ")) {
                    return l.substring(6);
                }
            }
            return null;
        }

        /** Waits for the process to end; whether it did within {@code limit}. */
        boolean awaitExit(Duration limit) throws InterruptedException {
            return process.waitFor(limit.toMillis(), TimeUnit.MILLISECONDS);
        }

        /** SIGKILL, and waits for the end. */
        void kill() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }

        /** SIGTERM (the daemon unmounts and stops its filesystem), then SIGKILL if it does not end. */
        void term() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(20, TimeUnit.SECONDS)) {
                kill();
            }
        }
    }

    /** The files under {@code root} by path ({@code /a/b}), content as bytes; {@code skip}: top-level names left out. */
    static Map<String, byte[]> files(Path root, String... skip) throws IOException {
        Map<String, byte[]> out = new TreeMap<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        List<String> skipped = List.of(skip);
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                if (p.equals(root)) {
                    continue;
                }
                Path rel = root.relativize(p);
                if (skipped.contains(rel.getName(0).toString())) {
                    continue;
                }
                if (Files.isRegularFile(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                    out.put("/" + rel.toString(), Files.readAllBytes(p));
                }
            }
        }
        return out;
    }

    /** Every path (files and directories) under {@code root} whose name contains {@code part}. */
    static List<String> named(Path root, String part) throws IOException {
        List<String> out = new ArrayList<>();
        if (!Files.isDirectory(root)) {
            return out;
        }
        try (Stream<Path> s = Files.walk(root)) {
            s.filter(p -> p.getFileName().toString().contains(part)).forEach(p -> out.add(root.relativize(p)
                    .toString()));
        }
        return out;
    }

    /** What a restart on a cache and backend shows, read through a real mount once nothing is pending. */
    record Recovered(Map<String, byte[]> mount, Map<String, byte[]> backend, boolean idle, List<String> hidden,
                     java.util.Set<String> pending) {
    }

    /**
     * Starts a filesystem in this JVM on {@code cache} and {@code backendDir}, mounts it on {@code mnt}, waits
     * until nothing is pending (at most {@code idle}), and reads every file through the mount and from the
     * backend; unmounts and stops it again.
     */
    static Recovered recover(Path cache, Path backendDir, Path mnt, Duration idle) throws Exception {
        Files.createDirectories(mnt);
        DirectoryBackend backend = new DirectoryBackend(backendDir);
        CachedUploadFs fs = new CachedUploadFs(cache, backend,
                CachedUploadFs.Settings.defaults().withUploadDelay(Duration.ZERO)
                        .withBackoff(Duration.ofMillis(20), Duration.ofMillis(200)));
        try {
            FuseguardConfig config = FuseguardConfig.builder().fsName("upload-recover")
                    .shutdownHook(false)
                    .mountOption("attr_timeout=0").mountOption("entry_timeout=0").build();
            boolean isIdle;
            Map<String, byte[]> seen;
            List<String> hidden;
            java.util.Set<String> pending;
            try (FuseMount m = FuseMount.mount(fs, mnt, config)) {
                isIdle = fs.awaitIdle(idle);
                pending = fs.pendingPaths();
                seen = files(mnt);
                hidden = named(mnt, ".fuse_hidden");
            }
            return new Recovered(seen, files(backendDir, DirectoryBackend.INCOMING), isIdle, hidden, pending);
        } finally {
            fs.close();
            backend.close();
        }
    }

    /** Unchecked {@link #files}. */
    static Map<String, byte[]> filesQuietly(Path root, String... skip) {
        try {
            return files(root, skip);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
