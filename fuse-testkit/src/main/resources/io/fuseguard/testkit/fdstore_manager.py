#!/usr/bin/env python3
"""The part of systemd a supervised mount relies on, for tests on machines where systemd is not pid 1.

    fdstore_manager.py NOTIFY_SOCKET_PATH -- COMMAND...

Runs COMMAND as a Type=notify service with FileDescriptorStoreMax=4 and Restart=always would:
  * its environment has NOTIFY_SOCKET and FDSTORE=4; its messages are read from that datagram socket;
  * FDSTORE=1 + FDNAME=x with descriptors attached: kept under that name (a new one replaces an old one of the
    same name); FDSTOREREMOVE=1 + FDNAME=x: dropped;
  * when the main process exits, its leftover descendants get SIGKILL after 10 s (they are re-parented here,
    as to systemd, by PR_SET_CHILD_SUBREAPER), and the command starts again after 100 ms with the kept descriptors
    as 3, 4, ... and LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set, as systemd passes its store back.
Commands on standard input: "kill" (SIGKILL to the main process), "stop" (SIGTERM, no restart, then exit),
"store" (prints STORE name,name,...). Prints STARTED pid, NOTIFY <message lines>, STORED name, REMOVED name,
EXITED pid status, STOPPED status. The command's own output goes to this process's standard output.
"""
import ctypes
import os
import select
import signal
import socket
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    path = sys.argv[1]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    store = []  # [(name, fd)]
    stopping = False

    def start():
        pr, pw = os.pipe()  # the child waits for its pid to be known, as systemd sets LISTEN_PID before exec
        pid = os.fork()
        if pid == 0:
            os.close(pw)
            os.read(pr, 1)
            high = [os.dup(fd) for _, fd in store]  # out of the way of 3.. first
            for i, fd in enumerate(high):
                os.dup2(fd, 3 + i, inheritable=True)
            env = dict(os.environ)
            env["NOTIFY_SOCKET"] = path
            env["FDSTORE"] = "4"
            if store:
                env["LISTEN_FDS"] = str(len(store))
                env["LISTEN_FDNAMES"] = ":".join(n for n, _ in store)
                env["LISTEN_PID"] = str(os.getpid())
            os.closerange(3 + len(store), 1024)
            os.execvpe(cmd[0], cmd, env)
        os.close(pr)
        os.write(pw, b"x")
        os.close(pw)
        say("STARTED %d" % pid)
        return pid

    def reap_others(limit):
        end = time.time() + limit
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                if time.time() > end:
                    for p in children():
                        os.kill(p, signal.SIGKILL)
                    end = time.time() + 3600
                time.sleep(0.02)
            else:
                say("REAPED %d %d" % (pid, status))

    def children():
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid():
                            out.append(int(d))
                except (OSError, IndexError, ValueError):
                    pass
        return out

    main_pid = start()
    while True:
        r, _, _ = select.select([sock, sys.stdin], [], [], 0.02)
        if sock in r:
            msg, fds, _, _ = socket.recv_fds(sock, 4096, 16)
            text = msg.decode()
            fields = dict(l.split("=", 1) for l in text.splitlines() if "=" in l)
            say("NOTIFY " + text.replace("\n", " ").strip())
            name = fields.get("FDNAME", "stored")
            if fields.get("FDSTORE") == "1":
                for n, fd in [x for x in store if x[0] == name]:
                    os.close(fd)
                store = [x for x in store if x[0] != name] + [(name, fd) for fd in fds]
                say("STORED " + name)
            elif fields.get("FDSTOREREMOVE") == "1":
                for n, fd in [x for x in store if x[0] == name]:
                    os.close(fd)
                store = [x for x in store if x[0] != name]
                say("REMOVED " + name)
            else:
                for fd in fds:
                    os.close(fd)
        if sys.stdin in r:
            line = sys.stdin.readline()
            if not line:
                line = "stop"
            line = line.strip()
            if line == "kill":
                os.kill(main_pid, signal.SIGKILL)
            elif line == "stop":
                stopping = True
                os.kill(main_pid, signal.SIGTERM)
            elif line == "store":
                say("STORE " + ",".join(n for n, _ in store))
        pid, status = os.waitpid(main_pid, os.WNOHANG)
        if pid == main_pid:
            say("EXITED %d %d" % (pid, status))
            reap_others(10)
            if stopping:
                say("STOPPED %d" % status)
                say("STORE " + ",".join(n for n, _ in store))
                return
            time.sleep(0.1)
            main_pid = start()


if __name__ == "__main__":
    main()
