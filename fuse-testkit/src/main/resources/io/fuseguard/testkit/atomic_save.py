"""The atomic-save pattern of editors, package managers and git refs, as writers and readers of one directory.

  atomic_save.py writer DIR SECONDS INDEX   write a temp file, close it, rename it over name_<n % 4>
  atomic_save.py reader DIR SECONDS INDEX   open each name_<k> and read it whole; check its record

A record is "<md5 hex> <length>\\n" followed by <length> bytes whose md5 it is. A reader that opens a name after
rename() returned must see one whole record, never a prefix. Prints one line: key=value counts (missing: ENOENT for
a name, which is an error when the names existed from the start; stale: ESTALE, an open that lost its race with a
rename twice, the kernel's walk again included).
"""
import errno
import hashlib
import os
import random
import sys
import time

NAMES = 4


def writer(d, seconds, index):
    rnd = random.Random(index)
    end = time.monotonic() + seconds
    n = 0
    errors = 0
    while time.monotonic() < end:
        payload = rnd.randbytes(rnd.randint(1, 65536))
        record = b"%s %d\n" % (hashlib.md5(payload).hexdigest().encode(), len(payload)) + payload
        tmp = os.path.join(d, ".tmp-%d-%d" % (index, n))
        try:
            with open(tmp, "wb") as f:
                f.write(record)
            os.rename(tmp, os.path.join(d, "name_%d" % (n % NAMES)))
        except OSError as e:
            errors += 1
            print("writer error %s" % e, file=sys.stderr)
        n += 1
    print("writes=%d errors=%d" % (n, errors), flush=True)


def reader(d, seconds, index):
    end = time.monotonic() + seconds
    reads = bad = missing = stale = errors = 0
    first = "-"
    while time.monotonic() < end:
        for k in range(NAMES):
            p = os.path.join(d, "name_%d" % k)
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                missing += 1
                continue
            except OSError as e:
                if e.errno == errno.ESTALE:
                    stale += 1
                    continue
                errors += 1
                print("reader error %s" % e, file=sys.stderr)
                if first == "-":
                    first = "error:%s" % e.errno
                continue
            reads += 1
            head, _, payload = data.partition(b"\n")
            parts = head.split(b" ")
            ok = len(parts) == 2 and parts[1].isdigit() and int(parts[1]) == len(payload) \
                and hashlib.md5(payload).hexdigest().encode() == parts[0]
            if not ok:
                bad += 1
                if first == "-":
                    first = "torn:%d" % len(data)
    print("reads=%d bad=%d missing=%d stale=%d errors=%d first=%s" % (reads, bad, missing, stale, errors, first),
          flush=True)


if __name__ == "__main__":
    role, d, seconds, index = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    (writer if role == "writer" else reader)(d, seconds, index)
