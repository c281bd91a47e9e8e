package io.fuseguard.cli;

import picocli.CommandLine;

/** Parses sizes such as {@code 512m}, {@code 2g}, {@code 4096}. */
final class SizeConverter implements CommandLine.ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        String v = value.trim().toLowerCase(java.util.Locale.ROOT);
        long mult = 1;
        char last = v.isEmpty() ? ' ' : v.charAt(v.length() - 1);
        switch (last) {
            case 'k' -> mult = 1L << 10;
            case 'm' -> mult = 1L << 20;
            case 'g' -> mult = 1L << 30;
            case 't' -> mult = 1L << 40;
            default -> mult = 1;
        }
        String digits = mult == 1 ? v : v.substring(0, v.length() - 1);
        try {
            long n = Long.parseLong(digits);
            if (n <= 0) {
                throw new CommandLine.TypeConversionException("'" + value + "' must be positive");
            }
            return Math.multiplyExact(n, mult);
        } catch (NumberFormatException | ArithmeticException e) {
            throw new CommandLine.TypeConversionException("'" + value + "' is not a size (e.g. 512m, 2g)");
        }
    }
}
