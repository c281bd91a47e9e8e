"""A client that must not notice its filesystem's daemon being restarted.

  durable_client.py DIR SECONDS ID

Keeps one file open from the start (DIR/held-ID) and writes 4 KiB blocks to it, fsyncs every 8 blocks, and
reads earlier blocks back through the same descriptor; every 20 blocks it also creates, writes, fsyncs, closes,
reopens and reads a new file (DIR/new-ID-N). Every call's failure is counted. Prints:
  blocks=N fsyncs=N newfiles=N errors=N badreads=N first=...
"""
import os
import random
import sys
import time


def block(ident, k):
    unit = b"%02d:%08d|" % (ident, k)
    return (unit * (4096 // len(unit) + 1))[:4096]


def main(d, seconds, ident):
    rnd = random.Random(ident)
    held = os.open(os.path.join(d, "held-%d" % ident), os.O_CREAT | os.O_RDWR, 0o644)
    end = time.monotonic() + seconds
    blocks = fsyncs = newfiles = errors = badreads = 0
    first = "-"

    def failed(what, e):
        nonlocal errors, first
        errors += 1
        print("client %d: %s failed: %s" % (ident, what, e), file=sys.stderr, flush=True)
        if first == "-":
            first = "%s:%s" % (what, e.errno)

    while time.monotonic() < end:
        try:
            n = os.pwrite(held, block(ident, blocks), blocks * 4096)
            if n != 4096:
                raise OSError(-n, "short write")
            blocks += 1
        except OSError as e:
            failed("write", e)
            continue
        if blocks % 8 == 0:
            try:
                os.fsync(held)
                fsyncs += 1
            except OSError as e:
                failed("fsync", e)
        if blocks % 4 == 0:
            k = rnd.randrange(blocks)
            try:
                if os.pread(held, 4096, k * 4096) != block(ident, k):
                    badreads += 1
            except OSError as e:
                failed("read", e)
        if blocks % 20 == 0:
            p = os.path.join(d, "new-%d-%d" % (ident, newfiles))
            try:
                fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
                os.write(fd, block(ident, newfiles))
                os.fsync(fd)
                os.close(fd)
                with open(p, "rb") as f:
                    if f.read() != block(ident, newfiles):
                        badreads += 1
                newfiles += 1
            except OSError as e:
                failed("newfile", e)
        time.sleep(0.002)
    os.close(held)
    print("blocks=%d fsyncs=%d newfiles=%d errors=%d badreads=%d first=%s" % (blocks, fsyncs, newfiles, errors,
                                                                              badreads, first), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
