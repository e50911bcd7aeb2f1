/* fetcher_internal.h - private to fetcher.c, applier.c and rollback.c.
 *
 * The fetcher is a small state machine on the loop thread:
 *   IDLE -> FINDING -> (APPLYING <-> GETTING_MORE) -> ... ; any error -> WAITING
 *   (retry timer) -> FINDING; a diverged first batch -> ROLLING_BACK -> FINDING.
 * Only one step is in flight at a time (a request on the fetch peer, a writer
 * job, or the retry timer), so no two batches are ever applied concurrently
 * and the oplog position read at each FINDING is exact. */
#ifndef TALLY_FETCHER_INTERNAL_H
#define TALLY_FETCHER_INTERNAL_H

#include "repl/fetcher.h"
#include "core/optime.h"
#include "repl/initial_sync.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct peer;
struct server;

enum fetcher_phase {
    FETCH_IDLE,          /* no source */
    FETCH_FINDING,       /* the find on the source's oplog is in flight */
    FETCH_GETTING_MORE,  /* a getMore is in flight */
    FETCH_APPLYING,      /* a batch is in a writer job */
    FETCH_WAITING,       /* the retry timer runs */
    FETCH_ROLLING_BACK,  /* rollback.c owns the fetcher until rollback_done */
    FETCH_STALE,         /* too stale for this source: waits for another source */
    FETCH_INITIAL_SYNC,  /* initial_sync.c copies the source's snapshot */
};

struct fetcher {
    struct repl_node *node;
    struct server *srv;
    enum fetcher_phase phase;
    char source[300];           /* "" when none */
    char wanted_source[300];    /* set_source during a rollback or a writer job */
    bool has_wanted_source;
    struct peer *peer;          /* the fetch connection to source */
    struct peer *report_peer;   /* replSetUpdatePosition, never behind a long getMore */
    uint64_t generation;        /* bumped when the source changes: late replies are dropped */
    int64_t cursor_id;
    int64_t cursor_term;        /* our term when the cursor's find passed the consistency check */
    struct optime last;         /* newest entry in our oplog */
    int64_t last_wall_ms;
    struct initial_sync *isync; /* FETCH_INITIAL_SYNC: the running attempt */
    struct initial_sync_stats isync_stats;
    uv_timer_t timer;
    bool is_destroyed;
    int n_jobs;                 /* writer jobs in flight (the fetcher is freed after the last) */
    bool is_timer_closed;
    int n_failures;             /* consecutive failures, for the retry delay */
};

/* The request context every peer_send of the fetcher carries. */
struct fetch_req {
    struct fetcher *f;
    uint64_t generation;
};

/* fetcher.c */
struct fetch_req *fetcher_req_new(struct fetcher *f);
/* True (and req freed) when the reply belongs to an older source or the fetcher is gone. */
bool fetcher_req_is_stale(struct fetch_req *req);
void fetcher_schedule_retry(struct fetcher *f, const char *why);
void fetcher_maybe_free(struct fetcher *f);
/* After a batch is durable: feeds the optimes, reports, asks for more. */
void fetcher_on_applied(struct fetcher *f, int rc, const char *errmsg, struct optime last, int64_t last_wall_ms);
/* rollback.c calls it once: rc 0 resumes fetching, rc < 0 leaves the member RECOVERING. */
void fetcher_on_rollback_done(struct fetcher *f, int rc);

/* applier.c: applies docs[0..n) (taken) in one writer job. */
void applier_submit(struct fetcher *f, bson_t **docs, int n);

/* rollback.c: the first batch from the source did not start with f->last. */
void rollback_start(struct fetcher *f);

/* Timestamp of an entry's ts field (0 when absent) and its term (-1). */
struct optime fetcher_entry_optime(const bson_t *entry);

#endif
