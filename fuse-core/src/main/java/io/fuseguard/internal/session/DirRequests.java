package io.fuseguard.internal.session;

import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.internal.ops.DirListing;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

import static io.fuseguard.internal.sys.Syscalls.ENOENT;

/**
 * Requests on open directories: OPENDIR, READDIR and READDIRPLUS (listings cached per handle, served by offset)
 * and FSYNCDIR.
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

    /**
     * The listing of directory handle {@code h} for a READDIR or READDIRPLUS at {@code offset}: listed afresh by the
     * filesystem at offset 0, else the one listed then. Null when the request was answered here (an error).
     */
    private DirListing listing(Worker w, Request r, Handle h, long offset, long deadline) {
        DirListing l = (DirListing) h.listing();
        if (offset != 0 && l != null) {
            return l;
        }
        h.enter();
        try {
            if (!beginOn(w, r, Operation.READDIR, OperationKind.METADATA, h.node(), h, deadline, false)) {
                return null;
            }
            String path = w.call.path;
            DirListing fresh = new DirListing();
            int rc = ops.readdir(w.context, path, h.userFh(), fresh);
            fresh.seal();
            if (!end(w, r, rc)) {
                return null;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return null;
            }
            h.listing(fresh);
            return fresh;
        } finally {
            h.exit();
        }
    }

    /** The d_ino of entry {@code i} (the kernel shows it to readdir(3) callers; it uses its own for inodes). */
    private long direntIno(DirListing l, int i, Node dir) {
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
        return ino;
    }

    /**
     * READDIRPLUS (the {@code readdirplus} option): the listing with, for each entry the filesystem listed with its
     * attributes, the entry itself (node, attributes, their cache times), so the kernel caches it as after a LOOKUP
     * and {@code ls -l} or a tree walk asks nothing more. Each such entry counts as a lookup of its node (the
     * kernel sends FORGET for it later, as for a LOOKUP, also for one it could not use). Entries without attributes,
     * "." and "..", and files with several links (whose names become one node only through LOOKUP) carry no entry:
     * the kernel looks them up as after a plain READDIR.
     */
    void readdirplus(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long offset = r.i64(8);
        int size = Math.min(r.i32(16), w.replyData.capacity());
        DirListing l = listing(w, r, h, offset, deadline);
        if (l == null) {
            return;
        }
        ByteBuffer o = w.out;
        int at = Fuse.OUT_HEADER;
        int limit = Fuse.OUT_HEADER + size;
        Node dir = h.node();
        Attr a = w.context.attr;
        int counted = 0;
        for (int i = (int) Math.min(offset, Integer.MAX_VALUE); i < l.size(); i++) {
            String n = l.name(i);
            byte[] name = n.getBytes(StandardCharsets.UTF_8);
            if (!validName(name)) {
                badName(h, n);
                continue;
            }
            int len = (Fuse.ENTRY_OUT + 24 + name.length + 7) & ~7;
            if (at + len > limit) {
                break;
            }
            a.clear();
            Node child = null;
            if (!n.equals(".") && !n.equals("..") && ops.listedAttributes(l.listed(i), a)
                    && ((a.mode & S_IFMT) == S_IFDIR || Integer.toUnsignedLong(a.nlink) < 2 || !reportsIno)) {
                child = nodes.lookup(dir, n, reportsIno ? a.ino : 0, Integer.toUnsignedLong(a.nlink));
                fixAttr(child, a);
                encodeEntryAt(o, at, child.id(), child.generation(), a, entrySec, entryNsec);
                counted = remember(w, counted, child.id());
            } else {
                for (int p = at; p < at + Fuse.ENTRY_OUT; p += 8) {
                    o.putLong(p, 0); // node 0: no entry, only the name
                }
            }
            int d = at + Fuse.ENTRY_OUT;
            o.putLong(d, direntIno(l, i, dir));
            o.putLong(d + 8, i + 1);
            o.putInt(d + 16, name.length);
            o.putInt(d + 20, (l.type(i) & S_IFMT) >>> 12);
            o.put(d + 24, name);
            for (int p = d + 24 + name.length; p < at + len; p++) {
                o.put(p, (byte) 0);
            }
            at += len;
        }
        if (!replyOk(w, r, at - Fuse.OUT_HEADER)) {
            for (int i = 0; i < counted; i++) {
                nodes.forget(w.plusNodes[i], 1); // the kernel never saw these entries: it will not forget them
            }
        }
    }

    /** Records a node counted by the READDIRPLUS being encoded, in the thread's own array. */
    private static int remember(Worker w, int counted, long id) {
        if (counted == w.plusNodes.length) {
            w.plusNodes = java.util.Arrays.copyOf(w.plusNodes, counted * 2);
        }
        w.plusNodes[counted] = id;
        return counted + 1;
    }

    void readdir(Worker w, Request r, long deadline) {
        Handle h = fileHandle(w, r);
        if (h == null) {
            return;
        }
        long offset = r.i64(8);
        int size = Math.min(r.i32(16), w.replyData.capacity());
        DirListing l = listing(w, r, h, offset, deadline);
        if (l == null) {
            return;
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
            o.putLong(at, direntIno(l, i, dir));
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
