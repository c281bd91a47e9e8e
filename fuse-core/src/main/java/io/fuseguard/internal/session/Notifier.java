package io.fuseguard.internal.session;

import io.fuseguard.api.Errno;
import io.fuseguard.api.ErrnoException;
import io.fuseguard.internal.log.Log;
import io.fuseguard.internal.ops.OpContext;
import io.fuseguard.internal.sys.Syscalls;
import io.fuseguard.internal.tree.Node;
import io.fuseguard.internal.wire.Fuse;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Notifications from the daemon to the kernel (messages written to {@code /dev/fuse} with {@code unique} 0):
 * invalidate an inode's attributes and cached data, invalidate, expire or delete a directory entry, store data
 * in the page cache, retrieve it, and start a new epoch of cached entries.
 *
 * <h2>Why they never block a request, and never deadlock with one</h2>
 * The kernel applies a notification under the locks of what it changes: an inode's page locks (inval_inode,
 * store), a directory's lock (inval_entry, delete). A request in flight for the same node may hold them until it
 * is answered (a READ holds the pages it fills; a LOOKUP, CREATE or UNLINK holds its directory), so a
 * notification written from the thread that must answer that request waits for itself: libfuse's classic trap.
 * Here no caller ever writes one: each call only puts the notification in a queue and returns a future, and one
 * thread of the mount writes them, in the order they were made, holding nothing of fuseguard's while the kernel
 * applies one. If the kernel must wait for a request in flight, that thread waits until the request is
 * answered (by its handler, or by the watchdog at its deadline); request threads go on meanwhile. The only way
 * back into the trap is to wait for the future inside a handler, so that is refused: {@code get()} or
 * {@code join()} on a notification's future (or one derived from it) in a thread that is running a handler
 * throws IllegalStateException at once. Futures complete on a thread of their own (not the writer's), where
 * callbacks run; waiting there is refused too.
 *
 * <p>Paths are looked up in the node table (the names the kernel holds); a path the kernel holds no node for has
 * nothing cached, and its notification completes with false without reaching the kernel.
 */
public final class Notifier {
    private static final Log LOG = Log.of(Notifier.class);
    /** Most notifications waiting to be written; more fail at once rather than grow the heap without end. */
    static final int MAX_QUEUED = 65_536;
    /** Data of one STORE message; a larger store is sent as several. */
    static final int STORE_CHUNK = 256 * 1024;
    private static final int MAX_NAME = 1024;

    private final Session s;
    private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>(MAX_QUEUED);
    private final Map<Long, Retrieval> retrievals = new ConcurrentHashMap<>();
    private final AtomicLong retrieveUnique = new AtomicLong();
    private final AtomicInteger started = new AtomicInteger();
    private volatile boolean closed;
    private volatile Thread writer;
    private final ThreadPoolExecutor done;
    private volatile Thread doneThread;
    private ByteBuffer buf;
    private long bufAddress;

    Notifier(Session s) {
        this.s = s;
        this.done = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "fuseguard-notified-" + s.name());
            t.setDaemon(true);
            doneThread = t;
            return t;
        });
        done.allowCoreThreadTimeOut(true);
    }

    /** A message to write: what it is about and how to fill it. */
    private abstract static class Pending {
        final NotificationFuture<?> future;

        Pending(NotificationFuture<?> future) {
            this.future = future;
        }

        /** Writes the message (header included) into {@code b}; its length, or -1 when nothing is to be sent. */
        abstract int fill(ByteBuffer b);

        /** What to complete the future with when the kernel took the message. */
        abstract Object onSent();

        /** What to complete the future with when the kernel had nothing of it (ENOENT), or no node was found. */
        abstract Object onUnknown();

        /** Whether another message of this notification follows (a large store). */
        boolean more() {
            return false;
        }

        /** The notification failed (before or after it was written). */
        void failed() {
        }
    }

    private static final class Retrieval {
        final NotificationFuture<ByteBuffer> future;

        Retrieval(NotificationFuture<ByteBuffer> future) {
            this.future = future;
        }
    }

    // ---- what callers use ------------------------------------------------------------------------------------

    /** INVAL_INODE: attributes, and cached data from {@code offset} ({@code < 0}: none; {@code length <= 0}: to the end). */
    public CompletableFuture<Boolean> invalidateInode(String path, long offset, long length) {
        NotificationFuture<Boolean> f = new NotificationFuture<>(this);
        return submit(new BooleanPending(f) {
            @Override
            int fill(ByteBuffer b) {
                Node n = held(s.nodes.findAndHold(path));
                if (n == null) {
                    return -1;
                }
                b.putLong(Fuse.OUT_HEADER, n.id());
                b.putLong(Fuse.OUT_HEADER + 8, offset);
                b.putLong(Fuse.OUT_HEADER + 16, length);
                return header(b, Fuse.NOTIFY_INVAL_INODE, 24);
            }
        });
    }

    /** INVAL_ENTRY of {@code name} in {@code parentPath} (with {@code expireOnly}, the 7.38 expire form). */
    public CompletableFuture<Boolean> invalidateEntry(String parentPath, String name, boolean expireOnly) {
        NotificationFuture<Boolean> f = new NotificationFuture<>(this);
        byte[] n = name(name);
        if (expireOnly && minor() < 38) {
            f.completeExceptionally(new UnsupportedOperationException("expiring an entry needs FUSE 7.38 (Linux "
                    + "6.2); this kernel speaks 7." + minor()));
            return f;
        }
        return submit(new BooleanPending(f) {
            @Override
            int fill(ByteBuffer b) {
                Node parent = held(s.nodes.findAndHold(parentPath));
                if (parent == null) {
                    return -1;
                }
                b.putLong(Fuse.OUT_HEADER, parent.id());
                b.putInt(Fuse.OUT_HEADER + 8, n.length);
                b.putInt(Fuse.OUT_HEADER + 12, expireOnly ? Fuse.EXPIRE_ONLY : 0);
                b.put(Fuse.OUT_HEADER + 16, n);
                b.put(Fuse.OUT_HEADER + 16 + n.length, (byte) 0);
                return header(b, Fuse.NOTIFY_INVAL_ENTRY, 16 + n.length + 1);
            }
        });
    }

    /**
     * DELETE: {@code name} in {@code parentPath} is gone; the kernel also drops the node's own entries (a deleted
     * directory's). When the kernel holds no node for the name, nothing of it is cached but maybe a negative or
     * stale entry: an INVAL_ENTRY is sent instead.
     */
    public CompletableFuture<Boolean> deleteEntry(String parentPath, String name) {
        NotificationFuture<Boolean> f = new NotificationFuture<>(this);
        byte[] n = name(name);
        return submit(new BooleanPending(f) {
            @Override
            int fill(ByteBuffer b) {
                Node parent = held(s.nodes.findAndHold(parentPath));
                if (parent == null) {
                    return -1;
                }
                Node child = held(s.nodes.childAndHold(parent, name));
                if (child == null) {
                    b.putLong(Fuse.OUT_HEADER, parent.id());
                    b.putInt(Fuse.OUT_HEADER + 8, n.length);
                    b.putInt(Fuse.OUT_HEADER + 12, 0);
                    b.put(Fuse.OUT_HEADER + 16, n);
                    b.put(Fuse.OUT_HEADER + 16 + n.length, (byte) 0);
                    return header(b, Fuse.NOTIFY_INVAL_ENTRY, 16 + n.length + 1);
                }
                b.putLong(Fuse.OUT_HEADER, parent.id());
                b.putLong(Fuse.OUT_HEADER + 8, child.id());
                b.putInt(Fuse.OUT_HEADER + 16, n.length);
                b.putInt(Fuse.OUT_HEADER + 20, 0);
                b.put(Fuse.OUT_HEADER + 24, n);
                b.put(Fuse.OUT_HEADER + 24 + n.length, (byte) 0);
                return header(b, Fuse.NOTIFY_DELETE, 24 + n.length + 1);
            }
        });
    }

    /** STORE: puts {@code data} (copied now) into the page cache of {@code path} at {@code offset}. */
    public CompletableFuture<Boolean> store(String path, long offset, ByteBuffer data) {
        NotificationFuture<Boolean> f = new NotificationFuture<>(this);
        if (offset < 0) {
            f.completeExceptionally(new IllegalArgumentException("negative offset " + offset));
            return f;
        }
        byte[] copy = new byte[data.remaining()];
        data.duplicate().get(copy);
        return submit(new BooleanPending(f) {
            private int at; // the part sent so far: a large store goes out in chunks

            @Override
            int fill(ByteBuffer b) {
                Node n = held(s.nodes.findAndHold(path));
                if (n == null) {
                    return -1;
                }
                int len = Math.min(STORE_CHUNK, copy.length - at);
                b.putLong(Fuse.OUT_HEADER, n.id());
                b.putLong(Fuse.OUT_HEADER + 8, offset + at);
                b.putInt(Fuse.OUT_HEADER + 16, len);
                b.putInt(Fuse.OUT_HEADER + 20, 0);
                b.put(Fuse.OUT_HEADER + 24, copy, at, len);
                at += len;
                return header(b, Fuse.NOTIFY_STORE, 24 + len);
            }

            @Override
            boolean more() {
                return at < copy.length;
            }
        });
    }

    /**
     * RETRIEVE: the bytes of {@code path} the kernel has in its page cache from {@code offset}, at most
     * {@code length} (the kernel stops at the first page it does not hold and at the end of the file). Empty when
     * the kernel holds no node for the path.
     */
    public CompletableFuture<ByteBuffer> retrieve(String path, long offset, int length) {
        NotificationFuture<ByteBuffer> f = new NotificationFuture<>(this);
        if (offset < 0 || length < 0) {
            f.completeExceptionally(new IllegalArgumentException("negative offset or length"));
            return f;
        }
        long unique = retrieveUnique.incrementAndGet();
        return submit(new Pending(f) {
            @Override
            int fill(ByteBuffer b) {
                Node n = held(s.nodes.findAndHold(path));
                if (n == null) {
                    return -1;
                }
                retrievals.put(unique, new Retrieval(f));
                b.putLong(Fuse.OUT_HEADER, unique);
                b.putLong(Fuse.OUT_HEADER + 8, n.id());
                b.putLong(Fuse.OUT_HEADER + 16, offset);
                b.putInt(Fuse.OUT_HEADER + 24, length);
                b.putInt(Fuse.OUT_HEADER + 28, 0);
                return header(b, Fuse.NOTIFY_RETRIEVE, 32);
            }

            @Override
            Object onSent() {
                return null; // completed by the kernel's NOTIFY_REPLY
            }

            @Override
            Object onUnknown() {
                retrievals.remove(unique);
                return ByteBuffer.allocate(0).asReadOnlyBuffer();
            }

            @Override
            void failed() {
                retrievals.remove(unique);
            }
        });
    }

    /** INC_EPOCH (7.44, Linux 6.16): every cached entry of the mount must be looked up again. */
    public CompletableFuture<Boolean> incrementEpoch() {
        NotificationFuture<Boolean> f = new NotificationFuture<>(this);
        if (minor() < 44) {
            f.completeExceptionally(new UnsupportedOperationException("a new epoch needs FUSE 7.44 (Linux 6.16); "
                    + "this kernel speaks 7." + minor()));
            return f;
        }
        return submit(new BooleanPending(f) {
            @Override
            int fill(ByteBuffer b) {
                return header(b, Fuse.NOTIFY_INC_EPOCH, 0);
            }
        });
    }

    /** POLL: the file polled with kernel handle {@code kh} is ready (a jnr-fuse filesystem's fuse_notify_poll). */
    public CompletableFuture<Boolean> pollWakeup(long kh) {
        NotificationFuture<Boolean> f = new NotificationFuture<>(this);
        return submit(new BooleanPending(f) {
            @Override
            int fill(ByteBuffer b) {
                b.putLong(Fuse.OUT_HEADER, kh);
                return header(b, Fuse.NOTIFY_POLL, 8);
            }
        });
    }

    // ---- the kernel's answer to a retrieve ---------------------------------------------------------------------

    /** A NOTIFY_REPLY (read like a request, never answered): the data of a retrieve. */
    void retrieveReply(Request r) {
        Retrieval x = retrievals.remove(r.unique);
        if (x == null) {
            return;
        }
        int size = Math.max(0, Math.min(r.i32(16), r.end - Fuse.IN_HEADER - Fuse.NOTIFY_RETRIEVE_IN));
        byte[] data = new byte[size];
        r.buf.get(Fuse.IN_HEADER + Fuse.NOTIFY_RETRIEVE_IN, data, 0, size);
        complete(x.future, ByteBuffer.wrap(data).asReadOnlyBuffer());
    }

    // ---- the writer -----------------------------------------------------------------------------------------

    private <T> CompletableFuture<T> submit(Pending p) {
        @SuppressWarnings("unchecked")
        CompletableFuture<T> f = (CompletableFuture<T>) p.future;
        if (closed || s.closing() || s.connectionEnded()) {
            f.completeExceptionally(new IllegalStateException("the mount is closing: no notification is sent"));
            return f;
        }
        if (!queue.offer(p)) {
            f.completeExceptionally(new IllegalStateException(MAX_QUEUED + " notifications are waiting to be "
                    + "written (the kernel is applying one that waits for a request in flight)"));
            return f;
        }
        if (started.get() == 0 && started.compareAndSet(0, 1)) {
            Thread t = new Thread(this::writeLoop, "fuseguard-notify-" + s.name());
            t.setDaemon(true);
            writer = t;
            t.start();
        }
        return f;
    }

    private void writeLoop() {
        try {
            buf = ByteBuffer.allocateDirect(Fuse.OUT_HEADER + 32 + Math.max(STORE_CHUNK, MAX_NAME + 64))
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN);
            bufAddress = Syscalls.address(buf);
            while (!closed) {
                Pending p;
                try {
                    p = queue.poll(1, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    break;
                }
                if (p != null) {
                    send(p);
                }
            }
        } catch (Throwable e) {
            s.fatal(e, "the notification writer");
        } finally {
            failQueued();
        }
    }

    /** Nodes the message being written names by id, kept from reuse until it is written (writer thread only). */
    private final java.util.ArrayList<Node> held = new java.util.ArrayList<>(2);

    /** Records a node of {@code NodeTable.findAndHold}/{@code childAndHold} for release after the write. */
    private Node held(Node n) {
        if (n != null) {
            held.add(n);
        }
        return n;
    }

    private void send(Pending p) {
        try {
            do {
                if (closed || s.connectionEnded()) {
                    fail(p, new IllegalStateException("the mount's connection ended"));
                    return;
                }
                int len;
                long r;
                try {
                    len = p.fill(buf);
                    if (len < 0) {
                        complete(p.future, p.onUnknown());
                        return;
                    }
                    r = Syscalls.write(s.fd(), bufAddress, len);
                } finally {
                    for (Node n : held) {
                        s.nodes.unhold(n);
                    }
                    held.clear();
                }
                if (r == -Syscalls.ENOENT) {
                    complete(p.future, p.onUnknown()); // the kernel holds nothing of it any more
                    return;
                }
                if (r == -Syscalls.ENODEV || r == -Syscalls.ENOTCONN || r == -Syscalls.EBADF) {
                    fail(p, new IllegalStateException("the mount's connection ended"));
                    return;
                }
                if (r < 0) {
                    Errno e = Errno.of((int) -r);
                    fail(p, new ErrnoException(e == null ? Errno.EIO : e, "the kernel refused the notification: "
                            + "errno " + -r));
                    return;
                }
            } while (p.more());
            Object v = p.onSent();
            if (v != null) {
                complete(p.future, v);
            }
        } catch (RuntimeException e) {
            fail(p, e);
        }
    }

    private int minor() {
        io.fuseguard.mount.KernelProtocol p = s.protocol();
        return p == null ? 0 : p.minor();
    }

    private static byte[] name(String name) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        if (n.length == 0 || n.length > MAX_NAME || name.indexOf('/') >= 0 || name.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("not a file name: \"" + name + "\"");
        }
        return n;
    }

    private static int header(ByteBuffer b, int code, int payload) {
        b.putInt(0, Fuse.OUT_HEADER + payload);
        b.putInt(4, code);
        b.putLong(8, 0);
        return Fuse.OUT_HEADER + payload;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private void complete(NotificationFuture f, Object value) {
        try {
            done.execute(() -> f.complete(value));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            f.complete(value);
        }
    }

    private void fail(Pending p, Throwable t) {
        p.failed();
        NotificationFuture<?> f = p.future;
        try {
            done.execute(() -> f.completeExceptionally(t));
        } catch (java.util.concurrent.RejectedExecutionException e) {
            f.completeExceptionally(t);
        }
    }

    private void failQueued() {
        Pending p;
        while ((p = queue.poll()) != null) {
            fail(p, new IllegalStateException("the mount is closing: the notification was not sent"));
        }
    }

    /** Stops the writer: what waits fails; retrieves the kernel has not answered fail too. */
    void close() {
        closed = true;
        Thread t = writer;
        if (t != null) {
            t.interrupt();
        }
        failQueued();
        for (Long u : retrievals.keySet()) {
            Retrieval x = retrievals.remove(u);
            if (x != null) {
                x.future.completeExceptionally(new IllegalStateException("the mount closed before the kernel "
                        + "answered the retrieve"));
            }
        }
        done.shutdown();
    }

    // ---- futures that refuse to be waited for where that could deadlock -----------------------------------------

    /** Whether the calling thread must not wait for a notification (see the class comment). */
    boolean mustNotWait() {
        OpContext c = OpContext.current();
        return c != null && c.active || Thread.currentThread() == doneThread
                || Thread.currentThread() == writer;
    }

    /**
     * A notification's future: waiting for it ({@code get}, {@code join}) is refused in a thread that runs a
     * handler, because the notification may wait for the very request that handler answers. Futures derived
     * from it (thenApply, ...) are of this class too.
     */
    static final class NotificationFuture<T> extends CompletableFuture<T> {
        private final Notifier owner;

        NotificationFuture(Notifier owner) {
            this.owner = owner;
        }

        private void check() {
            if (!isDone() && owner.mustNotWait()) {
                throw new IllegalStateException("waiting for a kernel notification inside a filesystem handler "
                        + "(or a notification callback) could wait for the very request it serves: attach a "
                        + "callback (thenRun, whenComplete) instead");
            }
        }

        @Override
        public T get() throws InterruptedException, ExecutionException {
            check();
            return super.get();
        }

        @Override
        public T get(long timeout, TimeUnit unit) throws InterruptedException, ExecutionException,
                TimeoutException {
            check();
            return super.get(timeout, unit);
        }

        @Override
        public T join() {
            check();
            return super.join();
        }

        @Override
        public <U> CompletableFuture<U> newIncompleteFuture() {
            return new NotificationFuture<>(owner);
        }

        @Override
        public Executor defaultExecutor() {
            return owner.done;
        }
    }

    /** A notification whose future says whether the kernel had what it is about. */
    private abstract static class BooleanPending extends Pending {
        BooleanPending(NotificationFuture<Boolean> f) {
            super(f);
        }

        @Override
        Object onSent() {
            return Boolean.TRUE;
        }

        @Override
        Object onUnknown() {
            return Boolean.FALSE;
        }
    }
}
