package io.fuseguard.api;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OpenFlagsTest {
    private static final int O_LARGEFILE = 0100000;
    private static final int O_CLOEXEC = 02000000;

    @Test
    void repeatedValuesShareOneInstanceSoOpensDoNotAllocate() {
        int readOnly = O_LARGEFILE;
        int writeCreate = 01 | 0100 | 01000 | O_LARGEFILE | O_CLOEXEC;
        OpenFlags first = OpenFlags.of(readOnly);
        OpenFlags second = OpenFlags.of(writeCreate);
        assertSame(first, OpenFlags.of(readOnly));
        assertSame(second, OpenFlags.of(writeCreate));
    }

    @Test
    void everyValueDecodesToItsOwnFlagsEvenWhenTheyShareACacheSlot() {
        // Walk many values so that slots collide; each answer must still be for the value asked.
        for (int raw = 0; raw < 1 << 16; raw += 7) {
            OpenFlags flags = OpenFlags.of(raw);
            assertEquals(raw, flags.raw());
            assertEquals((raw & 0100) != 0, flags.create());
            assertEquals((raw & 02000) != 0, flags.append());
        }
    }

    @Test
    void accessModes() {
        assertTrue(OpenFlags.of(0).readable());
        assertFalse(OpenFlags.of(0).writable());
        assertEquals(OpenFlags.Access.WRITE_ONLY, OpenFlags.of(1).access());
        assertTrue(OpenFlags.of(2).readable() && OpenFlags.of(2).writable());
    }
}
