package io.fuseguard.examples.upload;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@link S3Backend#checkBucket()} with the SDK's default credential chain finding nothing says so, instead of
 * "cannot reach" the endpoint it never asked.
 */
class S3BackendCredentialsTest {
    /** The system properties the SDK's chain reads, pointed at nothing (and no instance metadata service). */
    private static final List<String> PROPERTIES = List.of("aws.accessKeyId", "aws.secretAccessKey",
            "aws.configFile", "aws.sharedCredentialsFile", "aws.disableEc2Metadata");
    private final Map<String, String> saved = new HashMap<>();

    @TempDir
    Path home;

    @BeforeEach
    void noCredentialsAnywhere() {
        for (String v : List.of("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
            assumeTrue(System.getenv(v) == null, v + " is set in the environment");
        }
        for (String p : PROPERTIES) {
            saved.put(p, System.getProperty(p));
            System.clearProperty(p);
        }
        System.setProperty("aws.configFile", home.resolve("config").toString());
        System.setProperty("aws.sharedCredentialsFile", home.resolve("credentials").toString());
        System.setProperty("aws.disableEc2Metadata", "true");
    }

    @AfterEach
    void restore() {
        saved.forEach((k, v) -> {
            if (v == null) {
                System.clearProperty(k);
            } else {
                System.setProperty(k, v);
            }
        });
    }

    @Test
    void missingCredentialsAreReportedAsSuch() throws IOException {
        try (S3Backend b = S3Backend.builder(S3Location.parse("s3://some-bucket"))
                .endpoint(URI.create("http://127.0.0.1:9")).build()) {
            assertThatThrownBy(b::checkBucket).isInstanceOf(IOException.class)
                    .hasMessageStartingWith("no AWS credentials found (environment, ~/.aws, instance profile): ")
                    .hasMessageNotContaining("cannot reach");
        }
    }
}
