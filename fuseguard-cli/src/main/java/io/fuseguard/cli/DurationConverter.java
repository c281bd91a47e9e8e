package io.fuseguard.cli;

import picocli.CommandLine;

import java.math.BigDecimal;
import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses a duration with its unit: {@code 250ms}, {@code 5s}, {@code 1.5m}, {@code 2h}. A bare number is refused:
 * it used to mean milliseconds, so {@code --stuck-limit 30} silently meant 30 ms; with the unit required nobody can
 * get a thousandth of what they meant.
 */
final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
    static final String UNITS = "ms, s, m or h";
    private static final Pattern FORM = Pattern.compile("(\\d{1,12}(?:\\.\\d{1,9})?)(ms|s|m|h)");

    @Override
    public Duration convert(String value) {
        return parse(value);
    }

    /** The duration {@code value} names; a {@link CommandLine.TypeConversionException} saying why not. */
    static Duration parse(String value) {
        String v = value.trim();
        Matcher m = FORM.matcher(v);
        if (!m.matches()) {
            if (v.matches("\\d+(\\.\\d+)?")) {
                throw new CommandLine.TypeConversionException("'" + value + "' needs a unit: " + UNITS
                        + " (e.g. " + v + "s or " + v + "ms)");
            }
            throw new CommandLine.TypeConversionException("'" + value + "' is not a duration: a number and "
                    + UNITS + ", e.g. 250ms, 5s, 1.5m, 2h");
        }
        long nanosPerUnit = switch (m.group(2)) {
            case "ms" -> 1_000_000L;
            case "s" -> 1_000_000_000L;
            case "m" -> 60_000_000_000L;
            default -> 3_600_000_000_000L;
        };
        BigDecimal nanos = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(nanosPerUnit));
        if (nanos.signum() == 0) {
            throw new CommandLine.TypeConversionException("'" + value + "' must be positive");
        }
        if (nanos.compareTo(BigDecimal.ONE) < 0) {
            throw new CommandLine.TypeConversionException("'" + value + "' is shorter than a nanosecond");
        }
        if (nanos.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            // beyond what a nanosecond count holds: it used to wrap around to a negative duration
            throw new CommandLine.TypeConversionException("'" + value + "' is too long (at most 2562047h)");
        }
        return Duration.ofNanos(nanos.longValue());
    }

    /** {@code d} as a person writes it: the largest unit that states it exactly ({@code 90s}, {@code 1500ms}). */
    static String format(Duration d) {
        long ms = d.toMillis();
        if (ms % 3_600_000 == 0) {
            return ms / 3_600_000 + "h";
        }
        if (ms % 60_000 == 0) {
            return ms / 60_000 + "m";
        }
        if (ms % 1000 == 0) {
            return ms / 1000 + "s";
        }
        return ms + "ms";
    }
}
