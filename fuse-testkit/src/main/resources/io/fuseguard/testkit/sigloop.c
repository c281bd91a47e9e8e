/*
 * File calls on a FUSE mount while a timer signal arrives every few milliseconds, the way a profiler, a JVM or a
 * Go runtime signals its threads: the handler is installed WITH SA_RESTART, so on any local filesystem none of
 * these calls ever fails with EINTR. Counts every failure by errno.
 *
 *   sigloop <dir> <seconds> <interval_us>
 *
 * Each loop: mkdir d, create f (write 4 KiB), stat f, read f, rename f -> g, unlink g, rmdir d. Prints:
 *   loops=<n> signals=<n> eintr=<n> errors=<n> eintr_done=<n> first=<op>:<errno>
 * where eintr_done counts calls reported EINTR whose change was found done afterwards.
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
static long eintr, errors, eintr_done;
static char first[128];

static void on_alarm(int sig) {
    (void) sig;
    signals++;
}

static void failed(const char *op, int e) {
    if (e == EINTR) {
        eintr++;
    } else {
        errors++;
    }
    if (!first[0]) {
        snprintf(first, sizeof first, "%s:%d", op, e);
    }
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: sigloop dir seconds interval_us\n");
        return 2;
    }
    const char *dir = argv[1];
    double seconds = atof(argv[2]);
    long interval = atol(argv[3]);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it;
    memset(&it, 0, sizeof it);
    it.it_value.tv_usec = interval;
    it.it_interval.tv_usec = interval;
    setitimer(ITIMER_REAL, &it, NULL);

    char d[4096], f[4096], g[4096], buf[4096];
    memset(buf, 'x', sizeof buf);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long loops = 0;
    pid_t me = getpid();
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 >= seconds) {
            break;
        }
        snprintf(d, sizeof d, "%s/d%d_%ld", dir, me, loops);
        snprintf(f, sizeof f, "%s/f%d_%ld", dir, me, loops);
        snprintf(g, sizeof g, "%s/g%d_%ld", dir, me, loops);
        if (mkdir(d, 0755) < 0) {
            failed("mkdir", errno);
            if (errno == EINTR && exists(d)) eintr_done++;
        }
        int fd = open(f, O_CREAT | O_WRONLY | O_TRUNC, 0644);
        if (fd < 0) {
            failed("create", errno);
        } else {
            if (write(fd, buf, sizeof buf) != (ssize_t) sizeof buf) failed("write", errno);
            if (close(fd) < 0) failed("close", errno);
        }
        struct stat st;
        if (stat(f, &st) < 0) failed("stat", errno);
        fd = open(f, O_RDONLY);
        if (fd < 0) {
            failed("open", errno);
        } else {
            if (read(fd, buf, sizeof buf) < 0) failed("read", errno);
            close(fd);
        }
        if (rename(f, g) < 0) {
            failed("rename", errno);
            if (errno == EINTR && exists(g)) eintr_done++;
        }
        if (unlink(g) < 0 && unlink(f) < 0) {
            failed("unlink", errno);
        }
        if (rmdir(d) < 0) {
            failed("rmdir", errno);
            if (errno == EINTR && !exists(d)) eintr_done++;
        }
        loops++;
    }
    printf("loops=%ld signals=%d eintr=%ld errors=%ld eintr_done=%ld first=%s\n", loops, (int) signals, eintr,
           errors, eintr_done, first[0] ? first : "-");
    return 0;
}
