package io.fuseguard.internal.session;

import io.fuseguard.api.Operation;
import io.fuseguard.api.OperationKind;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.tree.Handle;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.wire.Attr;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;

import static io.fuseguard.internal.sys.Syscalls.EINVAL;
import static io.fuseguard.internal.sys.Syscalls.ENOENT;
import static io.fuseguard.internal.sys.Syscalls.EPERM;
import static io.fuseguard.internal.sys.Syscalls.ERANGE;

/**
 * Requests about a file's attributes and extended attributes: GETATTR, SETATTR, READLINK, STATFS, ACCESS and
 * the xattr requests.
 */
final class AttrRequests extends Requests {

    AttrRequests(Requests.Shared shared) {
        super(shared);
    }

    void getattr(Worker w, Request r, long deadline) {
        if (isProbe(r)) {
            Attr a = probeAttr(w);
            encodeAttr(w.out, a, 0, 0);
            replyOk(w, r, Fuse.ATTR_OUT);
            return;
        }
        Node n = node(r);
        if (n == null) {
            reply(w, r, ENOENT);
            return;
        }
        boolean hasFh = (r.i32(0) & Fuse.GETATTR_FH) != 0;
        Handle h = hasFh ? s.handles.get(r.i64(8)) : null;
        hasFh = h != null;
        if (h != null) {
            h.enter();
        }
        try {
            if (!beginOn(w, r, Operation.GETATTR, OperationKind.METADATA, n, h, deadline, hasFh)) {
                return;
            }
            String path = w.call.path;
            Attr a = w.context.attr;
            a.clear();
            int rc = ops.getattr(w.context, path, hasFh ? h.userFh() : 0, hasFh, a);
            if (!end(w, r, rc)) {
                return;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return;
            }
            if (nodes.hidesLink(n) && a.nlink > 0) {
                a.nlink--;
            }
            fixAttr(n, a);
            encodeAttr(w.out, a, attrSec, attrNsec);
            replyOk(w, r, Fuse.ATTR_OUT);
        } finally {
            if (h != null) {
                h.exit();
            }
        }
    }

    void setattr(Worker w, Request r, long deadline) {
        Node n = node(r);
        if (n == null || isProbe(r)) {
            reply(w, r, isProbe(r) ? EPERM : ENOENT);
            return;
        }
        int valid = r.i32(0);
        Handle h = (valid & Fuse.FATTR_FH) != 0 ? s.handles.get(r.i64(8)) : null;
        long size = r.i64(16);
        long atime = r.i64(32);
        long mtime = r.i64(40);
        int atimensec = r.i32(56);
        int mtimensec = r.i32(60);
        int mode = r.i32(68);
        int uid = r.i32(76);
        int gid = r.i32(80);
        OperationKind kind = (valid & Fuse.FATTR_SIZE) != 0 ? OperationKind.DATA : OperationKind.METADATA;
        Operation op = (valid & Fuse.FATTR_SIZE) != 0 ? Operation.TRUNCATE
                : (valid & Fuse.FATTR_MODE) != 0 ? Operation.CHMOD
                : (valid & (Fuse.FATTR_UID | Fuse.FATTR_GID)) != 0 ? Operation.CHOWN : Operation.UTIMENS;
        if (h != null) {
            h.enter();
        }
        try {
            if (!beginOn(w, r, op, kind, n, h, deadline, h != null)) {
                return;
            }
            String path = w.call.path;
            OpContext c = w.context;
            int rc = 0;
            if ((valid & Fuse.FATTR_MODE) != 0) {
                c.operation = Operation.CHMOD;
                rc = ops.chmod(c, path, mode);
            }
            if (rc >= 0 && (valid & (Fuse.FATTR_UID | Fuse.FATTR_GID)) != 0) {
                c.operation = Operation.CHOWN;
                rc = ops.chown(c, path, (valid & Fuse.FATTR_UID) != 0 ? uid : -1,
                        (valid & Fuse.FATTR_GID) != 0 ? gid : -1);
            }
            if (rc >= 0 && (valid & Fuse.FATTR_SIZE) != 0) {
                c.operation = Operation.TRUNCATE;
                rc = ops.truncate(c, path, size, h != null ? h.userFh() : 0, h != null);
                if (h != null) {
                    h.markDirty();
                }
            }
            if (rc >= 0 && (valid & (Fuse.FATTR_ATIME | Fuse.FATTR_MTIME)) != 0) {
                c.operation = Operation.UTIMENS;
                long an = (valid & Fuse.FATTR_ATIME_NOW) != 0 ? Fuse.UTIME_NOW
                        : (valid & Fuse.FATTR_ATIME) != 0 ? atimensec : Fuse.UTIME_OMIT;
                long mn = (valid & Fuse.FATTR_MTIME_NOW) != 0 ? Fuse.UTIME_NOW
                        : (valid & Fuse.FATTR_MTIME) != 0 ? mtimensec : Fuse.UTIME_OMIT;
                c.kernelAtimeNsec = atimensec;
                c.kernelMtimeNsec = mtimensec;
                rc = ops.utimens(c, path, (valid & Fuse.FATTR_ATIME) != 0 ? atime : 0, an,
                        (valid & Fuse.FATTR_MTIME) != 0 ? mtime : 0, mn);
            }
            int changes = Fuse.FATTR_MODE | Fuse.FATTR_UID | Fuse.FATTR_GID | Fuse.FATTR_SIZE | Fuse.FATTR_ATIME
                    | Fuse.FATTR_MTIME;
            if (rc >= 0 && (valid & changes) == 0) {
                rc = ops.touchCtime(c, path);
            }
            Attr a = c.attr;
            if (rc >= 0) {
                c.operation = Operation.GETATTR;
                a.clear();
                rc = ops.getattr(c, path, h != null ? h.userFh() : 0, h != null, a);
            }
            if (!end(w, r, rc)) {
                return;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return;
            }
            fixAttr(n, a);
            encodeAttr(w.out, a, attrSec, attrNsec);
            replyOk(w, r, Fuse.ATTR_OUT);
        } finally {
            if (h != null) {
                h.exit();
            }
        }
    }

    void readlink(Worker w, Request r, long deadline) {
        Node n = node(r);
        if (n == null) {
            reply(w, r, ENOENT);
            return;
        }
        if (!beginOn(w, r, Operation.READLINK, OperationKind.METADATA, n, null, deadline, false)) {
            return;
        }
        String path = w.call.path;
        ByteBuffer dst = w.replyData.clear().limit(4096);
        int rc = ops.readlink(w.context, path, dst);
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        replyOk(w, r, Math.min(rc, 4096));
    }

    void statfs(Worker w, Request r, long deadline) {
        Node n = node(r);
        String path = n == null ? "/" : nodes.path(n);
        if (path == null) {
            path = "/";
        }
        if (!begin(w, r, Operation.STATFS, OperationKind.METADATA, path, null, deadline, 0)) {
            return;
        }
        w.context.statfs.defaults();
        int rc = ops.statfs(w.context, path, w.context.statfs);
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        w.context.statfs.encode(w.out, Fuse.OUT_HEADER);
        replyOk(w, r, Fuse.STATFS_OUT);
    }

    void setxattr(Worker w, Request r, long deadline) {
        Node n = namedNode(w, r);
        if (n == null) {
            return;
        }
        int size = r.i32(0);
        int flags = r.i32(4);
        String name = r.string(8);
        int valueAt = Fuse.IN_HEADER + r.after(8);
        if (size < 0 || valueAt + size > r.end) {
            reply(w, r, EINVAL);
            return;
        }
        ByteBuffer value = r.buf.duplicate().position(valueAt).limit(valueAt + size).slice().asReadOnlyBuffer();
        if (!beginOn(w, r, Operation.SETXATTR, OperationKind.METADATA, n, null, deadline, false)) {
            return;
        }
        String path = w.call.path;
        int rc = ops.setxattr(w.context, path, name, value, flags);
        if (end(w, r, rc)) {
            replyResult(w, r, rc);
        }
    }

    void getxattr(Worker w, Request r, long deadline, boolean list) {
        Node n = namedNode(w, r);
        if (n == null) {
            return;
        }
        int size = r.i32(0);
        String name = list ? null : r.string(8);
        if (!beginOn(w, r, list ? Operation.LISTXATTR : Operation.GETXATTR, OperationKind.METADATA, n, null,
                deadline, false)) {
            return;
        }
        String path = w.call.path;
        int room = Math.min(size, w.replyData.capacity());
        ByteBuffer dst = size == 0 ? null : w.replyData.clear().limit(room);
        int rc = list ? ops.listxattr(w.context, path, dst) : ops.getxattr(w.context, path, name, dst);
        if (!end(w, r, rc)) {
            return;
        }
        if (rc < 0) {
            reply(w, r, -rc);
            return;
        }
        if (size == 0) {
            w.out.putInt(Fuse.OUT_HEADER, rc);
            w.out.putInt(Fuse.OUT_HEADER + 4, 0);
            replyOk(w, r, 8);
        } else if (rc > room) {
            reply(w, r, ERANGE);
        } else {
            replyOk(w, r, rc);
        }
    }

    void removexattr(Worker w, Request r, long deadline) {
        Node n = namedNode(w, r);
        if (n == null) {
            return;
        }
        String name = r.string(0);
        if (!beginOn(w, r, Operation.REMOVEXATTR, OperationKind.METADATA, n, null, deadline, false)) {
            return;
        }
        String path = w.call.path;
        int rc = ops.removexattr(w.context, path, name);
        if (end(w, r, rc)) {
            replyResult(w, r, rc);
        }
    }

    void access(Worker w, Request r, long deadline) {
        Node n = namedNode(w, r);
        if (n == null) {
            return;
        }
        int mask = r.i32(0);
        if (!beginOn(w, r, Operation.ACCESS, OperationKind.METADATA, n, null, deadline, false)) {
            return;
        }
        String path = w.call.path;
        int rc = ops.access(w.context, path, mask);
        if (end(w, r, rc)) {
            replyResult(w, r, rc);
        }
    }

    /**
     * STATX: sent instead of GETATTR when a caller of {@code statx(2)} asks for more than {@code stat} carries (a
     * birth time). An ENOSYS answer makes the kernel use GETATTR for good.
     */
    void statx(Worker w, Request r, long deadline) {
        if (isProbe(r)) {
            // its own attributes: ENOSYS would make the kernel stop sending STATX for the whole mount
            encodeStatx(w, r, probeAttr(w), 0, 0);
            return;
        }
        Node n = node(r);
        if (n == null) {
            reply(w, r, ENOENT);
            return;
        }
        boolean hasFh = (r.i32(0) & Fuse.GETATTR_FH) != 0;
        Handle h = hasFh ? s.handles.get(r.i64(8)) : null;
        hasFh = h != null;
        int flags = r.i32(16);
        int mask = r.i32(20);
        if (h != null) {
            h.enter();
        }
        try {
            if (!beginOn(w, r, Operation.STATX, OperationKind.METADATA, n, h, deadline, hasFh)) {
                return;
            }
            Attr a = w.context.attr;
            a.clear();
            int rc = ops.statx(w.context, w.call.path, hasFh ? h.userFh() : 0, hasFh, flags, mask, a);
            if (!end(w, r, rc)) {
                return;
            }
            if (rc < 0) {
                reply(w, r, -rc);
                return;
            }
            if (nodes.hidesLink(n) && a.nlink > 0) {
                a.nlink--;
            }
            fixAttr(n, a);
            encodeStatx(w, r, a, attrSec, attrNsec);
        } finally {
            if (h != null) {
                h.exit();
            }
        }
    }

    /** Answers a STATX with {@code a} ({@code struct fuse_statx_out}). */
    private void encodeStatx(Worker w, Request r, Attr a, long validSec, int validNsec) {
        ByteBuffer o = w.out;
        o.putLong(Fuse.OUT_HEADER, validSec);
        o.putInt(Fuse.OUT_HEADER + 8, validNsec);
        o.putInt(Fuse.OUT_HEADER + 12, 0);
        o.putLong(Fuse.OUT_HEADER + 16, 0);
        o.putLong(Fuse.OUT_HEADER + 24, 0);
        a.encodeStatx(o, Fuse.OUT_HEADER + 32);
        replyOk(w, r, Fuse.STATX_OUT);
    }
}
