/* The agent's schedule: when each kind of backup is next due.
 *
 * A schedule is either an interval ("7d", "every 6h", "90s": due that long
 * after the reference backup) or a calendar slot in the agent's local time
 * ("hourly [:MM]", "daily [HH:MM]", "weekly DOW [HH:MM]": due at the first
 * slot after the reference backup), or "off". The reference is the newest
 * backup that makes this kind unnecessary (catalog_agent.c decides which), so
 * the schedule survives restarts of the agent: it is computed from the
 * backups that exist, not from a timer. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog_schedule.h"

int catalog_duration_parse(const char *text, long *secs)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || v < 0) {
        return -1;
    }
    long unit = 1;
    if (*end != '\0') {
        if (end[1] != '\0') {
            return -1;
        }
        switch (*end) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        default: return -1;
        }
    }
    if (v > 10L * 366 * 86400 / unit) {
        return -1;
    }
    *secs = v * unit;
    return 0;
}

static int parse_hhmm(const char *s, int *hour, int *min)
{
    char tail;
    if (sscanf(s, "%d:%d%c", hour, min, &tail) != 2 || *hour < 0 || *hour > 23 || *min < 0 || *min > 59) {
        return -1;
    }
    return 0;
}

static int parse_wday(const char *s)
{
    static const char *const names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    for (int i = 0; i < 7; i++) {
        if (strncasecmp(s, names[i], 3) == 0) {
            return i;
        }
    }
    return -1;
}

int catalog_sched_parse(const char *text, struct catalog_sched *s, char *errbuf, size_t errlen)
{
    memset(s, 0, sizeof *s);
    snprintf(s->text, sizeof s->text, "%s", text);
    char words[3][32] = {"", "", ""};
    int n = sscanf(text, "%31s %31s %31s", words[0], words[1], words[2]);
    const char *bad = NULL;
    if (n <= 0) {
        bad = "is empty";
    } else if (strcmp(words[0], "off") == 0 && n == 1) {
        s->kind = SCHED_OFF;
    } else if (strcmp(words[0], "every") == 0 || isdigit((unsigned char)words[0][0])) {
        const char *dur = strcmp(words[0], "every") == 0 ? words[1] : words[0];
        int n_want = strcmp(words[0], "every") == 0 ? 2 : 1;
        s->kind = SCHED_EVERY;
        if (n != n_want || catalog_duration_parse(dur, &s->every_s) != 0 || s->every_s < 1) {
            bad = "needs a duration such as 90s, 15m, 6h, 1d, 1w";
        }
    } else if (strcmp(words[0], "hourly") == 0) {
        s->kind = SCHED_HOURLY;
        char tail;
        if (n == 2 && (sscanf(words[1], ":%d%c", &s->min, &tail) != 1 || s->min < 0 || s->min > 59)) {
            bad = "takes an optional :MM";
        } else if (n > 2) {
            bad = "takes an optional :MM";
        }
    } else if (strcmp(words[0], "daily") == 0) {
        s->kind = SCHED_DAILY;
        if ((n == 2 && parse_hhmm(words[1], &s->hour, &s->min) != 0) || n > 2) {
            bad = "takes an optional HH:MM";
        }
    } else if (strcmp(words[0], "weekly") == 0) {
        s->kind = SCHED_WEEKLY;
        s->wday = n >= 2 ? parse_wday(words[1]) : -1;
        if (s->wday < 0 || (n == 3 && parse_hhmm(words[2], &s->hour, &s->min) != 0)) {
            bad = "needs a day (Sun..Sat) and an optional HH:MM";
        }
    } else {
        bad = "is not a duration, hourly, daily, weekly or off";
    }
    if (bad != NULL) {
        snprintf(errbuf, errlen, "schedule '%.60s' %s", text, bad);
        return -1;
    }
    return 0;
}

time_t catalog_sched_next(const struct catalog_sched *s, time_t ref)
{
    if (s->kind == SCHED_OFF) {
        return (time_t)-1;
    }
    if (s->kind == SCHED_EVERY) {
        return ref + s->every_s;
    }
    struct tm tm;
    localtime_r(&ref, &tm);
    tm.tm_sec = 0;
    tm.tm_min = s->min;
    tm.tm_isdst = -1;
    if (s->kind != SCHED_HOURLY) {
        tm.tm_hour = s->hour;
    }
    if (s->kind == SCHED_WEEKLY) {
        tm.tm_mday += (s->wday - tm.tm_wday + 7) % 7;
    }
    time_t t = mktime(&tm);
    /* Step by the period until strictly after ref; mktime normalises the
     * overflowing field (and daylight-saving changes). */
    for (int i = 0; t <= ref && i < 3; i++) {
        if (s->kind == SCHED_HOURLY) {
            tm.tm_hour += 1;
        } else {
            tm.tm_mday += s->kind == SCHED_DAILY ? 1 : 7;
        }
        tm.tm_isdst = -1;
        t = mktime(&tm);
    }
    return t;
}
