package io.fuseguard.internal.uring;

/**
 * Where things are in io_uring's shared memory and in FUSE's ring entries (linux/io_uring.h and
 * linux/fuse.h 7.42+): byte offsets and the sizes derived from what the kernel reports at setup. Pure arithmetic,
 * so the layout can be checked without a kernel.
 */
public final class RingLayout {
    private RingLayout() {
    }

    // ---- struct io_uring_params (120 bytes) -------------------------------------------------------------------

    /** sizeof(struct io_uring_params). */
    public static final int PARAMS_SIZE = 120;
    public static final int P_SQ_ENTRIES = 0;
    public static final int P_CQ_ENTRIES = 4;
    public static final int P_FLAGS = 8;
    public static final int P_FEATURES = 20;
    /** struct io_sqring_offsets starts here: head, tail, ring_mask, ring_entries, flags, dropped, array. */
    public static final int P_SQ_OFF = 40;
    /** struct io_cqring_offsets starts here: head, tail, ring_mask, ring_entries, overflow, cqes, flags. */
    public static final int P_CQ_OFF = 80;
    public static final int OFF_HEAD = 0;
    public static final int OFF_TAIL = 4;
    public static final int OFF_RING_MASK = 8;
    /** In io_sqring_offsets: the index array. */
    public static final int SQ_OFF_ARRAY = 24;
    /** In io_cqring_offsets: the CQE array. */
    public static final int CQ_OFF_CQES = 20;

    /** IORING_SETUP_SQE128: 128-byte SQEs, whose last 80 bytes carry a URING_CMD's command. */
    public static final int SETUP_SQE128 = 1 << 10;
    /** IORING_SETUP_SINGLE_ISSUER and IORING_SETUP_DEFER_TASKRUN (Linux 6.0 / 6.1). */
    public static final int SETUP_SINGLE_ISSUER = 1 << 12;
    public static final int SETUP_DEFER_TASKRUN = 1 << 13;
    /** IORING_FEAT_SINGLE_MMAP: the SQ and CQ rings share one mapping. */
    public static final int FEAT_SINGLE_MMAP = 1;
    /** mmap offsets of the SQ ring, the CQ ring and the SQE array. */
    public static final long OFF_SQ_RING = 0;
    public static final long OFF_CQ_RING = 0x8000000L;
    public static final long OFF_SQES = 0x10000000L;
    /** IORING_ENTER_GETEVENTS. */
    public static final int ENTER_GETEVENTS = 1;

    // ---- SQE (128 bytes with SQE128) and CQE (16 bytes) ---------------------------------------------------------

    public static final int SQE_SIZE = 128;
    public static final int SQE_OPCODE = 0;
    public static final int SQE_FD = 4;
    /** {@code off}, or for URING_CMD the 32-bit {@code cmd_op}. */
    public static final int SQE_OFF = 8;
    public static final int SQE_ADDR = 16;
    public static final int SQE_LEN = 24;
    public static final int SQE_USER_DATA = 32;
    /** The command area of a URING_CMD (80 bytes with SQE128). */
    public static final int SQE_CMD = 48;
    public static final int OP_READ = 22;
    public static final int OP_URING_CMD = 46;
    public static final int CQE_SIZE = 16;
    public static final int CQE_USER_DATA = 0;
    public static final int CQE_RES = 8;

    // ---- FUSE over io_uring -------------------------------------------------------------------------------------

    /** FUSE_IO_URING_CMD_REGISTER and FUSE_IO_URING_CMD_COMMIT_AND_FETCH. */
    public static final int FUSE_CMD_REGISTER = 1;
    public static final int FUSE_CMD_COMMIT_AND_FETCH = 2;
    /** struct fuse_uring_cmd_req in the SQE's command area: flags, commit_id, qid. */
    public static final int CMD_COMMIT_ID = 8;
    public static final int CMD_QID = 16;
    /** struct fuse_uring_req_header: in_out (the fuse_in_header / fuse_out_header), op_in, ring_ent_in_out. */
    public static final int HEADER_IN_OUT = 0;
    public static final int HEADER_OP_IN = 128;
    public static final int HEADER_ENT_IN_OUT = 256;
    /** sizeof(struct fuse_uring_req_header). */
    public static final int HEADER_SIZE = 288;
    /** The op-specific header's room (FUSE_URING_OP_IN_OUT_SZ). */
    public static final int OP_IN_SIZE = 128;
    /** In ring_ent_in_out: commit_id and payload_sz. */
    public static final int ENT_COMMIT_ID = HEADER_ENT_IN_OUT + 8;
    public static final int ENT_PAYLOAD_SZ = HEADER_ENT_IN_OUT + 16;

    /** Bytes to map for the SQ ring: its index array ends the area. */
    public static long sqRingSize(int arrayOffset, int sqEntries) {
        return arrayOffset + 4L * sqEntries;
    }

    /** Bytes to map for the CQ ring: its CQE array ends the area. */
    public static long cqRingSize(int cqesOffset, int cqEntries) {
        return cqesOffset + (long) CQE_SIZE * cqEntries;
    }

    /** The smallest power of two at least {@code n} (io_uring sizes its rings in powers of two). */
    public static int powerOfTwo(int n) {
        return n <= 1 ? 1 : Integer.highestOneBit(n - 1) << 1;
    }

    /**
     * The payload buffer every ring entry needs: the kernel refuses a registration whose buffer is smaller than
     * the largest request or answer it may carry, max(FUSE_MIN_READ_BUFFER, max_write, max_pages pages), with
     * max_pages 32 when the INIT answer set none.
     */
    public static int payloadSize(int maxWrite, int maxPages) {
        int pages = maxPages > 0 ? maxPages : 32;
        return Math.max(8192, Math.max(maxWrite, pages * 4096));
    }

    /**
     * The length of the operation's own header, which the kernel put in {@code op_in}: what the request's
     * {@code len} counts beyond the fuse_in_header and the payload; -1 when that does not fit the area.
     */
    public static int opHeaderLength(int requestLength, int payloadLength) {
        int op = requestLength - 40 - payloadLength;
        return op < 0 || op > OP_IN_SIZE ? -1 : op;
    }
}
