"""A write through an open descriptor while its directory is renamed and a new file takes the old name.

  write_rename.py writer FILE SECONDS     pwrite 4 KiB blocks of b'W' through one descriptor of FILE, in a loop
  write_rename.py renamer DIR NEWDIR N    N times: rename DIR to NEWDIR.<i>, mkdir DIR, create DIR/a with b'N'

Prints one line of key=value counts. The writer's bytes must all land in the file it opened (now under a new
name), none in a new DIR/a, and no write may fail.
"""
import os
import sys
import time


def writer(path, seconds):
    fd = os.open(path, os.O_WRONLY)
    end = time.monotonic() + seconds
    blocks = errors = 0
    first = "-"
    block = b"W" * 4096
    while time.monotonic() < end:
        try:
            os.pwrite(fd, block, blocks * 4096)
            blocks += 1
        except OSError as e:
            errors += 1
            if first == "-":
                first = "errno:%d" % e.errno
    os.close(fd)
    print("blocks=%d errors=%d first=%s" % (blocks, errors, first), flush=True)


def renamer(d, newdir, n):
    done = errors = 0
    for i in range(n):
        try:
            os.rename(d, "%s.%d" % (newdir, i))
            os.mkdir(d)
            with open(os.path.join(d, "a"), "wb") as f:
                f.write(b"N" * 100)
            done += 1
            time.sleep(0.02)
        except OSError as e:
            errors += 1
            print("renamer error %s" % e, file=sys.stderr)
    print("renames=%d errors=%d" % (done, errors), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "writer":
        writer(sys.argv[2], float(sys.argv[3]))
    else:
        renamer(sys.argv[2], sys.argv[3], int(sys.argv[4]))
