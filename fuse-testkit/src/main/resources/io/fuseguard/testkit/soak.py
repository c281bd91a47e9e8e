"""Roles of the engine's concurrency soak; each prints one line of key=value counts when done.

  soak.py writer DIR SECONDS ID     write 4 KiB blocks (at most 24 MiB) through one descriptor of DIR/w<ID>, reading
                                    earlier ones back
  soak.py renamer DIR ALT SECONDS   rename DIR to ALT, put a decoy DIR/w<i> in its place, remove it, rename back
  soak.py churn DIR SECONDS ID      create, write, close, unlink as fast as possible
  soak.py prober DIR SECONDS        stat names whose handlers stall (keeps the lanes full)

A writer's block k of writer i is the bytes b'%02d:%08d' % (i, k) repeated to 4 KiB.
"""
import os
import random
import sys
import time


MAX_BLOCKS = 6144


def block(ident, k):
    unit = b"%02d:%08d|" % (ident, k)
    return (unit * (4096 // len(unit) + 1))[:4096]


def writer(d, seconds, ident):
    fd = os.open(os.path.join(d, "w%d" % ident), os.O_CREAT | os.O_RDWR, 0o644)
    end = time.monotonic() + seconds
    blocks = errors = badreads = 0
    first = "-"
    rnd = random.Random(ident)
    while time.monotonic() < end:
        try:
            if blocks < MAX_BLOCKS:
                n = os.pwrite(fd, block(ident, blocks), blocks * 4096)
                if n != 4096:
                    errors += 1
                    if first == "-":
                        first = "short:%d" % n
                    continue
                blocks += 1
            if blocks % 16 == 0 or blocks >= MAX_BLOCKS:
                k = rnd.randrange(blocks)
                if os.pread(fd, 4096, k * 4096) != block(ident, k):
                    badreads += 1
        except OSError as e:
            errors += 1
            if first == "-":
                first = "errno:%d" % e.errno
    os.close(fd)
    print("blocks=%d errors=%d badreads=%d first=%s" % (blocks, errors, badreads, first), flush=True)


def renamer(d, alt, seconds):
    time.sleep(1)  # the writers open their files first
    end = time.monotonic() + seconds - 1
    cycles = errors = rmdir_retries = 0
    slowest = (0.0, "-")

    def timed(what, fn, *args):
        nonlocal slowest
        t0 = time.monotonic()
        r = fn(*args)
        ms = (time.monotonic() - t0) * 1000
        if ms > slowest[0]:
            slowest = (ms, what)
        return r

    def decoy(p):
        with open(p, "wb") as f:
            f.write(b"D" * 100)

    while time.monotonic() < end:
        try:
            timed("rename-away", os.rename, d, alt)
            timed("mkdir", os.mkdir, d)
            decoys = [os.path.join(d, "w%d" % i) for i in range(4)]
            for p in decoys:
                timed("decoy", decoy, p)
            for p in decoys:
                timed("unlink", os.unlink, p)
            # A decoy whose RELEASE the kernel had not sent yet when its unlink was served is hidden until that
            # release comes (libfuse's .fuse_hidden): the directory is briefly not empty.
            for attempt in range(100):
                try:
                    timed("rmdir", os.rmdir, d)
                    break
                except OSError as e:
                    if e.errno != 39 or attempt == 99:
                        raise
                    rmdir_retries += 1
                    time.sleep(0.001)
            timed("rename-back", os.rename, alt, d)
            cycles += 1
        except OSError as e:
            errors += 1
            print("renamer error %s" % e, file=sys.stderr)
            time.sleep(0.01)
    print("cycles=%d errors=%d rmdir_retries=%d slowest=%s:%d" % (cycles, errors, rmdir_retries, slowest[1],
                                                                 slowest[0]), flush=True)


def churn(d, seconds, ident):
    end = time.monotonic() + seconds
    n = errors = 0
    while time.monotonic() < end:
        p = os.path.join(d, "c%d_%d" % (ident, n))
        try:
            fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
            os.write(fd, b"c" * 512)
            os.close(fd)
            os.unlink(p)
        except OSError as e:
            errors += 1
        n += 1
    print("cycles=%d errors=%d" % (n, errors), flush=True)


def prober(d, seconds):
    end = time.monotonic() + seconds
    n = timeouts = 0
    while time.monotonic() < end:
        try:
            os.stat(os.path.join(d, "stall-%d" % (n % 3)))
        except OSError as e:
            timeouts += e.errno == 5
        n += 1
    print("probes=%d eio=%d" % (n, timeouts), flush=True)


if __name__ == "__main__":
    role = sys.argv[1]
    if role == "writer":
        writer(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    elif role == "renamer":
        renamer(sys.argv[2], sys.argv[3], float(sys.argv[4]))
    elif role == "churn":
        churn(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
    else:
        prober(sys.argv[2], float(sys.argv[3]))
