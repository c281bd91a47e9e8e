package io.fuseguard.mount;

import java.util.List;

/**
 * What a mount negotiated with the kernel at INIT: the protocol minor both use (the smaller of the kernel's and
 * fuseguard's), and which capabilities the kernel offered and fuseguard uses. A capability is used only when the
 * kernel offers it; what this kernel lacks falls back as documented per feature.
 *
 * @param kernelMajor   the kernel's protocol major (7)
 * @param kernelMinor   the kernel's protocol minor (45 on Linux 6.18)
 * @param minor         the minor in use: {@code min(kernelMinor, fuseguard's)}
 * @param used          capabilities offered by the kernel and used by this mount (libfuse's names, lower case)
 * @param offeredUnused capabilities the kernel offered that this mount does not use
 */
public record KernelProtocol(int kernelMajor, int kernelMinor, int minor, List<String> used,
                             List<String> offeredUnused) {

    /** Copies the lists. */
    public KernelProtocol {
        used = List.copyOf(used);
        offeredUnused = List.copyOf(offeredUnused);
    }

    /** Whether this mount uses the named capability (e.g. {@code "passthrough"}). */
    public boolean uses(String capability) {
        return used.contains(capability);
    }

    /** One line for logs: {@code 7.45 (kernel 7.45), using a, b, c; offered too: d, e}. */
    public String describe() {
        return kernelMajor + "." + minor + " (kernel " + kernelMajor + "." + kernelMinor + "), using "
                + (used.isEmpty() ? "nothing optional" : String.join(", ", used))
                + (offeredUnused.isEmpty() ? "" : "; offered too: " + String.join(", ", offeredUnused));
    }
}
