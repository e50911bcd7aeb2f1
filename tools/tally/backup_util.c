/* Small helpers of the backup files: clocks, time formats, progress.
 *
 * Times in manifests and ids are UTC; progress lines go to stderr only when
 * it is a terminal, so logs and scripts see just the one-line summary. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "backup_int.h"

int64_t backup_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void backup_format_iso(int64_t ms, char *out, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%s.%03dZ", base, (int)(ms % 1000));
}

void backup_format_compact(int64_t ms, char *out, size_t len)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, len, "%Y%m%dT%H%M%SZ", &tm);
}

bool backup_progress_enabled(void)
{
    return isatty(2) == 1;
}
