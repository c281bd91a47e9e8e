package io.fuseguard.internal.uring;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The layout arithmetic of io_uring's rings and FUSE's ring entries, against the kernel headers' sizes. */
class RingLayoutTest {
    @Test
    void structSizesMatchTheHeaders() {
        // struct io_uring_params: 10 u32 (40 bytes) then the SQ and CQ offset structs of 40 bytes each
        assertThat(RingLayout.P_SQ_OFF).isEqualTo(40);
        assertThat(RingLayout.P_CQ_OFF).isEqualTo(RingLayout.P_SQ_OFF + 40);
        assertThat(RingLayout.PARAMS_SIZE).isEqualTo(RingLayout.P_CQ_OFF + 40);
        // struct fuse_uring_req_header: 128 + 128 + struct fuse_uring_ent_in_out (32)
        assertThat(RingLayout.HEADER_SIZE).isEqualTo(128 + 128 + 32);
        assertThat(RingLayout.ENT_PAYLOAD_SZ).isEqualTo(256 + 16);
        // the URING_CMD command area: 128-byte SQE minus its 48-byte head holds fuse_uring_cmd_req's 24 bytes
        assertThat(RingLayout.SQE_SIZE - RingLayout.SQE_CMD).isEqualTo(80);
        assertThat(RingLayout.CMD_QID + 2).isLessThanOrEqualTo(RingLayout.SQE_SIZE - RingLayout.SQE_CMD);
    }

    @Test
    void ringSizesAndPowersOfTwo() {
        assertThat(RingLayout.powerOfTwo(1)).isEqualTo(1);
        assertThat(RingLayout.powerOfTwo(33)).isEqualTo(64);
        assertThat(RingLayout.powerOfTwo(64)).isEqualTo(64);
        assertThat(RingLayout.sqRingSize(64, 32)).isEqualTo(64 + 4 * 32);
        assertThat(RingLayout.cqRingSize(64, 64)).isEqualTo(64 + 16 * 64);
    }

    @Test
    void payloadIsWhatTheKernelAsksForAtLeast() {
        // max(FUSE_MIN_READ_BUFFER, max_write, max_pages * page): the kernel refuses smaller registrations
        assertThat(RingLayout.payloadSize(131072, 32)).isEqualTo(131072);
        assertThat(RingLayout.payloadSize(4096, 1)).isEqualTo(8192);
        assertThat(RingLayout.payloadSize(131072, 256)).isEqualTo(1 << 20);
        assertThat(RingLayout.payloadSize(65536, 0)).isEqualTo(32 * 4096); // no max_pages: the kernel's 32
    }

    @Test
    void theOpHeaderIsWhatTheLengthCountsBeyondHeaderAndPayload() {
        // READ: fuse_in_header (40) + fuse_read_in (40), no payload
        assertThat(RingLayout.opHeaderLength(80, 0)).isEqualTo(40);
        // WRITE of 4096 bytes: fuse_write_in (40) + data
        assertThat(RingLayout.opHeaderLength(40 + 40 + 4096, 4096)).isEqualTo(40);
        // LOOKUP: an empty op header, the name in the payload
        assertThat(RingLayout.opHeaderLength(40 + 6, 6)).isZero();
        assertThat(RingLayout.opHeaderLength(30, 0)).isEqualTo(-1);
        assertThat(RingLayout.opHeaderLength(40 + 129, 0)).isEqualTo(-1);
    }
}
