/* `tally resync --host H:P`: make one member copy a fresh snapshot of its
 * sync source (the server's {resync: 1}), for a member that fell off its
 * source's oplog (RECOVERING, tooStale). By default the tool then waits until
 * the member is SECONDARY again, printing the copy's progress; --no-wait
 * returns once the member accepted the request. Exit codes: 0 done, 1 the
 * member refused or did not come back in time, 2 bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "member.h"
#include "tally.h"

#define RESYNC_STATE_SECONDARY 2
/* OperationFailed: the member is busy (a batch or a rollback); ask again. */
#define RESYNC_BUSY_CODE 96
#define RESYNC_BUSY_RETRY_MS 30000
#define RESYNC_BUSY_SLEEP_MS 200

static int resync_usage(const char *msg)
{
    fprintf(stderr, "tally: %s\nusage: tally resync --host HOST:PORT [--no-wait] [--timeout SECS]\n", msg);
    return 2;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The member's state (-1 when unreachable) and, while copying, its bytes copied / total. */
static int member_state(const char *host, long long *copied, long long *total)
{
    char errbuf[256];
    int state = -1;
    mongoc_client_t *c = client_open_direct(host, 2000, errbuf, sizeof errbuf);
    if (c == NULL)
        return -1;
    bson_t cmd = BSON_INITIALIZER, reply;
    BSON_APPEND_INT32(&cmd, "replSetGetStatus", 1);
    *copied = *total = -1;
    if (client_run_admin(c, &cmd, &reply, errbuf, sizeof errbuf) == 0) {
        bson_iter_t it, st;
        if (bson_iter_init_find(&it, &reply, "myState") && BSON_ITER_HOLDS_NUMBER(&it))
            state = (int)bson_iter_as_int64(&it);
        if (bson_iter_init_find(&it, &reply, "initialSyncStatus") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
            bson_iter_recurse(&it, &st)) {
            while (bson_iter_next(&st)) {
                if (strcmp(bson_iter_key(&st), "approxTotalBytesCopied") == 0)
                    *copied = bson_iter_as_int64(&st);
                else if (strcmp(bson_iter_key(&st), "approxTotalDataSize") == 0)
                    *total = bson_iter_as_int64(&st);
            }
        }
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
    mongoc_client_destroy(c);
    return state;
}

static int wait_back(const char *host, int timeout_s)
{
    double deadline = now_s() + timeout_s;
    bool has_left = false;
    long long last_copied = -2;
    while (now_s() < deadline) {
        long long copied = -1, total = -1;
        int state = member_state(host, &copied, &total);
        if (state >= 0 && state != RESYNC_STATE_SECONDARY)
            has_left = true;
        if (has_left && state == RESYNC_STATE_SECONDARY) {
            printf("%s is SECONDARY again\n", host);
            return 0;
        }
        if (copied >= 0 && copied != last_copied) {
            printf("copying: %lld of ~%lld bytes\n", copied, total);
            fflush(stdout);
            last_copied = copied;
        }
        struct timespec ts = {0, 250 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "tally: %s did not become SECONDARY within %d s\n", host, timeout_s);
    return 1;
}

int resync_cli(int argc, char **argv)
{
    const char *host = NULL;
    bool is_wait = true;
    int timeout_s = 600;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            host = argv[++i];
        } else if (strncmp(argv[i], "--host=", 7) == 0) {
            host = argv[i] + 7;
        } else if (strcmp(argv[i], "--no-wait") == 0) {
            is_wait = false;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > 86400)
                return resync_usage("--timeout must be 1..86400 seconds");
            timeout_s = (int)v;
        } else {
            char msg[200];
            snprintf(msg, sizeof msg, "unknown or incomplete option '%s'", argv[i]);
            return resync_usage(msg);
        }
    }
    if (host == NULL || *host == '\0' || strlen(host) >= 64 || strchr(host, '/') != NULL)
        return resync_usage("resync needs --host HOST:PORT (the member to resync)");
    mongoc_init();
    client_quiet_logs();
    char errbuf[512];
    int rc = 1;
    mongoc_client_t *c = client_open_direct(host, 10000, errbuf, sizeof errbuf);
    if (c == NULL) {
        fprintf(stderr, "tally: %s\n", errbuf);
    } else {
        bson_t cmd = BSON_INITIALIZER, reply;
        BSON_APPEND_INT32(&cmd, "resync", 1);
        /* A member applying a batch or rolling back asks to be asked again
         * in a moment (OperationFailed, "... in progress ..."): do so, for
         * up to RESYNC_BUSY_RETRY_MS. */
        int code, waited_ms = 0;
        while ((code = client_run_admin(c, &cmd, &reply, errbuf, sizeof errbuf)) == RESYNC_BUSY_CODE &&
               strstr(errbuf, "in progress") != NULL && waited_ms < RESYNC_BUSY_RETRY_MS) {
            bson_destroy(&reply);
            member_sleep_ms(RESYNC_BUSY_SLEEP_MS);
            waited_ms += RESYNC_BUSY_SLEEP_MS;
        }
        if (code != 0) {
            fprintf(stderr, "tally: %s refused resync: %s\n", host, errbuf);
        } else {
            printf("%s: resync started\n", host);
            fflush(stdout);
            rc = 0;
        }
        bson_destroy(&reply);
        bson_destroy(&cmd);
        mongoc_client_destroy(c);
    }
    if (rc == 0 && is_wait)
        rc = wait_back(host, timeout_s);
    mongoc_cleanup();
    return rc;
}
