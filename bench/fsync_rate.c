/* fsync_rate.c - the in-run disk baseline for bench/run.sh: how many small
 * (100-byte) write + fdatasync pairs one thread completes per second on the
 * file system of the given directory. Divide insert ops/s by this number to
 * get "inserts per fsync", which shows how well the server groups commits.
 * Usage: fsync_rate DIR [SECONDS]. Prints one JSON line. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    char path[4096];
    char buf[100];
    int seconds = argc > 2 ? atoi(argv[2]) : 3;

    if (argc < 2 || seconds < 1) {
        fprintf(stderr, "usage: %s DIR [SECONDS]\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof path, "%s/fsync_rate.tmp", argv[1]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    memset(buf, 'f', sizeof buf);
    long n = 0;
    double t0 = now_s();
    double t1 = t0;

    while (t1 - t0 < seconds) {
        if (pwrite(fd, buf, sizeof buf, (off_t)(n % 1024) * (off_t)sizeof buf) != (ssize_t)sizeof buf ||
            fdatasync(fd) != 0) {
            perror("write/fdatasync");
            return 1;
        }
        n++;
        t1 = now_s();
    }
    close(fd);
    unlink(path);
    printf("{\"fsyncs\":%ld,\"seconds\":%.2f,\"fsyncs_per_s\":%.1f}\n", n, t1 - t0, (double)n / (t1 - t0));
    return 0;
}
