package io.fuseguard.cli;

import picocli.CommandLine;

import java.math.BigDecimal;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses a size with its unit, in powers of 1024: {@code 512k}, {@code 64M}, {@code 1.5G}, {@code 2T}, or the same
 * as {@code KiB}, {@code MiB}, {@code GiB}, {@code TiB}; {@code B} for bytes. A bare number is refused, and so is a
 * lowercase {@code m}: in durations it means minutes, so {@code 100m} would mean one thing here and another there.
 */
final class SizeConverter implements CommandLine.ITypeConverter<Long> {
    static final String UNITS = "k, M, G, T (or KiB, MiB, GiB, TiB; B for bytes)";
    private static final Pattern FORM = Pattern.compile("(\\d{1,15}(?:\\.\\d{1,9})?)(B|k|K|M|G|T|KiB|MiB|GiB|TiB)");

    @Override
    public Long convert(String value) {
        return parse(value);
    }

    /** The number of bytes {@code value} names; a {@link CommandLine.TypeConversionException} saying why not. */
    static long parse(String value) {
        String v = value.trim();
        Matcher m = FORM.matcher(v);
        if (!m.matches()) {
            if (v.matches("\\d+(\\.\\d+)?")) {
                throw new CommandLine.TypeConversionException("'" + value + "' needs a unit: " + UNITS
                        + " (e.g. " + v + "M)");
            }
            if (v.matches("\\d+(\\.\\d+)?[mgt]")) {
                throw new CommandLine.TypeConversionException("'" + value + "': write sizes with M, G or T (or "
                        + "MiB, GiB, TiB); a lowercase m means minutes in durations");
            }
            throw new CommandLine.TypeConversionException("'" + value + "' is not a size: a number and " + UNITS
                    + ", e.g. 512k, 64M, 1.5G");
        }
        int shift = switch (m.group(2)) {
            case "B" -> 0;
            case "k", "K", "KiB" -> 10;
            case "M", "MiB" -> 20;
            case "G", "GiB" -> 30;
            default -> 40;
        };
        BigDecimal bytes = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(1L << shift));
        if (bytes.signum() == 0) {
            throw new CommandLine.TypeConversionException("'" + value + "' must be positive");
        }
        if (bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw new CommandLine.TypeConversionException("'" + value + "' is too large");
        }
        if (bytes.stripTrailingZeros().scale() > 0) {
            throw new CommandLine.TypeConversionException("'" + value + "' is not a whole number of bytes");
        }
        return bytes.longValueExact();
    }

    /** {@code bytes} as a person writes it: the largest unit that states it exactly ({@code 64M}, {@code 1536k}). */
    static String format(long bytes) {
        String[] units = {"B", "k", "M", "G", "T"};
        int u = 0;
        while (u < units.length - 1 && bytes % 1024 == 0 && bytes != 0) {
            bytes /= 1024;
            u++;
        }
        return bytes + units[u];
    }
}
