package io.fuseguard.drill;

import io.fuseguard.examples.migration.JnrMapFs;
import jnr.ffi.Pointer;
import jnr.ffi.types.off_t;
import jnr.ffi.types.size_t;
import ru.serce.jnrfuse.struct.FuseFileInfo;

import java.util.Arrays;

/**
 * The filesystem of the deadlock drill: an ndrive-style jnr-fuse filesystem written the usual way (the
 * examples' {@link JnrMapFs}), with a {@code flush} that does close-time work. The drill serves the very same
 * class twice: with plain jnr-fuse (the control) and through fuseguard's one-line adapter, so the comparison is
 * about the framework only.
 */
public final class DrillFs extends JnrMapFs {
    /** A file whose flush never returns when {@code stallFlush} is set. */
    public static final String STALL_FLUSH = "/stall-flush";

    private final boolean stallFlush;

    /** A filesystem with a 64 KiB {@code /data}, an empty {@code /held} and {@link #STALL_FLUSH}. */
    public DrillFs(boolean stallFlush) {
        super(1 << 20);
        this.stallFlush = stallFlush;
        byte[] data = new byte[64 * 1024];
        Arrays.fill(data, (byte) 'd');
        files().put("/data", data);
        files().put("/held", new byte[0]);
        files().put(STALL_FLUSH, new byte[0]);
    }

    /**
     * Writes past 1 MiB are acknowledged and dropped: the drill's clients append forever, and an error would end
     * them before the drill's kill (both sides of the drill serve this same class, so the comparison is fair).
     */
    @Override
    public int write(String path, Pointer buf, @size_t long size, @off_t long offset, FuseFileInfo fi) {
        if (offset + size > 1 << 20) {
            return (int) size;
        }
        return super.write(path, buf, size, offset, fi);
    }

    /** Close-time work, as ndrive does it (the upload); stalls forever on {@link #STALL_FLUSH} if asked. */
    @Override
    public int flush(String path, FuseFileInfo fi) {
        if (stallFlush && STALL_FLUSH.equals(path)) {
            while (true) {
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    // a wedged backend does not care about interrupts either
                }
            }
        }
        return 0;
    }
}
