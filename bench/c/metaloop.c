/*
 * The metadata loop of bench/engine-ab: in DIR, PASSES times, create N empty files (open O_CREAT|O_EXCL + close),
 * wait WAIT_MS, lstat each (every cached entry expired: one LOOKUP each), wait WAIT_MS, unlink each. Prints one
 * line per pass with each phase's rate. A C client, so the caller costs the machine almost nothing and never asks
 * for a birth time (Java's stat does).
 *
 *   metaloop DIR N PASSES WAIT_MS
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void name(char *p, size_t len, const char *dir, int i) {
    snprintf(p, len, "%s/f%06d", dir, i);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: metaloop DIR N PASSES WAIT_MS\n");
        return 2;
    }
    const char *dir = argv[1];
    int n = atoi(argv[2]), passes = atoi(argv[3]), wait_us = atoi(argv[4]) * 1000;
    char p[4096];
    struct stat st;
    if (mkdir(dir, 0755) != 0) {
        perror(dir);
        return 1;
    }
    for (int k = 0; k < passes; k++) {
        double t0 = now();
        for (int i = 0; i < n; i++) {
            name(p, sizeof p, dir, i);
            int fd = open(p, O_CREAT | O_EXCL | O_WRONLY, 0644);
            if (fd < 0 || close(fd) != 0) {
                perror(p);
                return 1;
            }
        }
        double create = n / (now() - t0);
        usleep(wait_us);
        t0 = now();
        for (int i = 0; i < n; i++) {
            name(p, sizeof p, dir, i);
            if (lstat(p, &st) != 0) {
                perror(p);
                return 1;
            }
        }
        double stat_rate = n / (now() - t0);
        usleep(wait_us);
        t0 = now();
        for (int i = 0; i < n; i++) {
            name(p, sizeof p, dir, i);
            if (unlink(p) != 0) {
                perror(p);
                return 1;
            }
        }
        printf("pass %d create %.0f stat %.0f unlink %.0f\n", k, create, stat_rate, n / (now() - t0));
        fflush(stdout);
    }
    return rmdir(dir) == 0 ? 0 : 1;
}
