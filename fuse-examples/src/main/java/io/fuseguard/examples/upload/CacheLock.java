package io.fuseguard.examples.upload;

import io.fuseguard.examples.host.Host;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The exclusive lock a {@link CachedUploadFs} holds on its cache directory for its whole life: an
 * {@code flock(2)} on the file {@code lock} in the cache, which also names the holder's process id. Two
 * filesystems on one cache would each replay and rewrite the other's journal (the first then appends to a log
 * nobody reads again, and the files it acknowledged are never uploaded), empty each other's downloads and serve
 * the same cache files; the second one is refused instead ({@link InUseException}).
 *
 * <p>The kernel drops the lock when the holder's last descriptor of it closes, which includes every end of the
 * process ({@code kill -9} too), so a crashed daemon never leaves a stale lock behind, and a supervised mount's
 * next worker, which builds its filesystem only after the previous worker died, gets it at once.
 *
 * <pre>{@code
 * CacheLock.probe(Path.of("/var/cache/drive")); // throws InUseException while a filesystem uses it
 * }</pre>
 */
public final class CacheLock implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(CacheLock.class);
    /** The lock file's name in the cache directory. */
    static final String NAME = "lock";
    private static final int LOCK_SH = 1;
    private static final int LOCK_EX = 2;
    private static final int LOCK_NB = 4;
    private static final int EWOULDBLOCK = 11;
    private static final int EINTR = 4;
    /**
     * How long {@link #acquire} keeps trying while the lock is taken: long enough for a {@link #probe} that holds
     * it for an instant, short enough for a refusal to be quick.
     */
    private static final Duration WAIT = Duration.ofSeconds(2);
    /** How much of the holder's command line a refusal quotes. */
    private static final int COMMAND_CHARS = 160;

    private int fd;

    private CacheLock(int fd) {
        this.fd = fd;
    }

    /** Another process (or another filesystem of this one) holds the cache; the message is one line. */
    public static final class InUseException extends IOException {
        private static final long serialVersionUID = 1L;

        InUseException(String message) {
            super(message);
        }
    }

    /**
     * Takes the lock of {@code cacheDir} (created if missing), waiting at most a moment for a holder that is
     * about to let go, and writes this process's id into it.
     *
     * @throws InUseException when another open of the lock holds it
     */
    static CacheLock acquire(Path cacheDir) throws IOException {
        Files.createDirectories(cacheDir);
        Path file = cacheDir.resolve(NAME);
        int fd = Host.LIBC.openat(Host.AT_FDCWD, file.toString(),
                Host.O_RDWR | Host.O_CREAT | Host.O_NOFOLLOW | Host.O_CLOEXEC, 0644);
        if (fd < 0) {
            throw new IOException("cannot open " + file + ": errno " + Host.errno());
        }
        long until = System.nanoTime() + WAIT.toNanos();
        for (;;) {
            if (UploadLibC.get().flock(fd, LOCK_EX | LOCK_NB) == 0) {
                break;
            }
            int errno = Host.errno();
            if (errno == EINTR) {
                continue;
            }
            if (errno != EWOULDBLOCK) {
                // a filesystem without locks (some network filesystems): run as before rather than refuse
                LOG.warn("cannot lock {} (flock: errno {}): nothing keeps a second filesystem off this cache", file,
                        errno);
                break;
            }
            if (System.nanoTime() - until > 0) {
                String holder = holder(file);
                Host.LIBC.close(fd);
                throw new InUseException(inUse(cacheDir, holder));
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Host.LIBC.close(fd);
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted while waiting for the lock of " + cacheDir);
            }
        }
        writePid(fd);
        return new CacheLock(fd);
    }

    /**
     * Throws {@link InUseException} when a filesystem holds {@code cacheDir}; creates nothing (a cache that does
     * not exist yet is free). Holds a shared lock for an instant, which {@link #acquire} waits out.
     */
    public static void probe(Path cacheDir) throws InUseException {
        Path file = cacheDir.resolve(NAME);
        if (!Files.isRegularFile(file)) {
            return;
        }
        int fd = Host.LIBC.openat(Host.AT_FDCWD, file.toString(), Host.O_RDONLY | Host.O_NOFOLLOW | Host.O_CLOEXEC, 0);
        if (fd < 0) {
            return; // removed meanwhile, or unreadable: acquire tells
        }
        try {
            int rc;
            do {
                rc = UploadLibC.get().flock(fd, LOCK_SH | LOCK_NB);
            } while (rc < 0 && Host.errno() == EINTR);
            if (rc < 0 && Host.errno() == EWOULDBLOCK) {
                throw new InUseException(inUse(cacheDir, holder(file)));
            }
        } finally {
            Host.LIBC.close(fd); // drops the shared lock
        }
    }

    private static String inUse(Path cacheDir, String holder) {
        return "the cache " + cacheDir + " is in use by " + holder + "; stop that filesystem first (unmount it, or "
                + "SIGTERM its process), or give this one a cache directory of its own";
    }

    /** The holder as its lock file and /proc name it: "process 1234 (java -jar ...)", or "another process". */
    private static String holder(Path file) {
        String pid;
        try {
            pid = Files.readString(file, StandardCharsets.US_ASCII).trim();
        } catch (IOException | RuntimeException e) {
            return "another process";
        }
        if (!pid.matches("[0-9]{1,10}")) {
            return "another process";
        }
        try {
            byte[] cmd = Files.readAllBytes(Path.of("/proc", pid, "cmdline"));
            String line = new String(cmd, StandardCharsets.UTF_8).replace('\0', ' ').trim();
            if (line.length() > COMMAND_CHARS) {
                line = line.substring(0, COMMAND_CHARS) + "...";
            }
            return line.isEmpty() ? "process " + pid : "process " + pid + " (" + line + ")";
        } catch (IOException | RuntimeException e) {
            return "process " + pid; // another pid namespace, or gone meanwhile
        }
    }

    /** Replaces the lock file's content with this process's id, for the refusal of a second user (best effort). */
    private static void writePid(int fd) {
        byte[] pid = (ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII);
        ByteBuffer b = ByteBuffer.allocateDirect(pid.length).put(pid).flip();
        if (Host.LIBC.ftruncate(fd, 0) < 0 || Host.LIBC.pwrite(fd, b, pid.length, 0) != pid.length) {
            LOG.debug("cannot write the pid into the cache's lock file: errno {}", Host.errno()); // a full cache
        }
    }

    /** Lets go of the lock (closing its descriptor); the file stays. */
    @Override
    public synchronized void close() {
        if (fd >= 0) {
            Host.LIBC.close(fd);
            fd = -1;
        }
    }
}
