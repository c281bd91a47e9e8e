# A chaos-soak client: random file-system operations on a FUSE mount, every byte read back verified.
#
#   chaos_client.py <mount point> <client id> <seed> [stall percent]
#   chaos_client.py <mount point> probe <interval ms>
#
# Healthy operations work in <mp>/data/<client id>/ (created here; a client id is used once) and must always
# succeed; "stall" operations go to <mp>/stall/, where handlers may be stalled by the daemon: they may fail with
# EIO (the timeout errno), and must never hang. The client stops when its standard input is closed or says
# "stop", and prints: DONE ops=<n> verified=<bytes> mismatches=<n> bad=<n>.
#
# Output lines: "O <op> <errno> <ms>" per operation, "MISMATCH ..." for a wrong byte, "BAD ..." for an
# unexpected error. SIGUSR1 is handled (a no-op): it interrupts system calls. Python retries some of them (open,
# read, write: PEP 475), others (stat, mkdir, rename, unlink, listdir) fail with EINTR; a change that failed with
# EINTR must not have happened (checked right away, and for stalled mkdirs again at the end): EINTR means "not
# done, safe to retry". Names ".fuse_hidden*" in listings (an unlinked file whose release is still running, as
# with libfuse) are counted, not compared.
import errno
import hashlib
import os
import random
import signal
import sys
import threading
import time

mp = sys.argv[1]
role = sys.argv[2]
stop = threading.Event()


def watch_stdin():
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()


threading.Thread(target=watch_stdin, daemon=True).start()
signal.signal(signal.SIGUSR1, lambda s, f: None)


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if role == "probe":
    interval = int(sys.argv[3]) / 1000.0
    probe = os.path.join(mp, "probe")
    while not stop.is_set():
        t = time.monotonic()
        try:
            os.stat(probe)
            out("P %.3f" % ((time.monotonic() - t) * 1000))
        except OSError as e:
            out("P E%d %.3f" % (e.errno, (time.monotonic() - t) * 1000))
        time.sleep(interval)
    out("DONE probe")
    sys.exit(0)

cid = role
rnd = random.Random(int(sys.argv[3]))
stall_percent = int(sys.argv[4]) if len(sys.argv) > 4 else 15
home = os.path.join(mp, "data", cid)
stall = os.path.join(mp, "stall")
files = {}   # name -> expected content
previous = {}  # name -> the content before the last change (to tell a lost change from garbage)
history = {}  # name -> the last operations on it
dirs = set()
counter = [0]
stats = {"ops": 0, "verified": 0, "mismatches": 0, "bad": 0, "eintr": 0, "hidden": 0, "short": 0}
eintr_mkdirs = []


def bad(msg):
    stats["bad"] += 1
    out("BAD " + msg)


def exists(path):
    try:
        os.lstat(path)
        return True
    except InterruptedError:
        return exists(path)
    except FileNotFoundError:
        return False


def content(name, version, size):
    seed = hashlib.sha256(("%s/%s/%d" % (cid, name, version)).encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def fresh(prefix):
    counter[0] += 1
    return "%s%d" % (prefix, counter[0])


def note(name, what):
    h = history.setdefault(name, [])
    h.append(what)
    del h[:-10]


def changed(name, new):
    previous[name] = files.get(name, b"")
    files[name] = new


def verify(name):
    path = os.path.join(home, name)
    with open(path, "rb") as f:
        got = f.read()
    want = files[name]
    if got != want:
        stats["mismatches"] += 1
        at = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))
        end = at
        while end < min(len(got), len(want)) and got[end] != want[end]:
            end += 1
        old = previous.get(name, b"")
        diagnosis = []
        region = got[at:end]
        if region and region.count(0) == len(region):
            diagnosis.append("the differing bytes are zeros")
        if old[at:end] == region and region:
            diagnosis.append("the differing bytes are the file's previous content")
        # Read again with the page cache of the file dropped: tells a cached page from the daemon's data.
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            with open(path, "rb") as f:
                again = f.read()
            diagnosis.append("after dropping the page cache: %s" % (
                "correct" if again == want else "still wrong" if again == got else "different again"))
        except OSError as e:
            diagnosis.append("re-read failed: errno %d" % e.errno)
        out("MISMATCH %s/%s: %d bytes read, %d expected, differ in [%d, %d): got %s, expected %s; %s; "
            "history: %s" % (cid, name, len(got), len(want), at, end, got[at:at + 8].hex(), want[at:at + 8].hex(),
                             "; ".join(diagnosis), " | ".join(history.get(name, []))))
    else:
        stats["verified"] += len(got)


def op_write():
    if len(files) >= 16:
        return op_unlink()
    name = fresh("f")
    data = content(name, 0, rnd.randint(1, 96 * 1024))
    with open(os.path.join(home, name), "wb") as f:
        at = 0
        while at < len(data):
            n = rnd.randint(1, 32 * 1024)
            f.write(data[at:at + n])
            at += n
    changed(name, data)
    note(name, "write %d" % len(data))
    verify(name)


def op_pwrite():
    if not files:
        return op_write()
    name = rnd.choice(sorted(files))
    old = files[name]
    off = rnd.randint(0, len(old))
    patch = content(name, counter[0] + 1, rnd.randint(1, 8192))
    counter[0] += 1
    fd = os.open(os.path.join(home, name), os.O_WRONLY)
    synced = False
    try:
        done = 0
        while done < len(patch):  # a write interrupted by a signal after some progress is short: go on
            n = os.pwrite(fd, patch[done:], off + done)
            if n < len(patch) - done:
                stats["short"] += 1
            done += n
        if rnd.random() < 0.3:
            os.fsync(fd)
            synced = True
    finally:
        os.close(fd)
    new = bytearray(old)
    if off + len(patch) > len(new):
        new.extend(b"\0" * (off + len(patch) - len(new)))
    new[off:off + len(patch)] = patch
    changed(name, bytes(new))
    note(name, "pwrite %d at %d%s" % (len(patch), off, " +fsync" if synced else ""))
    verify(name)


def op_truncate():
    if not files:
        return op_write()
    name = rnd.choice(sorted(files))
    size = rnd.randint(0, len(files[name]))
    try:
        os.truncate(os.path.join(home, name), size)
    except InterruptedError:
        note(name, "truncate %d: EINTR" % size)
        verify(name)  # not truncated: the content is still the old one
        raise
    changed(name, files[name][:size])
    note(name, "truncate %d" % size)
    verify(name)


def op_verify():
    if not files:
        return op_write()
    verify(rnd.choice(sorted(files)))


def op_rename():
    if not files:
        return op_write()
    name = rnd.choice(sorted(files))
    new = fresh("r")
    try:
        os.rename(os.path.join(home, name), os.path.join(home, new))
    except InterruptedError:
        if exists(os.path.join(home, new)) or not exists(os.path.join(home, name)):
            bad("rename %s -> %s failed with EINTR but happened" % (name, new))
        raise
    files[new] = files.pop(name)
    previous[new] = previous.pop(name, b"")
    history[new] = history.pop(name, []) + ["renamed from %s" % name]
    verify(new)


def op_unlink():
    if not files:
        return op_write()
    name = rnd.choice(sorted(files))
    try:
        os.unlink(os.path.join(home, name))
    except InterruptedError:
        if not exists(os.path.join(home, name)):
            bad("unlink %s failed with EINTR but happened" % name)
        raise
    del files[name]


def op_dir():
    if dirs and rnd.random() < 0.5:
        d = rnd.choice(sorted(dirs))
        try:
            os.rmdir(os.path.join(home, d))
        except InterruptedError:
            if not exists(os.path.join(home, d)):
                bad("rmdir %s failed with EINTR but happened" % d)
            raise
        dirs.discard(d)
    else:
        d = fresh("d")
        try:
            os.mkdir(os.path.join(home, d))
        except InterruptedError:
            if exists(os.path.join(home, d)):
                bad("mkdir %s failed with EINTR but happened" % d)
            raise
        dirs.add(d)


def op_list():
    listed = set(os.listdir(home))
    names = {n for n in listed if not n.startswith(".fuse_hidden")}
    stats["hidden"] += len(listed) - len(names)
    want = set(files) | dirs
    if names != want:
        bad("listdir %s: extra %s missing %s" % (cid, sorted(names - want), sorted(want - names)))
    for name in list(files)[:4]:
        size = os.stat(os.path.join(home, name)).st_size
        if size != len(files[name]):
            bad("stat %s/%s: size %d, expected %d" % (cid, name, size, len(files[name])))


def stall_stat():
    os.stat(os.path.join(stall, fresh("s")))


def stall_read():
    with open(os.path.join(stall, "file"), "rb") as f:
        got = f.read()
    if got != STALL_FILE:
        stats["mismatches"] += 1
        out("MISMATCH stall/file: %d bytes" % len(got))
    else:
        stats["verified"] += len(got)


def stall_write():
    with open(os.path.join(stall, fresh("w%s-" % cid)), "wb") as f:
        f.write(content("stall", counter[0], 4096))


def stall_mkdir():
    d = os.path.join(stall, fresh("d%s-" % cid))
    try:
        os.mkdir(d)
    except InterruptedError:
        eintr_mkdirs.append(d)  # must never appear, also once the stall is released
        raise


STALL_FILE = bytes((i * 7) % 251 for i in range(4096))
HEALTHY = [(op_write, 20), (op_pwrite, 15), (op_verify, 20), (op_truncate, 5), (op_rename, 8), (op_unlink, 6),
           (op_dir, 6), (op_list, 10)]
STALLS = [stall_stat, stall_read, stall_write, stall_mkdir]
# What a stalled operation may answer: done, the timeout errno, (a stat of a name nobody made) ENOENT, or EINTR
# (interrupted by a signal: not done).
STALL_OK = {0, errno.EIO, errno.ENOENT, errno.EINTR}

os.mkdir(home)
while not stop.is_set():
    if rnd.randint(1, 100) <= stall_percent:
        fn = rnd.choice(STALLS)
        healthy = False
    else:
        fn = rnd.choices([h for h, _ in HEALTHY], [w for _, w in HEALTHY])[0]
        healthy = True
    t = time.monotonic()
    err = 0
    try:
        fn()
    except OSError as e:
        err = e.errno
    ms = (time.monotonic() - t) * 1000
    stats["ops"] += 1
    stats["eintr"] += err == errno.EINTR
    name = fn.__name__
    out("O %s %d %.1f" % (name, err, ms))
    if (healthy and err not in (0, errno.EINTR)) or (not healthy and err not in STALL_OK):
        bad("%s errno %d (%s) after %.1f ms" % (name, err, errno.errorcode.get(err, "?"), ms))

for d in eintr_mkdirs:
    if exists(d):
        bad("mkdir %s failed with EINTR but the directory exists" % d)
out("DONE ops=%d verified=%d mismatches=%d bad=%d eintr=%d hidden=%d short=%d" % (
    stats["ops"], stats["verified"], stats["mismatches"], stats["bad"], stats["eintr"], stats["hidden"],
    stats["short"]))
