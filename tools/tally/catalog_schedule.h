/* The backup agent's schedule syntax and arithmetic (catalog_schedule.c). */
#ifndef TALLY_CATALOG_SCHEDULE_H
#define TALLY_CATALOG_SCHEDULE_H

#include <stddef.h>
#include <time.h>

enum sched_kind {
    SCHED_OFF,      /* never */
    SCHED_EVERY,    /* every_s after the reference */
    SCHED_HOURLY,   /* at minute min of every hour */
    SCHED_DAILY,    /* at hour:min every day */
    SCHED_WEEKLY,   /* at hour:min on day wday (0 = Sunday) */
};

struct catalog_sched {
    enum sched_kind kind;
    long every_s;
    int wday, hour, min;
    char text[64];          /* as given, for the status file */
};

/* "90s", "15m", "6h", "1d", "1w" or a number of seconds into *secs. */
int catalog_duration_parse(const char *text, long *secs);

/* "off", "DURATION", "every DURATION", "hourly [:MM]", "daily [HH:MM]",
 * "weekly DOW [HH:MM]" into s; -1 with a message when malformed. */
int catalog_sched_parse(const char *text, struct catalog_sched *s, char *errbuf, size_t errlen);

/* The first due time after ref (seconds since the epoch); -1 for "off". */
time_t catalog_sched_next(const struct catalog_sched *s, time_t ref);

#endif
