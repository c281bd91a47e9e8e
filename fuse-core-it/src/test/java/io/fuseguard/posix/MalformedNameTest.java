package io.fuseguard.posix;

import io.fuseguard.config.FuseguardConfig;
import io.fuseguard.junit.FuseAvailability;
import io.fuseguard.mount.FuseMount;
import io.fuseguard.testkit.Child;
import io.fuseguard.testkit.SmallFs;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Names that are not valid UTF-8 are refused with EILSEQ instead of being decoded lossily: two different byte
 * names must never become one file (a write to one would replace the other).
 */
class MalformedNameTest {
    @TempDir
    Path mp;

    private static final String SCRIPT = """
            import errno, os, sys
            os.chdir(sys.argv[1])
            def step(name, fn):
                try:
                    fn(); print(name, "ok")
                except OSError as e:
                    print(name, errno.errorcode[e.errno])
            def create(n):
                os.close(os.open(n, os.O_CREAT | os.O_WRONLY, 0o644))
            step("create ff", lambda: create(b"\\xff"))
            step("create fe", lambda: create(b"a\\xfeb"))
            step("stat ff", lambda: os.stat(b"\\xff"))
            step("mkdir c0", lambda: os.mkdir(b"\\xc0\\xaf"))
            step("create valid U+FFFD", lambda: create("r\\ufffd".encode()))
            step("create valid", lambda: create("caf\\u00e9".encode()))
            step("rename to bad", lambda: os.rename("caf\\u00e9".encode(), b"\\xe9"))
            print(sorted(os.listdir(".")))
            """;

    @Test
    void invalidUtf8NamesAreRefusedAndValidOnesWork() throws Exception {
        FuseAvailability.assumeUsable();
        try (FuseMount m = FuseMount.mount(new SmallFs(), mp, FuseguardConfig.builder().shutdownHook(false)
                .build())) {
            Child.Result r = Child.run(Duration.ofSeconds(20), "python3", "-c", SCRIPT, mp.toString());
            assertThat(r.exit()).as(r.err()).isZero();
            assertThat(r.out()).isEqualTo("""
                    create ff EILSEQ
                    create fe EILSEQ
                    stat ff EILSEQ
                    mkdir c0 EILSEQ
                    create valid U+FFFD ok
                    create valid ok
                    rename to bad EILSEQ
                    ['café', 'r\ufffd']
                    """);
        }
    }
}
