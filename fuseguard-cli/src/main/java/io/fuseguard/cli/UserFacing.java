package io.fuseguard.cli;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What an error shows a person: the option they typed instead of the library setting it became, and no more than
 * a person reads (the first line, cut at about {@value #LIMIT} characters; some libraries' messages run to
 * thousands of characters of provider chains and stack details).
 */
final class UserFacing {
    /** Longest message printed; the rest goes to the debug log. */
    static final int LIMIT = 300;

    /** Library setting names in messages, with the option that sets them. */
    private static final Map<String, String> OPTIONS = Map.of(
            "workerThreads", "--workers",
            "deadline of METADATA", "--metadata-deadline",
            "deadline of DATA", "--data-deadline",
            "deadline of SYNC", "--sync-deadline",
            "deadline of FLUSH", "--flush-deadline",
            "capacity", "--capacity",
            "maxWrite", "-o max_write");

    private UserFacing() {
    }

    /** {@code message} with each library setting name replaced by the option that sets it. */
    static String optionNames(String message) {
        String m = message;
        for (Map.Entry<String, String> e : OPTIONS.entrySet()) {
            // whole words only: "capacity" is an option, "queueCapacity" is not
            m = Pattern.compile("\\b" + Pattern.quote(e.getKey()) + "\\b").matcher(m)
                    .replaceAll(Matcher.quoteReplacement(e.getValue()));
        }
        return m;
    }

    private static final Pattern SPACES = Pattern.compile("\\s+");
    private static final Pattern CUT = Pattern.compile("[.;:,)\\]] ");

    /**
     * The first line of {@code message}, cut at a sentence or clause boundary when longer than {@link #LIMIT}
     * (marked with {@code " ..."}).
     */
    static String brief(String message) {
        if (message == null || message.isBlank()) {
            return "(no message)";
        }
        String m = SPACES.matcher(message.strip().lines().findFirst().orElse("")).replaceAll(" ");
        boolean moreLines = message.strip().lines().count() > 1;
        if (m.length() <= LIMIT) {
            return moreLines ? m + " ..." : m;
        }
        int cut = -1;
        Matcher b = CUT.matcher(m);
        while (b.find() && b.start() < LIMIT) {
            cut = b.start() + 1;
        }
        if (cut < LIMIT / 2) {
            cut = m.lastIndexOf(' ', LIMIT);
        }
        if (cut < LIMIT / 2) {
            cut = LIMIT;
        }
        return m.substring(0, cut).stripTrailing() + " ...";
    }
}
