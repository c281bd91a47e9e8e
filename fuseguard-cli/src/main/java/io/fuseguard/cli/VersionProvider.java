package io.fuseguard.cli;

import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/** {@code fuseguard --version}: the version the build wrote into {@code version.properties}, never a literal. */
public final class VersionProvider implements CommandLine.IVersionProvider {
    /** Creates the provider (picocli calls it). */
    public VersionProvider() {
    }

    @Override
    public String[] getVersion() {
        return new String[] {"fuseguard " + version(),
                "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"};
    }

    /**
     * The version of this build, such as {@code 0.1.0-SNAPSHOT}.
     *
     * @return the version
     */
    public static String version() {
        try (InputStream in = VersionProvider.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                throw new IllegalStateException("version.properties is missing: the jar was not built by Maven");
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
