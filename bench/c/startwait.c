/*
 * startwait: starts a filesystem daemon and measures process start -> mount answering (bench/run).
 *
 *   startwait TIMEOUT_MS MOUNTPOINT LOGFILE COMMAND [ARGS...]
 *
 * Forks and execs COMMAND in a session of its own (terminal signals go to the runner, which unmounts in
 * order), stdout and stderr appended to LOGFILE. Polls stat(MOUNTPOINT) every 100 us until it succeeds
 * with another device than the directory had before: the kernel sent GETATTR for the mount's root and
 * the daemon answered it. Then prints "READY <pid> <milliseconds>" (or "FAILED <pid> <reason>") on
 * stdout, stays the daemon's parent until it exits, and exits with its status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double elapsed_ms(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1e3 + (t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int exit_status(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char *argv[]) {
    if (argc < 5) {
        fprintf(stderr, "usage: startwait TIMEOUT_MS MOUNTPOINT LOGFILE COMMAND [ARGS...]\n");
        return 2;
    }
    double timeout = atof(argv[1]);
    const char *mnt = argv[2];
    struct stat before, st;
    if (stat(mnt, &before) != 0) {
        perror(mnt);
        return 2;
    }
    int log = open(argv[3], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (log < 0) {
        perror(argv[3]);
        return 2;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        setsid();
        dup2(log, 1);
        dup2(log, 2);
        close(log);
        execvp(argv[4], argv + 4);
        perror(argv[4]);
        _exit(127);
    }
    close(log);
    int status;
    for (;;) {
        if (stat(mnt, &st) == 0 && st.st_dev != before.st_dev) {
            printf("READY %d %.3f\n", (int) pid, elapsed_ms(&t0));
            break;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            printf("FAILED %d exited with %d before the mount answered\n", (int) pid, exit_status(status));
            fflush(stdout);
            return 1;
        }
        if (elapsed_ms(&t0) > timeout) {
            printf("FAILED %d no answer within %.0f ms\n", (int) pid, timeout);
            break;
        }
        struct timespec pause = {0, 100000};
        nanosleep(&pause, NULL);
    }
    fflush(stdout);
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return 1;
        }
    }
    return exit_status(status);
}
