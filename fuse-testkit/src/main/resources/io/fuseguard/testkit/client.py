# A scripted file-system client for the edge tests: one command per line on stdin, one answer per line on
# stdout, so a test can drive a real process step by step (open, write, close at chosen moments) and see the
# exact errno of every system call.
#
# Answers: "OK <ms> [value]" or "ERR <ms> <errno> <ERRNAME>", where <ms> is the wall time of the call.
import errno
import os
import sys
import time

files = {}
FLAGS = {
    "r": os.O_RDONLY,
    "w": os.O_WRONLY,
    "rw": os.O_RDWR,
    "wc": os.O_WRONLY | os.O_CREAT,
    "rwc": os.O_RDWR | os.O_CREAT,
    "wct": os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
}


def run(words):
    op = words[0]
    if op == "open":
        files[words[1]] = os.open(words[2], FLAGS[words[3]], 0o644)
        return ""
    if op == "write":
        data = words[2].encode()
        return str(os.write(files[words[1]], data))
    if op == "pwrite":
        return str(os.pwrite(files[words[1]], words[3].encode(), int(words[2])))
    if op == "read":
        return os.read(files[words[1]], int(words[2])).decode("latin-1")
    if op == "pread":
        return os.pread(files[words[1]], int(words[2]), int(words[3])).decode("latin-1")
    if op == "fstat":
        return str(os.fstat(files[words[1]]).st_size)
    if op == "fsync":
        os.fsync(files[words[1]])
        return ""
    if op == "close":
        fd = files.pop(words[1])
        os.close(fd)
        return ""
    if op == "stat":
        return str(os.stat(words[1]).st_size)
    if op == "readfile":
        with open(words[1], "rb") as f:
            return f.read().decode("latin-1")
    if op == "writefile":
        with open(words[1], "wb") as f:
            f.write(words[2].encode())
        return ""
    if op == "mkdir":
        os.mkdir(words[1])
        return ""
    if op == "unlink":
        os.unlink(words[1])
        return ""
    if op == "rename":
        os.rename(words[1], words[2])
        return ""
    if op == "listdir":
        return ",".join(sorted(os.listdir(words[1])))
    if op == "hammer":
        # hammer <name> <count>: fstat of an open file, as fast as possible; "errno:count" pairs (0 = success)
        seen = {}
        for _ in range(int(words[2])):
            try:
                os.fstat(files[words[1]])
                seen[0] = seen.get(0, 0) + 1
            except OSError as e:
                seen[e.errno] = seen.get(e.errno, 0) + 1
        return ",".join("%d:%d" % (k, v) for k, v in sorted(seen.items()))
    if op == "probe":
        # probe <path> <count> <interval_ms>: repeated stat, latencies in ms (or E<errno>), comma separated
        out = []
        for _ in range(int(words[2])):
            t = time.monotonic()
            try:
                os.stat(words[1])
                out.append("%.2f" % ((time.monotonic() - t) * 1000))
            except OSError as e:
                out.append("E%d" % e.errno)
            time.sleep(int(words[3]) / 1000.0)
        return ",".join(out)
    raise ValueError("unknown command " + op)


for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    if words[0] == "exit":
        break
    t0 = time.monotonic()
    try:
        value = run(words)
        ms = (time.monotonic() - t0) * 1000
        print("OK %.2f %s" % (ms, value.replace("\n", "\\n")), flush=True)
    except OSError as e:
        ms = (time.monotonic() - t0) * 1000
        print("ERR %.2f %d %s" % (ms, e.errno, errno.errorcode.get(e.errno, "?")), flush=True)
