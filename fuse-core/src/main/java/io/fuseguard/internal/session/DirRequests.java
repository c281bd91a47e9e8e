package io.fuseguard.internal.session;

import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.internal.ops.DirListing;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static io.fuseguard.internal.sys.Syscalls.ENOENT;

/**
 * Requests on open directories: OPENDIR, READDIR (listings cached per handle, served by offset) and FSYNCDIR.
 */
final class DirRequests extends Requests {

    DirRequests(Requests.Shared shared) {
        super(shared);
    }

    void opendir(Worker w, Request r, long deadline) {
        Node n = node(r);
        if (n == null) {
            reply(w, r, ENOENT);
            return;
        }
        int flags = r.i32(0);
        if (!beginOn(w, r, Operation.OPENDIR, OperationKind.METADATA, n, null, deadline, false)) {
            return;
        }
        String path = w.call.path;
        OpContext c = w.context;
        c.open.clear();
        int rc = ops.opendir(c, path, flags, c.open);
        long fh = c.open.fh;
        if (!end(w, r, rc)) {
            if (rc >= 0) {
                s.closeWork.releaseLateOpen(n, fh, flags, true);
            }
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        Handle h = s.handles.add(n, fh, flags, true, r.uid, r.gid, r.pid);
        encodeOpen(w.out, Fuse.OUT_HEADER, h.id(), 0);
        if (!replyOk(w, r, Fuse.OPEN_OUT)) {
            s.closeWork.release(h, r.uid, r.gid, r.pid);
        }
    }

    void readdir(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long offset = r.i64(8);
        int size = Math.min(r.i32(16), w.replyData.capacity());
        DirListing l = (DirListing) h.listing();
        if (offset == 0 || l == null) {
            h.enter();
            try {
                if (!beginOn(w, r, Operation.READDIR, OperationKind.METADATA, h.node(), h, deadline, false)) {
                    return;
                }
                String path = w.call.path;
                DirListing fresh = new DirListing();
                int rc = ops.readdir(w.context, path, h.userFh(), fresh);
                fresh.seal();
                if (!end(w, r, rc)) {
                    return;
                }
                if (rc < 0) {
                    reply(w, r, -rc);
                    return;
                }
                l = fresh;
                h.listing(l);
            } finally {
                h.exit();
            }
        }
        ByteBuffer o = w.out;
        int at = Fuse.OUT_HEADER;
        int limit = Fuse.OUT_HEADER + size;
        Node dir = h.node();
        for (int i = (int) Math.min(offset, Integer.MAX_VALUE); i < l.size(); i++) {
            byte[] name = l.name(i).getBytes(StandardCharsets.UTF_8);
            if (!validName(name)) {
                badName(h, l.name(i));
                continue; // the kernel would fail the whole listing with EIO
            }
            int len = (24 + name.length + 7) & ~7;
            if (at + len > limit) {
                break;
            }
            long ino = l.ino(i);
            if (!reportsIno || ino == 0) {
                ino = Fuse.UNKNOWN_INO;
                if (opt.readdirIno()) {
                    Node child = nodes.child(dir, l.name(i));
                    if (child != null) {
                        ino = child.id();
                    }
                }
            }
            o.putLong(at, ino);
            o.putLong(at + 8, i + 1);
            o.putInt(at + 16, name.length);
            o.putInt(at + 20, (l.type(i) & S_IFMT) >>> 12);
            o.put(at + 24, name);
            for (int p = at + 24 + name.length; p < at + len; p++) {
                o.put(p, (byte) 0);
            }
            at += len;
        }
        replyOk(w, r, at - Fuse.OUT_HEADER);
    }

    void fsyncdir(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        boolean dataOnly = (r.i32(8) & Fuse.FSYNC_FDATASYNC) != 0;
        h.enter();
        try {
            if (!beginOn(w, r, Operation.FSYNCDIR, OperationKind.SYNC, h.node(), h, deadline, true)) {
                return;
            }
            String path = w.call.path;
            int rc = ops.fsyncdir(w.context, path, h.userFh(), dataOnly);
            if (end(w, r, rc)) {
                replyResult(w, r, rc);
            }
        } finally {
            h.exit();
        }
    }

    /** The kernel's rule for a listed name: 1 to 1024 bytes, no '/' and no NUL. */
    private static boolean validName(byte[] name) {
        if (name.length == 0 || name.length > 1024) {
            return false;
        }
        for (byte b : name) {
            if (b == '/' || b == 0) {
                return false;
            }
        }
        return true;
    }

    private volatile boolean badNameLogged;

    private void badName(Handle h, String name) {
        if (!badNameLogged) {
            badNameLogged = true; // once per mount: a benign race may log it twice
            LOG.warn("The listing of {} has a name the kernel refuses (empty, over 1024 bytes, or with '/' or NUL): "
                    + "\"{}\"; it is left out (the kernel would fail the whole listing with EIO). Logged once.",
                    nodes.path(h.node()), name.length() > 80 ? name.substring(0, 80) + "..." : name);
        }
    }
}
