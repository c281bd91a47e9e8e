/*
 * One system call on a FUSE mount, interrupted by a signal: the edge tests' way to see exactly what a caller
 * gets when its request is interrupted (no libc or runtime retries, no SA_RESTART).
 *
 *   sigcall <op> <signal_after_ms> <path> [path2]
 *   op: mkdir | unlink | rename | stat | read
 *
 * SIGALRM, with a handler installed without SA_RESTART, arrives <signal_after_ms> after the call starts (for
 * read, after the file was opened). Prints: rc=<rc> errno=<errno> ms=<elapsed> signals=<count>
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t signals;

static void on_alarm(int sig) {
    (void) sig;
    signals++;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000.0 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: sigcall op signal_after_ms path [path2]\n");
        return 2;
    }
    const char *op = argv[1];
    long after = atol(argv[2]);
    const char *path = argv[3];
    const char *path2 = argc > 4 ? argv[4] : "";

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = 0; /* no SA_RESTART: an interrupted call returns EINTR to us */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);

    int fd = -1;
    if (strcmp(op, "read") == 0) {
        fd = open(path, O_RDONLY);
        if (fd < 0) {
            printf("rc=-1 errno=%d ms=0 signals=0 stage=open\n", errno);
            return 0;
        }
    }
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_sec = after / 1000;
    it.it_value.tv_usec = (after % 1000) * 1000;
    double t0 = now_ms();
    setitimer(ITIMER_REAL, &it, NULL);

    long rc;
    char buf[4096];
    struct stat st;
    if (strcmp(op, "mkdir") == 0) {
        rc = mkdir(path, 0755);
    } else if (strcmp(op, "unlink") == 0) {
        rc = unlink(path);
    } else if (strcmp(op, "rename") == 0) {
        rc = rename(path, path2);
    } else if (strcmp(op, "stat") == 0) {
        rc = stat(path, &st);
    } else if (strcmp(op, "read") == 0) {
        rc = read(fd, buf, sizeof buf);
    } else {
        fprintf(stderr, "unknown op %s\n", op);
        return 2;
    }
    int e = rc < 0 ? errno : 0;
    double ms = now_ms() - t0;
    printf("rc=%ld errno=%d ms=%.1f signals=%d\n", rc, e, ms, (int) signals);
    return 0;
}
