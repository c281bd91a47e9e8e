package io.fuseguard.internal.session;

import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** The header of the request being handled and access to its arguments. Reused; points into a buffer. */
final class Request {
    ByteBuffer buf;
    int length;
    /** The device descriptor it was read from: its answer goes there (a clone's requests are its own). */
    int fd;
    int opcode;
    long unique;
    long nodeid;
    int uid;
    int gid;
    int pid;
    /** End of the operation's arguments (extensions excluded). */
    int end;

    void load(ByteBuffer b, int n, int fd) {
        this.fd = fd;
        buf = b;
        length = n;
        opcode = b.getInt(Fuse.H_OPCODE);
        unique = b.getLong(Fuse.H_UNIQUE);
        nodeid = b.getLong(Fuse.H_NODEID);
        uid = b.getInt(Fuse.H_UID);
        gid = b.getInt(Fuse.H_GID);
        pid = b.getInt(Fuse.H_PID);
        int ext = (b.getShort(Fuse.H_TOTAL_EXTLEN) & 0xffff) * 8;
        end = Math.max(Fuse.IN_HEADER, n - ext);
    }

    int i32(int argOffset) {
        return buf.getInt(Fuse.IN_HEADER + argOffset);
    }

    long i64(int argOffset) {
        return buf.getLong(Fuse.IN_HEADER + argOffset);
    }

    /**
     * The NUL-terminated UTF-8 string at an argument offset.
     *
     * @throws MalformedNameException when the bytes are not valid UTF-8: the API's names are Strings, and a lossy
     *         decoding would make two different names one (a write to one would replace the other)
     */
    String string(int argOffset) {
        int start = Fuse.IN_HEADER + argOffset;
        int i = start;
        while (i < end && buf.get(i) != 0) {
            i++;
        }
        return decode(start, i - start);
    }

    /** Offset (in the arguments) just after the NUL-terminated string at {@code argOffset}. */
    int after(int argOffset) {
        int i = Fuse.IN_HEADER + argOffset;
        while (i < end && buf.get(i) != 0) {
            i++;
        }
        return i + 1 - Fuse.IN_HEADER;
    }

    private String decode(int at, int len) {
        boolean ascii = true;
        for (int i = 0; i < len; i++) {
            if (buf.get(at + i) < 0) {
                ascii = false;
                break;
            }
        }
        if (ascii) {
            char[] c = new char[len];
            for (int i = 0; i < len; i++) {
                c[i] = (char) buf.get(at + i);
            }
            return new String(c);
        }
        byte[] b = new byte[len];
        buf.get(at, b);
        String s = new String(b, StandardCharsets.UTF_8);
        // The JDK replaces malformed input with U+FFFD; the name is valid only if that was really there.
        if (s.indexOf('\uFFFD') >= 0 && !Arrays.equals(b, s.getBytes(StandardCharsets.UTF_8))) {
            throw new MalformedNameException();
        }
        return s;
    }

    /** A name in a request that is not valid UTF-8; answered EILSEQ. */
    static final class MalformedNameException extends RuntimeException {
        MalformedNameException() {
            super("name is not valid UTF-8", null, false, false); // no stack: an answer, not a bug
        }
    }
}
