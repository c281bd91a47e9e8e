package io.fuseguard.examples.upload;

import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Where an {@link S3Backend} keeps its files: a bucket and a key prefix, written {@code s3://bucket} or
 * {@code s3://bucket/some/prefix}.
 *
 * @param bucket the bucket name
 * @param prefix the key prefix: empty, or ending with {@code /} (a file {@code /a/b} is the key
 *               {@code prefix + "a/b"})
 */
public record S3Location(String bucket, String prefix) {
    /** Bucket names as S3 accepts them (3-63 of lower-case letters, digits, dots and hyphens). */
    private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");

    /** Validates the bucket name and normalises the prefix (no leading slash, one trailing slash). */
    public S3Location {
        Objects.requireNonNull(bucket, "bucket");
        Objects.requireNonNull(prefix, "prefix");
        if (!BUCKET.matcher(bucket).matches()) {
            throw new IllegalArgumentException("not a valid S3 bucket name: '" + bucket + "'");
        }
        String p = prefix;
        while (p.startsWith("/")) {
            p = p.substring(1);
        }
        while (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        if (p.contains("//")) {
            throw new IllegalArgumentException("empty path component in S3 prefix: '" + prefix + "'");
        }
        prefix = p.isEmpty() ? "" : p + "/";
    }

    /** Whether {@code spec} is meant as an S3 location (starts with {@code s3://}). */
    public static boolean isS3(String spec) {
        return spec.regionMatches(true, 0, "s3://", 0, 5);
    }

    /**
     * Parses {@code s3://bucket[/prefix]}.
     *
     * @throws IllegalArgumentException when {@code spec} is not such a location
     */
    public static S3Location parse(String spec) {
        if (!isS3(spec)) {
            throw new IllegalArgumentException("not an s3:// location: '" + spec + "'");
        }
        String rest = spec.substring(5);
        int slash = rest.indexOf('/');
        String bucket = slash < 0 ? rest : rest.substring(0, slash);
        String prefix = slash < 0 ? "" : rest.substring(slash + 1);
        if (bucket.isEmpty()) {
            throw new IllegalArgumentException("no bucket in '" + spec + "' (expected s3://bucket[/prefix])");
        }
        return new S3Location(bucket, prefix);
    }

    /** The object key of the file at absolute {@code path} ({@code /dir/file}). */
    String keyOf(String path) {
        return prefix + relative(path);
    }

    /**
     * The longest path ({@code /dir/file}, in UTF-8 bytes) whose key fits in S3's 1024 bytes: the key drops the
     * leading slash and adds the prefix.
     */
    int maxPathBytes() {
        return S3Backend.MAX_KEY_BYTES - prefix.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + 1;
    }

    /** The key prefix of the entries of directory {@code dir} ({@code "/"} is the top level). */
    String dirPrefixOf(String dir) {
        String r = relative(dir);
        return r.isEmpty() ? prefix : prefix + r + "/";
    }

    private static String relative(String path) {
        if (!path.startsWith("/")) {
            throw new IllegalArgumentException("not absolute: " + path);
        }
        String r = path.substring(1);
        if (r.endsWith("/")) {
            r = r.substring(0, r.length() - 1);
        }
        for (String c : r.split("/", -1)) {
            if (!r.isEmpty() && (c.isEmpty() || c.equals(".") || c.equals(".."))) {
                throw new IllegalArgumentException("bad path: " + path);
            }
        }
        return r;
    }

    @Override
    public String toString() {
        return "s3://" + bucket + (prefix.isEmpty() ? "" : "/" + prefix.substring(0, prefix.length() - 1));
    }
}
