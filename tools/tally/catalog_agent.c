/* `tally backup agent`: a long-running process that takes backups on a
 * schedule, applies retention, keeps the catalog consolidated and writes a
 * status file.
 *
 * One loop, one thread: consolidate when due; pick the most urgent backup
 * that is due (full before diff before incr); run it with backup_run; after
 * a success, apply retention. When a kind is due is computed from the
 * backups on disk (catalog_schedule.c), so a restarted agent picks up where
 * it left off. SIGTERM and SIGINT are blocked and only polled between steps
 * (sigtimedwait is also how the agent sleeps): an in-flight backup always
 * runs to its end (complete, or failed with nothing valid-looking left by
 * backup_run), then the agent writes its status and exits 0. STATE holds
 * status.json (rewritten atomically after each step) and agent.lock (one
 * agent per state folder). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "catalog.h"
#include "catalog_impl.h"
#include "catalog_schedule.h"

enum { KIND_FULL, KIND_DIFF, KIND_INCR, N_KINDS };

static const char *const KIND_NAME[N_KINDS] = {"full", "diff", "incr"};
static const enum backup_type KIND_TYPE[N_KINDS] = {BACKUP_FULL, BACKUP_DIFF, BACKUP_INCR};

struct kind_state {
    struct catalog_sched sched;
    time_t last_failure;            /* 0: none since start */
    char last_error[1024];
    char last_ok_id[CATALOG_ID_MAX];
    char last_ok_time[40];
    time_t next;                    /* -1: off */
};

struct agent {
    const char *uri, *dest, *state, *redis, *spool, *host;
    bool from_primary;
    int keep_full;                  /* 0: no retention */
    long retry_s, consolidate_s;
    int timeout_s;
    struct kind_state k[N_KINDS];
    bool is_full_forced;            /* a slice said a full backup is needed */
    char activity[64];
    char catalog_error[512];
    char catalog_time[40];
    sigset_t stop_signals;
    int stop_signal;
};

/* The start time encoded in an id "<yyyymmddThhmmssZ>-...", or -1. */
static time_t id_time(const char *id)
{
    struct tm tm = {0};
    if (sscanf(id, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec) != 6) {
        return -1;
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

static time_t manifest_time(const struct catalog_manifest *m)
{
    time_t t = id_time(m->id);
    return t >= 0 ? t : catalog_parse_iso(catalog_str(m->doc, "end_wall"));
}

/* When each kind is next due. References: full <- the newest full; diff <-
 * the newest full or diff (a full makes a diff unnecessary); incr <- the
 * newest backup of any kind. Without a full nothing but a full is due; a
 * failure waits retry_s (or the period, when shorter) before a new try. */
static void compute_next(struct agent *a, const struct catalog_manifest *m, int n, time_t now)
{
    time_t newest[N_KINDS] = {-1, -1, -1};
    for (int k = 0; k < N_KINDS; k++) {
        a->k[k].last_ok_id[0] = '\0';
        a->k[k].last_ok_time[0] = '\0';
    }
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < N_KINDS; k++) {
            if (strcmp(m[i].type, KIND_NAME[k]) == 0) {
                time_t t = manifest_time(&m[i]);
                newest[k] = t > newest[k] ? t : newest[k];
                snprintf(a->k[k].last_ok_id, sizeof a->k[k].last_ok_id, "%s", m[i].id);
                catalog_time_iso(t, a->k[k].last_ok_time, sizeof a->k[k].last_ok_time);
            }
        }
    }
    time_t ref[N_KINDS];
    ref[KIND_FULL] = newest[KIND_FULL];
    ref[KIND_DIFF] = newest[KIND_DIFF] > newest[KIND_FULL] ? newest[KIND_DIFF] : newest[KIND_FULL];
    ref[KIND_INCR] = ref[KIND_DIFF] > newest[KIND_INCR] ? ref[KIND_DIFF] : newest[KIND_INCR];
    for (int k = 0; k < N_KINDS; k++) {
        struct kind_state *ks = &a->k[k];
        if (ks->sched.kind == SCHED_OFF) {
            ks->next = k == KIND_FULL && (newest[KIND_FULL] < 0 || a->is_full_forced) ? now : -1;
            continue;
        }
        if (newest[KIND_FULL] < 0) {
            ks->next = k == KIND_FULL ? now : -1;
        } else if (k == KIND_FULL && a->is_full_forced) {
            ks->next = now;
        } else {
            ks->next = catalog_sched_next(&ks->sched, ref[k]);
        }
        if (ks->next >= 0 && ks->last_failure > 0) {
            long wait = ks->sched.kind == SCHED_EVERY && ks->sched.every_s < a->retry_s ? ks->sched.every_s
                                                                                          : a->retry_s;
            if (ks->next < ks->last_failure + wait) {
                ks->next = ks->last_failure + wait;
            }
        }
    }
}

static int write_status(struct agent *a)
{
    char now[40];
    catalog_now_iso(now, sizeof now);
    bson_t doc = BSON_INITIALIZER, sub, kind;
    BSON_APPEND_INT64(&doc, "pid", (int64_t)getpid());
    BSON_APPEND_UTF8(&doc, "state", a->activity);
    BSON_APPEND_UTF8(&doc, "updated", now);
    BSON_APPEND_UTF8(&doc, "destination", a->dest);
    BSON_APPEND_INT32(&doc, "keep_full", a->keep_full);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "schedule", &sub);
    for (int k = 0; k < N_KINDS; k++) {
        BSON_APPEND_UTF8(&sub, KIND_NAME[k], a->k[k].sched.text);
    }
    bson_append_document_end(&doc, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "next", &sub);
    for (int k = 0; k < N_KINDS; k++) {
        char when[40] = "off";
        if (a->k[k].next >= 0) {
            catalog_time_iso(a->k[k].next, when, sizeof when);
        }
        BSON_APPEND_UTF8(&sub, KIND_NAME[k], when);
    }
    bson_append_document_end(&doc, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "last_success", &sub);
    for (int k = 0; k < N_KINDS; k++) {
        if (a->k[k].last_ok_id[0] != '\0') {
            BSON_APPEND_DOCUMENT_BEGIN(&sub, KIND_NAME[k], &kind);
            BSON_APPEND_UTF8(&kind, "id", a->k[k].last_ok_id);
            BSON_APPEND_UTF8(&kind, "time", a->k[k].last_ok_time);
            bson_append_document_end(&sub, &kind);
        }
    }
    bson_append_document_end(&doc, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "last_failure", &sub);
    for (int k = 0; k < N_KINDS; k++) {
        if (a->k[k].last_failure > 0) {
            char when[40];
            catalog_time_iso(a->k[k].last_failure, when, sizeof when);
            BSON_APPEND_DOCUMENT_BEGIN(&sub, KIND_NAME[k], &kind);
            BSON_APPEND_UTF8(&kind, "time", when);
            BSON_APPEND_UTF8(&kind, "error", a->k[k].last_error);
            bson_append_document_end(&sub, &kind);
        }
    }
    bson_append_document_end(&doc, &sub);
    BSON_APPEND_DOCUMENT_BEGIN(&doc, "catalog", &sub);
    BSON_APPEND_BOOL(&sub, "ok", a->catalog_error[0] == '\0');
    BSON_APPEND_UTF8(&sub, "error", a->catalog_error);
    BSON_APPEND_UTF8(&sub, "time", a->catalog_time);
    bson_append_document_end(&doc, &sub);
    size_t len;
    char *json = bson_as_relaxed_extended_json(&doc, &len);
    bson_destroy(&doc);
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/.status.json.tmp", a->state);
    snprintf(path, sizeof path, "%s/status.json", a->state);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = -1;
    if (fd >= 0) {
        bool is_ok = write(fd, json, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
        close(fd);
        rc = is_ok && rename(tmp, path) == 0 ? 0 : -1;
    }
    if (rc != 0) {
        fprintf(stderr, "tally: agent: cannot write %s: %s\n", path, strerror(errno));
    }
    bson_free(json);
    return rc;
}

/* Sleeps up to secs; true when a stop signal arrived (now or before). */
static bool wait_stop(struct agent *a, long secs)
{
    if (a->stop_signal != 0) {
        return true;
    }
    struct timespec ts = {.tv_sec = secs > 0 ? secs : 0};
    siginfo_t info;
    int sig = sigtimedwait(&a->stop_signals, &info, &ts);
    if (sig > 0) {
        a->stop_signal = sig;
        fprintf(stderr, "tally: agent: signal %d: stopping (no backup is running)\n", sig);
        return true;
    }
    return false;
}

static void consolidate(struct agent *a)
{
    char spool[PATH_MAX];
    if (a->spool == NULL) {
        snprintf(spool, sizeof spool, "%s/%s", a->dest, CATALOG_SPOOL_NAME);
    }
    struct catalog_target t = {.uri = a->uri, .redis_url = a->redis, .spool_dir = a->spool ? a->spool : spool,
                               .dest = a->dest, .timeout_ms = 5000, .is_quiet = true};
    struct catalog_counts c;
    char errbuf[512];
    catalog_now_iso(a->catalog_time, sizeof a->catalog_time);
    if (catalog_consolidate(&t, &c, errbuf, sizeof errbuf) != 0) {
        /* Said once per distinct problem: it repeats every pass. */
        if (strcmp(errbuf, a->catalog_error) != 0) {
            fprintf(stderr, "tally: agent: catalog not consolidated: %s\n", errbuf);
        }
        snprintf(a->catalog_error, sizeof a->catalog_error, "%s", errbuf);
        return;
    }
    if (a->catalog_error[0] != '\0') {
        fprintf(stderr, "tally: agent: catalog consolidated again\n");
    }
    a->catalog_error[0] = '\0';
    if (c.n_redis + c.n_spool + c.n_added + c.n_missing > 0) {
        fprintf(stderr, "tally: agent: catalog: %d from Redis, %d from the spool, %d manifests added, %d marked "
                "missing\n", c.n_redis, c.n_spool, c.n_added, c.n_missing);
    }
}

static void run_backup(struct agent *a, int k)
{
    struct backup_options o = {
        .type = KIND_TYPE[k],
        .uri = a->uri,
        .dest = a->dest,
        .redis_url = a->redis ? a->redis : "",
        .host = a->host,
        .from_primary = a->from_primary,
        .timeout_s = a->timeout_s,
    };
    struct backup_result res;
    struct backup_error err = {{0}};
    snprintf(a->activity, sizeof a->activity, "running %s", KIND_NAME[k]);
    write_status(a);
    fprintf(stderr, "tally: agent: starting the scheduled %s backup\n", KIND_NAME[k]);
    if (backup_run(&o, &res, &err) == 0) {
        fprintf(stderr, "tally: agent: %s backup %s done (%lld bytes stored)\n", KIND_NAME[k], res.id,
                (long long)res.bytes_stored);
        a->k[k].last_failure = 0;
        if (k == KIND_FULL) {
            a->is_full_forced = false;
        }
        if (a->keep_full > 0) {
            char errbuf[512];
            if (catalog_retention_apply(a->dest, a->keep_full, errbuf, sizeof errbuf) < 0) {
                fprintf(stderr, "tally: agent: retention: %s\n", errbuf);
            }
        }
    } else {
        fprintf(stderr, "tally: agent: %s backup failed: %s\n", KIND_NAME[k], err.msg);
        a->k[k].last_failure = time(NULL);
        snprintf(a->k[k].last_error, sizeof a->k[k].last_error, "%s", err.msg);
        /* A slice whose start left the oplog can only be fixed by a full. */
        if (k != KIND_FULL && strstr(err.msg, "full backup") != NULL) {
            a->is_full_forced = true;
        }
    }
    snprintf(a->activity, sizeof a->activity, "idle");
}

static int lock_state(const char *state)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/agent.lock", state);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, "tally: backup agent: %s: %s\n", path,
                fd < 0 ? strerror(errno) : "another agent is running with this --state folder");
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

static int parse_agent(int argc, char **argv, struct agent *a)
{
    const char *sched[N_KINDS] = {NULL, NULL, NULL}, *every[N_KINDS] = {NULL, NULL, NULL};
    const char *keep = NULL, *retry = NULL, *cons = NULL, *timeout = NULL;
    const struct catalog_opt opts[] = {
        {"--uri", &a->uri, NULL},         {"--to", &a->dest, NULL},
        {"--state", &a->state, NULL},     {"--redis", &a->redis, NULL},
        {"--spool", &a->spool, NULL},     {"--host", &a->host, NULL},
        {"--from-primary", NULL, &a->from_primary},
        {"--full", &sched[0], NULL},      {"--diff", &sched[1], NULL},
        {"--incr", &sched[2], NULL},      {"--full-every", &every[0], NULL},
        {"--diff-every", &every[1], NULL}, {"--incr-every", &every[2], NULL},
        {"--keep-full", &keep, NULL},     {"--retry-after", &retry, NULL},
        {"--consolidate-every", &cons, NULL}, {"--timeout", &timeout, NULL},
    };
    int rc = catalog_parse_opts(argc, argv, 1, opts, (int)(sizeof opts / sizeof opts[0]), "agent");
    if (rc != 0) {
        return rc;
    }
    if (a->uri == NULL || a->dest == NULL || a->state == NULL) {
        return catalog_usage_error("agent", "--uri URI, --to DEST and --state DIR are required");
    }
    static const char *const defaults[N_KINDS] = {"weekly Sun 02:00", "daily 02:00", "hourly"};
    char errbuf[256];
    for (int k = 0; k < N_KINDS; k++) {
        if (sched[k] != NULL && every[k] != NULL) {
            return catalog_usage_error("agent", "give --%s or --%s-every, not both", KIND_NAME[k], KIND_NAME[k]);
        }
        char text[80];
        snprintf(text, sizeof text, "%s%s", every[k] ? "every " : "",
                 every[k] ? every[k] : sched[k] ? sched[k] : defaults[k]);
        if (catalog_sched_parse(text, &a->k[k].sched, errbuf, sizeof errbuf) != 0) {
            return catalog_usage_error("agent", "--%s: %s", KIND_NAME[k], errbuf);
        }
    }
    if (keep != NULL) {
        char *end;
        long n = strtol(keep, &end, 10);
        if (*end != '\0' || end == keep || n < 1 || n > 100000) {
            return catalog_usage_error("agent", "--keep-full must be a number >= 1, not '%s'", keep);
        }
        a->keep_full = (int)n;
    }
    a->retry_s = 300;
    a->consolidate_s = 30;
    if ((retry != NULL && (catalog_duration_parse(retry, &a->retry_s) != 0 || a->retry_s < 1)) ||
        (cons != NULL && (catalog_duration_parse(cons, &a->consolidate_s) != 0 || a->consolidate_s < 1))) {
        return catalog_usage_error("agent", "--retry-after and --consolidate-every take a duration (30s, 5m)");
    }
    a->timeout_s = 30;
    if (timeout != NULL) {
        char *end;
        long n = strtol(timeout, &end, 10);
        if (*end != '\0' || end == timeout || n < 1 || n > 86400) {
            return catalog_usage_error("agent", "--timeout must be 1..86400 seconds, not '%s'", timeout);
        }
        a->timeout_s = (int)n;
    }
    a->redis = catalog_redis_default(a->redis);
    if (a->redis != NULL && a->redis[0] != '\0' && catalog_redis_parse_check(a->redis, errbuf, sizeof errbuf) != 0) {
        return catalog_usage_error("agent", "%s", errbuf);
    }
    return 0;
}

int catalog_agent_main(int argc, char **argv)
{
    static struct agent a;
    memset(&a, 0, sizeof a);
    int rc = parse_agent(argc, argv, &a);
    if (rc != 0) {
        return rc;
    }
    const char *dirs[] = {a.state, a.dest};
    for (int i = 0; i < 2; i++) {
        if (mkdir(dirs[i], 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "tally: backup agent: cannot create %s: %s\n", dirs[i], strerror(errno));
            return 1;
        }
    }
    int lock_fd = lock_state(a.state);
    if (lock_fd < 0) {
        return 1;
    }
    sigemptyset(&a.stop_signals);
    sigaddset(&a.stop_signals, SIGTERM);
    sigaddset(&a.stop_signals, SIGINT);
    sigprocmask(SIG_BLOCK, &a.stop_signals, NULL);
    catalog_configure(a.uri, a.redis ? a.redis : "", a.spool);
    snprintf(a.activity, sizeof a.activity, "idle");
    fprintf(stderr, "tally: agent: started (pid %d): full %s, diff %s, incr %s, keep-full %d, backups in %s\n",
            (int)getpid(), a.k[0].sched.text, a.k[1].sched.text, a.k[2].sched.text, a.keep_full, a.dest);
    time_t next_consolidate = 0;
    while (!wait_stop(&a, 0)) {
        time_t now = time(NULL);
        if (now >= next_consolidate) {
            consolidate(&a);
            next_consolidate = time(NULL) + a.consolidate_s;
        }
        char errbuf[512];
        struct catalog_manifest *m;
        int n = catalog_manifests_load(a.dest, &m, errbuf, sizeof errbuf);
        if (n < 0) {
            fprintf(stderr, "tally: agent: %s\n", errbuf);
            n = 0;
            m = NULL;
        }
        now = time(NULL);
        compute_next(&a, m, n, now);
        catalog_manifests_free(m, n);
        int due = -1;
        for (int k = 0; k < N_KINDS && due < 0; k++) {
            if (a.k[k].next >= 0 && a.k[k].next <= now) {
                due = k;
            }
        }
        if (due >= 0) {
            run_backup(&a, due);
            write_status(&a);
            continue;
        }
        write_status(&a);
        time_t wake = next_consolidate;
        for (int k = 0; k < N_KINDS; k++) {
            if (a.k[k].next >= 0 && a.k[k].next < wake) {
                wake = a.k[k].next;
            }
        }
        wait_stop(&a, (long)(wake - now));
    }
    snprintf(a.activity, sizeof a.activity, "stopped");
    write_status(&a);
    fprintf(stderr, "tally: agent: stopped\n");
    close(lock_fd);
    return 0;
}
