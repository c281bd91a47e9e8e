package io.fuseguard.internal.state;

import io.fuseguard.internal.sys.Syscalls;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * What the kernel knows about a supervised mount, kept where it survives the worker process: an append-only
 * journal in a memfd that the supervisor holds and hands to the next worker. A worker records every change of
 * its node and handle tables (and the INIT it negotiated) here before it answers the request that made it; a
 * worker killed at any instant leaves a journal that replays to exactly what the kernel was told, plus changes
 * whose answers were never sent (the kernel sends those requests again, and the new worker recognises them by
 * their unique).
 *
 * <p>Layout: a 4 KiB header, then two segments. The active segment starts with a snapshot (the whole state as
 * records) and continues with the changes since; when it grows, a fresh snapshot is written into the other
 * segment and the header's active index flips (one aligned store), so a kill during compaction leaves the old
 * segment intact. A record is committed when the segment's tail (in the header) moves past it: a kill while a
 * record is written leaves it out.
 *
 * <p>Records are {@code u16 type, u16 0, u32 length, payload}, 8-byte aligned; strings are {@code u16 length,
 * UTF-8 bytes}. Appends are serialized by this object's lock, the innermost lock of the engine.
 *
 * <p>Internal to fuseguard: not part of the public API.
 */
public final class StateJournal {
    static final long MAGIC = 0x3154415453474643L; // "CFGSTAT1", little-endian
    public static final int HEADER = 4096;
    /** Virtual size of a segment (the memfd is sparse: pages exist only where records were written). */
    static final long SEGMENT = 256L << 20;
    private static final int H_MAGIC = 0;
    private static final int H_ACTIVE = 8;
    private static final int H_TAIL0 = 16;
    private static final int H_TAIL1 = 24;
    private static final int H_INIT = 64; // u32 done, then the INIT record's payload

    // record types
    public static final int NODE_REF = 1;
    public static final int NODE_LINK = 2;
    public static final int FORGET = 3;
    public static final int UNLINK = 4;
    public static final int UNLINK_NODE = 5;
    public static final int RENAME = 6;
    public static final int EXCHANGE = 7;
    public static final int HIDE = 8;
    public static final int OPENED = 9;
    public static final int RELEASED = 10;
    public static final int HIDDEN_CLAIMED = 11;
    public static final int REF = 12;
    public static final int HANDLE_ADD = 13;
    public static final int HANDLE_RELEASED = 14;
    public static final int HANDLE_REMOVED = 15;
    public static final int RESULT = 16;
    public static final int NODE_STATE = 17;
    public static final int HANDLE_STATE = 18;
    public static final int SLOT_REUSE = 19;
    public static final int HANDLE_SLOT_REUSE = 20;
    public static final int BACKING = 21;
    public static final int NAME_STATE = 22;
    public static final int BORN_HIDDEN = 23;
    public static final int INTENT = 24;

    private final int fd;
    private final long base;
    private final ByteBuffer header;
    private final ByteBuffer[] segments = new ByteBuffer[2];
    private int active;
    private long tail;
    private long snapshotSize;
    private final ByteBuffer scratch = ByteBuffer.allocate(8192).order(java.nio.ByteOrder.LITTLE_ENDIAN);

    private StateJournal(int fd, long base) {
        this.fd = fd;
        this.base = base;
        this.header = Syscalls.view(base, HEADER);
        this.segments[0] = Syscalls.view(base + HEADER, (int) SEGMENT);
        this.segments[1] = Syscalls.view(base + HEADER + SEGMENT, (int) SEGMENT);
    }

    /** The unique of the request the calling thread handles (0 when none): records carry it. */
    public static long currentUnique() {
        io.fuseguard.internal.ops.OpContext c = io.fuseguard.internal.ops.OpContext.current();
        return c == null ? 0 : c.journalUnique;
    }

    /** The whole size of the journal's memfd. */
    public static long size() {
        return HEADER + 2 * SEGMENT;
    }

    /** A new, empty journal in a fresh memfd (the supervisor's). Returns the memfd. */
    public static int create() {
        int fd = Syscalls.memfd("fuseguard-state");
        if (fd < 0) {
            throw new IllegalStateException("memfd_create failed: errno " + -fd);
        }
        int r = Syscalls.ftruncate(fd, size());
        if (r < 0) {
            Syscalls.close(fd);
            throw new IllegalStateException("ftruncate of the state memfd failed: errno " + -r);
        }
        StateJournal j = new StateJournal(fd, Syscalls.mapShared(fd, size()));
        j.header.putLong(H_ACTIVE, 0);
        j.header.putLong(H_TAIL0, 0);
        j.header.putLong(H_TAIL1, 0);
        j.header.putLong(H_MAGIC, MAGIC);
        return fd;
    }

    /** Opens the journal of a memfd received from the supervisor. */
    public static StateJournal open(int fd) {
        StateJournal j = new StateJournal(fd, Syscalls.mapShared(fd, size()));
        if (j.header.getLong(H_MAGIC) != MAGIC) {
            throw new IllegalStateException("descriptor " + fd + " holds no fuseguard state journal");
        }
        j.active = (int) j.header.getLong(H_ACTIVE);
        j.tail = j.header.getLong(j.active == 0 ? H_TAIL0 : H_TAIL1);
        return j;
    }

    /** The memfd. */
    public int fd() {
        return fd;
    }

    // ---- INIT ------------------------------------------------------------------------------------------------

    /** What INIT negotiated, recorded once (the kernel never sends INIT again on this connection). */
    public record Init(int kernelMajor, int kernelMinor, int minor, long granted, long offered, int maxWrite,
                       int readahead, boolean requestTimeout) {
    }

    /** Records INIT's outcome. */
    public synchronized void init(Init i) {
        header.putInt(H_INIT + 4, i.kernelMajor());
        header.putInt(H_INIT + 8, i.kernelMinor());
        header.putInt(H_INIT + 12, i.minor());
        header.putLong(H_INIT + 16, i.granted());
        header.putLong(H_INIT + 24, i.offered());
        header.putInt(H_INIT + 32, i.maxWrite());
        header.putInt(H_INIT + 36, i.readahead());
        header.putInt(H_INIT + 40, i.requestTimeout() ? 1 : 0);
        header.putInt(H_INIT, 1); // written last: the record counts once this is set
    }

    /** INIT's outcome, or null when the first worker died before INIT was answered. */
    public synchronized Init init() {
        if (header.getInt(H_INIT) != 1) {
            return null;
        }
        return new Init(header.getInt(H_INIT + 4), header.getInt(H_INIT + 8), header.getInt(H_INIT + 12),
                header.getLong(H_INIT + 16), header.getLong(H_INIT + 24), header.getInt(H_INIT + 32),
                header.getInt(H_INIT + 36), header.getInt(H_INIT + 40) == 1);
    }

    // ---- appending ---------------------------------------------------------------------------------------------

    /** A record being built; {@link #commit} appends it. */
    public final class Record {
        private ByteBuffer b;

        Record begin(int type) {
            b = scratch;
            b.clear();
            b.putShort((short) type).putShort((short) 0).putInt(0);
            return this;
        }

        /** Appends a long. */
        public Record l(long v) {
            b.putLong(v);
            return this;
        }

        /** Appends an int. */
        public Record i(int v) {
            b.putInt(v);
            return this;
        }

        /** Appends a string. */
        public Record s(String v) {
            byte[] bytes = v.getBytes(StandardCharsets.UTF_8);
            if (b.remaining() < bytes.length + 2) {
                ByteBuffer bigger = ByteBuffer.allocate(b.capacity() + bytes.length + 4096)
                        .order(java.nio.ByteOrder.LITTLE_ENDIAN);
                b.flip();
                bigger.put(b);
                b = bigger;
            }
            b.putShort((short) bytes.length).put(bytes);
            return this;
        }

        /** Appends the record to the journal (committed once this returns). */
        public void commit() {
            int len = (b.position() + 7) & ~7;
            b.putInt(4, len);
            ByteBuffer seg = segments[active];
            if (tail + len > SEGMENT) {
                throw new IllegalStateException("the state journal is full (" + SEGMENT + " bytes); it is compacted "
                        + "when it grows, so this means a state larger than it can hold");
            }
            int at = (int) tail;
            for (int k = 0; k < b.position(); k++) {
                seg.put(at + k, b.get(k));
            }
            for (int k = b.position(); k < len; k++) {
                seg.put(at + k, (byte) 0);
            }
            tail += len;
            // the record's bytes are stored before the tail that makes them count
            java.lang.invoke.VarHandle.releaseFence();
            header.putLong(active == 0 ? H_TAIL0 : H_TAIL1, tail);
        }
    }

    private final Record record = new Record();

    /** Starts a record of {@code type} (hold this journal's lock until {@link Record#commit}). */
    public Record append(int type) {
        return record.begin(type);
    }

    /** Bytes of records in the active segment. */
    public synchronized long used() {
        return tail;
    }

    /** Whether the active segment grew enough since its snapshot to be worth compacting. */
    public synchronized boolean wantsCompaction() {
        // bounded so that a take-over replays a few MiB at most beyond the snapshot (some 50 ms per 100,000
        // records once compiled), while a compaction (a snapshot with the tables held still) stays rare
        return tail > Math.max(4L << 20, 4 * snapshotSize);
    }

    /** Gives the pages of both segments back (a journal used for a warm-up only); its records are gone. */
    public synchronized void discard() {
        header.putLong(H_TAIL0, 0);
        header.putLong(H_TAIL1, 0);
        tail = 0;
        Syscalls.discardShared(base + HEADER, 2 * SEGMENT);
    }

    /**
     * Writes a fresh snapshot ({@code writer} appends the whole state through {@link #append}) into the other
     * segment, then makes it the active one. The caller holds whatever keeps the state still.
     */
    public synchronized void compact(Consumer<StateJournal> writer) {
        int next = 1 - active;
        header.putLong(next == 0 ? H_TAIL0 : H_TAIL1, 0);
        int previous = active;
        active = next;
        tail = 0;
        writer.accept(this);
        snapshotSize = tail;
        java.lang.invoke.VarHandle.releaseFence();
        header.putLong(H_ACTIVE, next); // the flip: one aligned store
        // the old segment's pages go back to the kernel
        Syscalls.discardShared(base + HEADER + previous * SEGMENT, SEGMENT);
    }

    // ---- the engine's changes, one method each (the caller holds its table's lock) -----------------------------

    /** A name now leads to node {@code nodeId} (created in its slot with {@code gen} if new): one more lookup. */
    public synchronized void nodeRef(long unique, long nodeId, int gen, long parentId, String name, long fsIno) {
        append(NODE_REF).l(unique).l(nodeId).i(gen).l(parentId).l(fsIno).s(name).commit();
    }

    /** One more name of a file (a hard link), and one more lookup of it. */
    public synchronized void nodeLink(long unique, long nodeId, long parentId, String name, long fsIno) {
        append(NODE_LINK).l(unique).l(nodeId).l(parentId).l(fsIno).s(name).commit();
    }

    /** One more lookup of an existing node ("." and ".."). */
    public synchronized void ref(long unique, long nodeId) {
        append(REF).l(unique).l(nodeId).commit();
    }

    /** The kernel forgot {@code count} lookups of a node. */
    public synchronized void forget(long nodeId, long count) {
        append(FORGET).l(nodeId).l(count).commit();
    }

    /** A name was removed. */
    public synchronized void unlink(long unique, long parentId, String name) {
        append(UNLINK).l(unique).l(parentId).s(name).commit();
    }

    /** A node's own (hidden) name was removed. */
    public synchronized void unlinkNode(long nodeId) {
        append(UNLINK_NODE).l(nodeId).commit();
    }

    /** A rename (or, with {@code exchange}, a RENAME_EXCHANGE). */
    public synchronized void rename(long unique, long fromParent, String fromName, long toParent, String toName,
                                    boolean exchange) {
        append(exchange ? EXCHANGE : RENAME).l(unique).l(fromParent).l(toParent).s(fromName).s(toName).commit();
    }

    /** Request {@code unique} is about to make a change that is not idempotent (written before the call). */
    public synchronized void intent(long unique) {
        append(INTENT).l(unique).commit();
    }

    /** An O_TMPFILE file: hidden from birth under its reserved name. */
    public synchronized void bornHidden(long nodeId) {
        append(BORN_HIDDEN).l(nodeId).commit();
    }

    /** An open file's last name became a hidden name; {@code hidden}: its last release removes it. */
    public synchronized void hide(long nodeId, String hiddenName, boolean hidden) {
        append(HIDE).l(nodeId).i(hidden ? 1 : 0).s(hiddenName).commit();
    }

    /** One more open handle of a file. */
    public synchronized void opened(long nodeId) {
        append(OPENED).l(nodeId).commit();
    }

    /** One handle of a file released by the kernel. */
    public synchronized void released(long nodeId) {
        append(RELEASED).l(nodeId).commit();
    }

    /** The removal of a hidden file was claimed by its last close-time work. */
    public synchronized void hiddenClaimed(long nodeId) {
        append(HIDDEN_CLAIMED).l(nodeId).commit();
    }

    /** A handle was handed to the kernel. */
    public synchronized void handleAdd(long unique, long handleId, long nodeId, int flags, boolean directory, int uid,
                                       int gid, int pid) {
        append(HANDLE_ADD).l(unique).l(handleId).l(nodeId).i(flags).i(directory ? 1 : 0).i(uid).i(gid).i(pid)
                .commit();
    }

    /** The kernel released a handle (its close-time work may still be to do). */
    public synchronized void handleReleased(long unique, long handleId) {
        append(HANDLE_RELEASED).l(unique).l(handleId).commit();
    }

    /** A handle's close-time work is done: it is gone. */
    public synchronized void handleRemoved(long handleId) {
        append(HANDLE_REMOVED).l(handleId).commit();
    }

    /** The outcome of a change that the next worker must not repeat if the kernel sends its request again. */
    public synchronized void result(long unique, int rc) {
        append(RESULT).l(unique).i(rc).commit();
    }

    // ---- reading ------------------------------------------------------------------------------------------------

    /** A committed record, for replay. */
    public static final class Entry {
        private final ByteBuffer b;
        private final int type;

        Entry(ByteBuffer b, int type) {
            this.b = b;
            this.type = type;
        }

        /** The record's type. */
        public int type() {
            return type;
        }

        /** Reads the payload from its start again (for another reader of the same record). */
        public Entry rewind() {
            b.position(0);
            return this;
        }

        /** The next long of the payload. */
        public long l() {
            return b.getLong();
        }

        /** The next int of the payload. */
        public int i() {
            return b.getInt();
        }

        /** The next string of the payload. */
        public String s() {
            int n = b.getShort() & 0xffff;
            byte[] bytes = new byte[n];
            b.get(bytes);
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }

    /** Calls {@code visitor} for every committed record of the active segment, in order. */
    public synchronized void replay(Consumer<Entry> visitor) {
        ByteBuffer seg = segments[active];
        long at = 0;
        while (at < tail) {
            int type = seg.getShort((int) at) & 0xffff;
            int len = seg.getInt((int) at + 4);
            if (len < 8 || at + len > tail) {
                throw new IllegalStateException("state journal damaged at " + at + " (type " + type + ", length "
                        + len + ")");
            }
            ByteBuffer payload = seg.duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN);
            payload.position((int) at + 8).limit((int) (at + len));
            visitor.accept(new Entry(payload.slice().order(java.nio.ByteOrder.LITTLE_ENDIAN), type));
            at += len;
        }
        snapshotSize = tail;
    }
}
