package io.fuseguard.examples.upload;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.examples.host.Host;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import java.util.zip.CRC32C;

/**
 * The durable to-do list of a {@link CachedUploadFs}: an append-only log ({@code journal/log}) of what the
 * backend still has to be told, one record per decision, each written with one {@code write(2)} before the
 * cache change it announces.
 *
 * <h2>Records</h2>
 * <ul>
 *   <li>{@code SET op path version}: the path's entry is now "upload pending" ({@link Op#PUT}), "delete pending"
 *       ({@link Op#DELETE}) or "local only, remove at the next start" ({@link Op#LOCAL}, a hidden name of a file
 *       unlinked while open);</li>
 *   <li>{@code CLEAR path}: the backend confirmed, the path has nothing pending;</li>
 *   <li>{@code INTENT id from to}: a rename is about to change the cache; followed by {@code DONE id effects}
 *       (the cache was renamed; the effects are the entries every moved path gets, a whole directory rename in
 *       one record) or {@code FAILED id} (it was not). Every record is appended under the filesystem's lock and
 *       a rename appends its intent, renames the cache and appends its outcome in one hold of it, so an intent
 *       without an outcome is the last record of a log: the daemon stopped between the two, and the cache
 *       itself tells whether the rename happened ({@link Replay#openIntent()});</li>
 *   <li>{@code START bootId}, {@code SYNCED}, {@code CLOSED}: a daemon started, the log was flushed to disk,
 *       it stopped cleanly.</li>
 * </ul>
 * A record is framed as {@code length, CRC-32C, payload}: a record torn by a crash of the machine is recognised
 * and the log is read up to it.
 *
 * <h2>Durability</h2>
 * A record is in the host's page cache when {@link #append} returns: it survives any end of the daemon
 * ({@code kill -9}, an OOM kill, a crash). Against a crash of the machine the log is flushed ({@code
 * fdatasync}) by {@link #sync}: at every {@code fsync(2)} of a file through the mount, every second while
 * records arrive, and at a clean stop. The next start replays the records and rewrites the log with just the
 * pending entries ({@link #compact}); so does a log grown past {@link #COMPACT_BYTES}.
 *
 * <p>Appends use a plain descriptor ({@code pwrite}), which a thread interrupt leaves alone (an interrupted
 * {@code FileChannel} would close for good). A failed append (ENOSPC) is cut off again, so the log never keeps
 * half a record, and the operation it announced does not happen.
 *
 * <h2>A full cache</h2>
 * The log keeps {@link #RESERVE} bytes allocated beyond its end ({@code fallocate(FALLOC_FL_KEEP_SIZE)}, so the
 * file's size and content do not change). An <em>ordinary</em> record (a new file, a change, a rename) may not
 * eat into it: when the filesystem has no room for the record and a full reserve behind it, the record, and the
 * operation it announces, fail with ENOSPC. An <em>essential</em> record (a delete, the hide of a file unlinked
 * while open, a rename's outcome, the uploads' bookkeeping, a flush or stop note) is written into the reserve,
 * so {@code rm} frees space on a cache that is full, with a WARN the first time. Ordinary records refill the
 * reserve as soon as there is room again. On a filesystem that cannot preallocate there is no reserve (one WARN).
 * A start whose rewrite ({@link #compact}) finds no room appends to the old log instead ({@link #resume}).
 */
final class Journal implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Journal.class);
    /** Log size past which the log is rewritten with the pending entries only (also 4 x the last rewrite). */
    static final long COMPACT_BYTES = 4L << 20;
    /** Bytes kept allocated beyond the log's end for essential records when the cache's filesystem is full. */
    static final long RESERVE = 256L << 10;
    /** How far past the reserve one allocation reaches (one {@code fallocate} per this many bytes of records). */
    private static final long ALLOCATION_STEP = 64L << 10;
    private static final int FALLOC_FL_KEEP_SIZE = 1;
    /** How long a rewrite that failed (a full cache) waits before the next attempt. */
    private static final long COMPACT_RETRY_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
    private static final int MAGIC = 0x46475531; // "FGU1"
    private static final String LOG_NAME = "log";
    private static final String TMP_NAME = "log.tmp";

    /** What the backend still has to be told about a path. */
    enum Op {
        /** Upload the cache file of the path. */
        PUT,
        /** Delete the path from the backend. */
        DELETE,
        /** A cache entry that never reaches the backend; removed from the cache at the next start. */
        LOCAL,
        /** Nothing pending any more (only in a rename's effects). */
        CLEAR
    }

    /** One journal entry: the path's pending operation and its version (a new one at every change of it). */
    record Entry(Op op, String path, long version) {
    }

    /** A rename whose cache side may or may not have happened: the daemon stopped between intent and outcome. */
    record Intent(long id, String from, String to, boolean directory) {
    }

    /**
     * What a log holds.
     *
     * @param entries      the pending entries, by path, in the order they were last set
     * @param openIntent   a rename the daemon stopped inside of, or null
     * @param maxVersion   the highest version in the log (the next run continues above it)
     * @param maxIntent    the highest rename id in the log
     * @param clean        whether the last run stopped cleanly ({@code CLOSED} last)
     * @param bootId       the boot id of the machine that wrote the last {@code START}, or empty
     * @param syncedMillis wall time of the last flush that is known to have reached the disk
     * @param damaged      bytes at the end that could not be read (a torn record)
     * @param validEnd     where the readable records end (0: no readable log)
     * @param legacy       entries taken over from the previous journal format
     */
    record Replay(Map<String, Entry> entries, Intent openIntent, long maxVersion, long maxIntent, boolean clean,
                  String bootId, long syncedMillis, long damaged, long validEnd, int legacy) {
    }

    private static final byte T_START = 1;
    private static final byte T_SET = 2;
    private static final byte T_CLEAR = 3;
    private static final byte T_INTENT = 4;
    private static final byte T_DONE = 5;
    private static final byte T_FAILED = 6;
    private static final byte T_SYNCED = 7;
    private static final byte T_CLOSED = 8;

    private final Path dir;
    private final String bootId;
    /** Serialises {@link #sync} with the swap of the descriptor by {@link #compact} and {@link #close}. */
    private final ReentrantLock fdLock = new ReentrantLock();
    private volatile int fd = -1;
    private volatile boolean dirty;
    /** End of the log; appends are serialised by the caller (the filesystem's lock). */
    private long end;
    private long compactedSize;
    /** End of the range allocated for the log (its end plus what is preallocated beyond it). */
    private long allocated;
    /** False once the filesystem refused to preallocate: no reserve then. */
    private boolean preallocates = true;
    /** Whether an ordinary record was refused for want of room (logged once until there is room again). */
    private boolean full;
    /** Whether an essential record found no reserve left (logged once until there is room again). */
    private boolean reserveUsedUp;
    /** System.nanoTime before which no rewrite is tried again (after one failed). */
    private long nextCompaction;
    private ByteBuffer buf = ByteBuffer.allocateDirect(4096).order(ByteOrder.LITTLE_ENDIAN);

    private Journal(Path dir, String bootId) {
        this.dir = dir;
        this.bootId = bootId;
    }

    /** Opens the journal in {@code dir} (created if missing) without writing to it; call {@link #load} next. */
    static Journal open(Path dir) throws IOException {
        return open(dir, currentBootId());
    }

    /** Opens the journal as a machine with boot id {@code bootId} would (tests of a crash of the machine). */
    static Journal open(Path dir, String bootId) throws IOException {
        Files.createDirectories(dir);
        Files.deleteIfExists(dir.resolve(TMP_NAME)); // a rewrite interrupted by a crash: the old log stands
        return new Journal(dir, bootId);
    }

    /** The directory holding the log. */
    Path dir() {
        return dir;
    }

    /** This machine's boot id (changes at every boot: tells a crash of the machine from one of the daemon). */
    String bootId() {
        return bootId;
    }

    static String currentBootId() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/random/boot_id")).trim();
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    // ---------------------------------------------------------------- reading

    /** Reads the log a previous run left (an empty replay when there is none). */
    Replay load() throws IOException {
        return readDir(dir);
    }

    /** Reads the journal in {@code journalDir} without changing it (for tests and tools). */
    static Replay readDir(Path journalDir) throws IOException {
        Replay r = read(journalDir.resolve(LOG_NAME));
        List<Entry> legacy = readLegacy(journalDir);
        if (legacy.isEmpty()) {
            return r;
        }
        // entries of the journal before the log (one file per path): older than anything in a log, so a log's
        // entry for the same path wins
        Map<String, Entry> merged = new LinkedHashMap<>();
        long maxVersion = r.maxVersion();
        for (Entry e : legacy) {
            merged.put(e.path(), e);
            maxVersion = Math.max(maxVersion, e.version());
        }
        for (Entry e : r.entries().values()) {
            merged.remove(e.path());
            merged.put(e.path(), e);
        }
        LOG.info("Journal {}: {} entr{} of the previous journal format taken over", journalDir, legacy.size(),
                legacy.size() == 1 ? "y" : "ies");
        return new Replay(merged, r.openIntent(), maxVersion, r.maxIntent(), false, r.bootId(), r.syncedMillis(),
                r.damaged(), r.validEnd(), legacy.size());
    }

    /** The previous format's magic line: one file {@code <hash>.entry} per path, "op", "version", "path". */
    private static final String LEGACY_MAGIC = "fuseguard-upload-journal 1";
    private static final String LEGACY_SUFFIX = ".entry";

    /** The entries a journal of the previous format left in {@code dir} (one file per path). */
    private static List<Entry> readLegacy(Path dir) throws IOException {
        List<Entry> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return out;
        }
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (!f.getFileName().toString().endsWith(LEGACY_SUFFIX)) {
                    continue;
                }
                try {
                    String[] lines = Files.readString(f, StandardCharsets.UTF_8).split("\n");
                    if (lines.length < 4 || !lines[0].equals(LEGACY_MAGIC) || !lines[1].startsWith("op ")
                            || !lines[2].startsWith("version ") || !lines[3].startsWith("path ")) {
                        throw new IllegalArgumentException("not an entry");
                    }
                    String path = new String(java.util.Base64.getUrlDecoder().decode(lines[3].substring(5)),
                            StandardCharsets.UTF_8);
                    out.add(new Entry(Op.valueOf(lines[1].substring(3)), path, Long.parseLong(lines[2]
                            .substring(8))));
                } catch (RuntimeException e) {
                    LOG.error("Unreadable entry {} of the previous journal format left in place: {}", f, e.toString());
                }
            }
        }
        return out;
    }

    /** Removes the previous format's entry files once a log holds them. */
    private void removeLegacy() throws IOException {
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String n = f.getFileName().toString();
                if (n.endsWith(LEGACY_SUFFIX) || (n.endsWith(".tmp") && !n.equals(TMP_NAME))) {
                    Files.deleteIfExists(f);
                }
            }
        }
    }

    private static Replay read(Path log) throws IOException {
        byte[] all;
        try {
            all = Files.readAllBytes(log);
        } catch (NoSuchFileException e) {
            return new Replay(new LinkedHashMap<>(), null, 0, 0, true, "", 0, 0, 0, 0);
        }
        ByteBuffer b = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
        Map<String, Entry> entries = new LinkedHashMap<>();
        Intent open = null;
        boolean afterOpen = false;
        long maxVersion = 0;
        long maxIntent = 0;
        boolean clean = all.length == 0;
        String boot = "";
        long synced = 0;
        if (b.remaining() >= 4 && b.getInt(0) == MAGIC) {
            b.position(4);
        } else if (all.length > 0) {
            LOG.error("{} is not a journal of this version, or its first bytes are damaged: none of its {} bytes "
                    + "can be read", log, all.length);
            return new Replay(entries, null, 0, 0, false, "", 0, all.length, 0, 0);
        }
        while (b.remaining() > 0) {
            int start = b.position();
            ByteBuffer payload = frame(b);
            if (payload == null) {
                long damaged = all.length - start;
                LOG.warn("Journal {} ends with {} unreadable byte(s) at offset {} (a record torn by a crash of the "
                        + "machine); the records before it are used", log, damaged, start);
                return new Replay(entries, open, maxVersion, maxIntent, false, boot, synced, damaged, start, 0);
            }
            byte type = payload.get();
            clean = false;
            switch (type) {
                case T_START -> {
                    boot = string(payload);
                    synced = payload.getLong();
                }
                case T_SET -> {
                    Entry e = new Entry(Op.values()[payload.get()], string(payload), payload.getLong());
                    maxVersion = Math.max(maxVersion, e.version());
                    entries.remove(e.path()); // keeps the order of the last change
                    entries.put(e.path(), e);
                }
                case T_CLEAR -> entries.remove(string(payload));
                case T_INTENT -> {
                    open = new Intent(payload.getLong(), string(payload), string(payload), payload.get() == 1);
                    maxIntent = Math.max(maxIntent, open.id());
                    afterOpen = false;
                }
                case T_DONE, T_FAILED -> {
                    long id = payload.getLong();
                    if (open != null && open.id() == id) {
                        open = null;
                    }
                    if (type == T_DONE) {
                        int n = payload.getInt();
                        for (int i = 0; i < n; i++) {
                            Op op = Op.values()[payload.get()];
                            String path = string(payload);
                            long version = payload.getLong();
                            entries.remove(path);
                            if (op != Op.CLEAR) {
                                entries.put(path, new Entry(op, path, version));
                                maxVersion = Math.max(maxVersion, version);
                            }
                        }
                    }
                }
                case T_SYNCED -> synced = payload.getLong();
                case T_CLOSED -> clean = true;
                default -> {
                    LOG.error("Journal {}: unknown record type {} at offset {}; the rest is ignored", log, type,
                            start);
                    return new Replay(entries, open, maxVersion, maxIntent, false, boot, synced, all.length - start,
                            start, 0);
                }
            }
            if (open != null && type != T_INTENT) {
                afterOpen = true;
            }
        }
        if (open != null && afterOpen) {
            // cannot happen with appends under one lock; the cache's state decides it anyway
            LOG.warn("Journal {}: the rename {} -> {} has no outcome but records follow it", log, open.from(),
                    open.to());
        }
        return new Replay(entries, open, maxVersion, maxIntent, clean, boot, synced, 0, all.length, 0);
    }

    /** The payload of the frame at {@code b}'s position (position moved past it), or null when torn. */
    private static ByteBuffer frame(ByteBuffer b) {
        if (b.remaining() < 8) {
            return null;
        }
        int len = b.getInt();
        int crc = b.getInt();
        if (len <= 0 || len > b.remaining()) {
            return null;
        }
        ByteBuffer payload = b.slice(b.position(), len).order(ByteOrder.LITTLE_ENDIAN);
        CRC32C c = new CRC32C();
        c.update(payload.duplicate());
        if ((int) c.getValue() != crc) {
            return null;
        }
        b.position(b.position() + len);
        return payload;
    }

    private static String string(ByteBuffer b) {
        int n = b.getInt();
        byte[] s = new byte[n];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    // ---------------------------------------------------------------- writing (caller holds the filesystem's lock)

    /**
     * Starts a fresh log holding {@code entries} only: written beside the old one (with its reserve allocated),
     * flushed, renamed over it and the directory flushed, so a crash leaves the old log or the new one. Then
     * appends go to it. A failure before the rename (a full cache) leaves the old log in place and in use, and
     * {@link #wantsCompaction} false for a while.
     */
    void compact(Collection<Entry> entries) throws IOException {
        Path tmp = dir.resolve(TMP_NAME);
        int nfd = Host.LIBC.openat(Host.AT_FDCWD, tmp.toString(),
                Host.O_WRONLY | Host.O_CREAT | Host.O_TRUNC | Host.O_CLOEXEC, 0600);
        if (nfd < 0) {
            nextCompaction = System.nanoTime() + COMPACT_RETRY_NANOS;
            Errno known = Errno.of(Host.errno());
            throw new JournalException(known == null ? Errno.EIO : known, "cannot create " + tmp + ": errno "
                    + Host.errno());
        }
        long size;
        long alloc;
        try {
            ByteBuffer magic = ByteBuffer.allocateDirect(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, MAGIC);
            writeFully(nfd, magic, 0, 4);
            size = 4;
            begin(T_START);
            putString(bootId);
            buf.putLong(System.currentTimeMillis()); // flushed below: everything so far is on disk
            size += writeRecord(nfd, size);
            for (Entry e : entries) {
                size += writeRecord(nfd, size, setRecord(e));
            }
            alloc = size;
            if (preallocates && preallocate(nfd, size, RESERVE + ALLOCATION_STEP) == 0) {
                alloc = size + RESERVE + ALLOCATION_STEP; // else the first appends try again
            }
            if (Host.LIBC.fdatasync(nfd) < 0) {
                throw new IOException("cannot flush " + tmp + ": errno " + Host.errno());
            }
            CrashPoints.reached(CrashPoints.Point.JOURNAL_COMPACT_WRITTEN);
            Files.move(tmp, dir.resolve(LOG_NAME), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            Host.LIBC.close(nfd);
            Files.deleteIfExists(tmp);
            nextCompaction = System.nanoTime() + COMPACT_RETRY_NANOS;
            throw e;
        }
        // From here on the new log is the log: nothing may fail the rewrite any more (a caller would fall back
        // to the old one, which is gone).
        swapDescriptor(nfd);
        end = size;
        compactedSize = size;
        allocated = alloc;
        dirty = false;
        try {
            syncDir();
        } catch (IOException e) {
            // the rename may not survive a crash of the machine; the boot id check then rescans the cache
            LOG.warn("Journal: cannot flush {} after its rewrite: {}", dir, e.toString());
        }
        try {
            removeLegacy(); // the log holds them now
        } catch (IOException e) {
            LOG.warn("Journal: cannot remove the previous format's entries from {}: {}", dir, e.toString());
        }
    }

    /**
     * Goes on with the log a previous run left, for a start that could not rewrite it ({@link #compact} failed:
     * a full cache): cuts off what could not be read, then appends, as essential records that may use the old
     * log's reserve, what the start decided: a {@code START}, the interrupted rename closed (its effects are
     * among the entries), every entry that differs from the log's, and a clear for every path the log has that is
     * no longer pending; then flushes.
     *
     * @param r   what {@link #load} read from the log
     * @param now the entries pending after the start's replay
     * @throws IOException when the old log cannot be continued (entries of the previous format, an unreadable
     *                     log, or no room even for these records)
     */
    void resume(Replay r, Collection<Entry> now) throws IOException {
        if (r.legacy() > 0 || r.validEnd() < 4) {
            throw new IOException(r.legacy() > 0 ? "the journal has entries of the previous format"
                    : "the journal is not readable");
        }
        Path log = dir.resolve(LOG_NAME);
        int nfd = Host.LIBC.openat(Host.AT_FDCWD, log.toString(), Host.O_WRONLY | Host.O_CLOEXEC, 0);
        if (nfd < 0) {
            throw new IOException("cannot open " + log + ": errno " + Host.errno());
        }
        // unreadable bytes at the end would hide every record behind them; cutting them needs no space (and only
        // then: a truncate to the same size may drop the reserve allocated beyond it)
        if (Files.size(log) > r.validEnd() && Host.LIBC.ftruncate(nfd, r.validEnd()) < 0) {
            int errno = Host.errno();
            Host.LIBC.close(nfd);
            throw new IOException("cannot cut the unreadable end off " + log + ": errno " + errno);
        }
        swapDescriptor(nfd);
        end = r.validEnd();
        compactedSize = end;
        allocated = end; // what the last run preallocated is unknown: the first append asks (free when it is there)
        nextCompaction = System.nanoTime() + COMPACT_RETRY_NANOS;
        begin(T_START);
        putString(bootId);
        buf.putLong(System.currentTimeMillis()); // flushed below with everything before it
        append(buf, true);
        if (r.openIntent() != null) {
            failed(r.openIntent().id()); // resolved: its effects, if it happened, are among the entries below
        }
        Map<String, Entry> pendingNow = new LinkedHashMap<>();
        for (Entry e : now) {
            pendingNow.put(e.path(), e);
        }
        for (String p : r.entries().keySet()) {
            if (!pendingNow.containsKey(p)) {
                clear(p);
            }
        }
        for (Entry e : now) {
            if (!e.equals(r.entries().get(e.path()))) {
                set(e, true);
            }
        }
        sync();
    }

    private void swapDescriptor(int nfd) {
        fdLock.lock();
        try {
            int old = fd;
            fd = nfd;
            if (old >= 0) {
                Host.LIBC.close(old);
            }
        } finally {
            fdLock.unlock();
        }
    }

    /**
     * Keeps the log as it is under a second name, {@code log.damaged-<millis>} (a hard link: it needs no room, and
     * the rewrite that follows replaces only the name {@code log}), so that records {@link #load} could not read
     * can still be looked at by hand. Returns that name, or null when the link could not be made (WARN).
     */
    Path keepDamaged() {
        Path aside = dir.resolve(LOG_NAME + ".damaged-" + System.currentTimeMillis());
        try {
            Files.createLink(aside, dir.resolve(LOG_NAME));
            return aside;
        } catch (IOException | RuntimeException e) {
            LOG.warn("Journal: cannot keep the damaged log aside as {}: {}", aside, e.toString());
            return null;
        }
    }

    /** Whether the log has grown enough to be rewritten ({@link #compact}), and no rewrite failed just now. */
    boolean wantsCompaction() {
        return end > Math.max(COMPACT_BYTES, 4 * compactedSize) && System.nanoTime() - nextCompaction >= 0;
    }

    /** Appends "the entry of {@code e.path()} is now {@code e}"; a delete is essential, anything else ordinary. */
    void set(Entry e) throws IOException {
        set(e, e.op() == Op.DELETE);
    }

    /**
     * Appends "the entry of {@code e.path()} is now {@code e}"; an {@code essential} record may use the reserve
     * of a full cache (a removal, an entry put back after a failed change).
     */
    void set(Entry e, boolean essential) throws IOException {
        append(setRecord(e), essential);
    }

    /** Appends "nothing pending for {@code path}" (essential: bookkeeping of a confirmed upload or delete). */
    void clear(String path) throws IOException {
        begin(T_CLEAR);
        putString(path);
        append(buf, true);
    }

    /**
     * Appends a rename's intent; its outcome ({@link #done} or {@link #failed}) follows in the same lock hold.
     * {@code essential} for a removal (the hide of a file unlinked while open), which a full cache must allow.
     */
    void intent(Intent i, boolean essential) throws IOException {
        begin(T_INTENT);
        buf.putLong(i.id());
        putString(i.from());
        putString(i.to());
        buf.put((byte) (i.directory() ? 1 : 0));
        append(buf, essential);
    }

    /** Appends an ordinary rename intent ({@link #intent(Intent, boolean)}). */
    void intent(Intent i) throws IOException {
        intent(i, false);
    }

    /** Appends "rename {@code id} happened" with the entries it gives the paths it moved (CLEAR: none). */
    void done(long id, List<Entry> effects) throws IOException {
        begin(T_DONE);
        buf.putLong(id);
        buf.putInt(effects.size());
        for (Entry e : effects) {
            byte[] p = e.path().getBytes(StandardCharsets.UTF_8);
            ensure(1 + 4 + p.length + 8);
            buf.put((byte) e.op().ordinal());
            buf.putInt(p.length);
            buf.put(p);
            buf.putLong(e.version());
        }
        append(buf, true);
    }

    /** Appends "rename {@code id} did not happen" (or, at a start, "is settled"). */
    void failed(long id) throws IOException {
        begin(T_FAILED);
        buf.putLong(id);
        append(buf, true);
    }

    /** Appends "the daemon stopped cleanly" and flushes. */
    void closed() throws IOException {
        begin(T_CLOSED);
        append(buf, true);
        sync();
    }

    private ByteBuffer setRecord(Entry e) {
        begin(T_SET);
        buf.put((byte) e.op().ordinal());
        putString(e.path());
        buf.putLong(e.version());
        return buf;
    }

    private void begin(byte type) {
        buf.clear();
        buf.position(8); // length and checksum go first
        buf.put(type);
    }

    private void putString(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        ensure(4 + b.length + 9);
        buf.putInt(b.length);
        buf.put(b);
    }

    private void ensure(int more) {
        if (buf.remaining() < more + 16) {
            ByteBuffer bigger = ByteBuffer.allocateDirect(Math.max(buf.capacity() * 2, buf.position() + more + 64))
                    .order(ByteOrder.LITTLE_ENDIAN);
            buf.flip();
            bigger.put(buf);
            buf = bigger;
        }
    }

    private void append(ByteBuffer record, boolean essential) throws IOException {
        int f = fd;
        if (f < 0) {
            throw new IOException("journal closed");
        }
        makeRoom(f, record.position(), essential);
        try {
            end += writeRecord(f, end, record);
        } catch (IOException e) {
            allocated = Math.min(allocated, end); // the cut may have dropped what was allocated beyond the end
            throw e;
        }
        dirty = true;
    }

    /**
     * Makes sure a record of {@code len} bytes fits: an ordinary one with a whole {@link #RESERVE} behind it
     * (allocated now if need be, else ENOSPC), an essential one in what is allocated (it may use the reserve).
     */
    private void makeRoom(int f, int len, boolean essential) throws JournalException {
        if (!preallocates || end + len + (essential ? 0 : RESERVE) <= allocated) {
            return; // the common case: one comparison
        }
        int errno = preallocate(f, end, len + RESERVE + ALLOCATION_STEP);
        if (errno == 0) {
            allocated = end + len + RESERVE + ALLOCATION_STEP;
            refilled();
            return;
        }
        if (errno == ENOSPC || errno == EDQUOT) {
            if (preallocate(f, end, len + RESERVE) == 0) { // room for this record and the reserve, just
                allocated = Math.max(allocated, end + len + RESERVE);
                refilled();
                return;
            }
        }
        if (!preallocates) {
            return; // the filesystem cannot preallocate: appends as they come
        }
        if (essential) {
            if (!reserveUsedUp) {
                reserveUsedUp = true;
                LOG.warn("The cache's filesystem is full and the journal's reserve is used up: removals may fail with "
                        + "ENOSPC too; free space in the cache's filesystem");
            }
            return; // as it comes: the write itself tells
        }
        if (!full) {
            full = true;
            LOG.warn("The cache's filesystem is full: new files and changes are refused with ENOSPC, removals go on "
                    + "in the journal's reserve ({} KiB left); remove files through the mount to make room",
                    Math.max(0, allocated - end) >> 10);
        }
        Errno known = Errno.of(errno);
        throw new JournalException(known == null ? Errno.EIO : known, "journal: no room for the record and the "
                + (RESERVE >> 10) + " KiB it keeps for removals (fallocate: errno " + errno + ")");
    }

    private void refilled() {
        if (full || reserveUsedUp) {
            full = false;
            reserveUsedUp = false;
            LOG.info("The cache's filesystem has room again: new files and changes are taken, the journal's reserve "
                    + "for removals is whole");
        }
    }

    /**
     * {@code fallocate(FALLOC_FL_KEEP_SIZE)} of a range of {@code f}: blocks allocated, size and content unchanged.
     * Returns 0 or the errno; a filesystem that cannot preallocate turns the reserve off (one WARN).
     */
    private int preallocate(int f, long offset, long len) {
        for (;;) {
            if (Host.LIBC.fallocate(f, FALLOC_FL_KEEP_SIZE, offset, len) == 0) {
                return 0;
            }
            int errno = Host.errno();
            if (errno == EINTR) {
                continue;
            }
            if ((errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL) && preallocates) {
                preallocates = false;
                LOG.warn("Journal {}: the cache's filesystem cannot preallocate (fallocate: errno {}); without a "
                        + "reserve, a full cache refuses removals too", dir, errno);
            }
            return errno;
        }
    }

    private static final int EINTR = 4;
    private static final int EINVAL = 22;
    private static final int ENOSPC = 28;
    private static final int ENOSYS = 38;
    private static final int EOPNOTSUPP = 95;
    private static final int EDQUOT = 122;

    private long writeRecord(int f, long offset) throws IOException {
        return writeRecord(f, offset, buf);
    }

    /** Seals the record in {@code record} (length and checksum) and writes it at {@code offset}; its size. */
    private long writeRecord(int f, long offset, ByteBuffer record) throws IOException {
        int total = record.position();
        int len = total - 8;
        CRC32C c = new CRC32C();
        c.update(record.duplicate().position(8).limit(total));
        record.putInt(0, len);
        record.putInt(4, (int) c.getValue());
        try {
            writeFully(f, record, offset, total);
        } catch (IOException e) {
            // never leave half a record: the next one would be unreadable behind it
            if (Host.LIBC.ftruncate(f, offset) < 0) {
                LOG.error("Journal: cannot cut a failed append off again (errno {}); the log is damaged from "
                        + "offset {}", Host.errno(), offset);
            }
            throw e;
        }
        return total;
    }

    private static void writeFully(int f, ByteBuffer b, long offset, int length) throws IOException {
        ByteBuffer src = b.duplicate().position(0).limit(length); // jnr passes the address at its position
        long done = 0;
        while (src.hasRemaining()) {
            long n = Host.LIBC.pwrite(f, src, src.remaining(), offset + done);
            if (n < 0) {
                int errno = Host.errno();
                if (errno == Errno.EINTR.code()) {
                    continue;
                }
                Errno known = Errno.of(errno);
                throw new JournalException(known == null ? Errno.EIO : known, "journal write: errno " + errno);
            }
            done += n;
            src.position(src.position() + (int) n);
        }
    }

    // ---------------------------------------------------------------- flushing

    /**
     * Flushes the log to disk if anything was appended since the last flush, and notes the time in it (the next
     * start after a crash of the machine trusts the records up to it). Takes no filesystem lock.
     */
    void sync() throws IOException {
        if (!dirty) {
            return;
        }
        fdLock.lock();
        try {
            int f = fd;
            if (f < 0) {
                return;
            }
            dirty = false;
            if (Host.LIBC.fdatasync(f) < 0) {
                dirty = true;
                throw new IOException("journal flush failed: errno " + Host.errno());
            }
        } finally {
            fdLock.unlock();
        }
    }

    /** The record noting a completed flush; caller holds the filesystem's lock. */
    void noteSynced(long wallMillis) throws IOException {
        begin(T_SYNCED);
        buf.putLong(wallMillis);
        append(buf, true);
    }

    private void syncDir() throws IOException {
        int d = Host.LIBC.openat(Host.AT_FDCWD, dir.toString(), Host.O_RDONLY | Host.O_DIRECTORY | Host.O_CLOEXEC, 0);
        if (d < 0) {
            throw new IOException("cannot open " + dir + ": errno " + Host.errno());
        }
        try {
            if (Host.LIBC.fsync(d) < 0) {
                throw new IOException("cannot flush " + dir + ": errno " + Host.errno());
            }
        } finally {
            Host.LIBC.close(d);
        }
    }

    /** Closes the log's descriptor; appends fail after. */
    @Override
    public void close() {
        fdLock.lock();
        try {
            int f = fd;
            fd = -1;
            if (f >= 0) {
                Host.LIBC.close(f);
            }
        } finally {
            fdLock.unlock();
        }
    }

    /** A failed append, with the host's errno (ENOSPC reaches the writer as ENOSPC). */
    static final class JournalException extends IOException {
        private final Errno errno;

        JournalException(Errno errno, String message) {
            super(message);
            this.errno = errno;
        }

        /** The errno to answer the operation that could not be journaled. */
        ErrnoException asErrno(String what) {
            return new ErrnoException(errno, "cannot journal " + what + ": " + getMessage());
        }
    }

    /** Entries sorted for a fresh log (stable order of the map). */
    static List<Entry> snapshot(Map<String, Entry> pending) {
        return new ArrayList<>(pending.values());
    }
}
