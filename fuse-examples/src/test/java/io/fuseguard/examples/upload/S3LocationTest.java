package io.fuseguard.examples.upload;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@link S3Location}: parsing {@code s3://bucket[/prefix]} and mapping paths to keys. */
class S3LocationTest {
    @Test
    void parsesBucketAndPrefix() {
        assertThat(S3Location.parse("s3://drive")).isEqualTo(new S3Location("drive", ""));
        assertThat(S3Location.parse("S3://drive/")).isEqualTo(new S3Location("drive", ""));
        assertThat(S3Location.parse("s3://drive/a/b/")).isEqualTo(new S3Location("drive", "a/b/"));
        assertThat(S3Location.parse("s3://drive/a/b").prefix()).isEqualTo("a/b/");
        assertThat(S3Location.parse("s3://drive/a/b")).hasToString("s3://drive/a/b");
        assertThat(S3Location.isS3("/srv/backend")).isFalse();
    }

    @Test
    void refusesWhatIsNoS3Location() {
        assertThatThrownBy(() -> S3Location.parse("s3://")).hasMessageContaining("no bucket");
        assertThatThrownBy(() -> S3Location.parse("s3://Upper_Case")).hasMessageContaining("not a valid S3 bucket");
        assertThatThrownBy(() -> S3Location.parse("s3://ok-bucket/a//b")).hasMessageContaining("empty path component");
        assertThatThrownBy(() -> S3Location.parse("/srv/backend")).hasMessageContaining("not an s3:// location");
    }

    @Test
    void mapsPathsToKeysUnderThePrefix() {
        S3Location l = S3Location.parse("s3://drive/p");
        assertThat(l.keyOf("/a/b.txt")).isEqualTo("p/a/b.txt");
        assertThat(l.dirPrefixOf("/")).isEqualTo("p/");
        assertThat(l.dirPrefixOf("/a")).isEqualTo("p/a/");
        assertThat(S3Location.parse("s3://drive").dirPrefixOf("/")).isEmpty();
        assertThatThrownBy(() -> l.keyOf("/a/../b")).hasMessageContaining("bad path");
        assertThatThrownBy(() -> l.keyOf("relative")).hasMessageContaining("not absolute");
    }
}
