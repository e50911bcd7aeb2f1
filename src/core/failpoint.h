/* failpoint.h - named fault points for tests (mongod's "fail points").
 *
 * A fixed registry of points, each set by the configureFailPoint command to
 * off, alwaysOn, {times: N}, {skip: N} or {activationProbability: p}, with an
 * optional data document the site reads (a delay, an error code, a host).
 * Every point is compiled into every build; the commands that set them exist
 * only with --setParameter enableTestCommands=1, so a production server never
 * arms one.
 *
 * Threads: any thread may hit any point. A site on a hot path first calls
 * failpoint_is_armed (one relaxed atomic load: the cost of a point that is
 * off), then failpoint_enter, which decides under a mutex whether this hit
 * fires (counting down times/skip) and copies the data for the caller.
 * Each point counts the hits that fired (timesEntered); configureFailPoint
 * replies with that count and waitForFailPoint waits for it to grow.
 *
 * The point list, where each sits and what its data means: docs/testing.md,
 * "Fail points". */
#ifndef TALLY_FAILPOINT_H
#define TALLY_FAILPOINT_H

#include "core/err.h"

#include <bson/bson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum failpoint_id {
    FP_DUMMY,                         /* "dummy": no site; for tests of the registry itself */
    FP_WRITER_BEFORE_COMMIT,          /* "writerBeforeCommit": writer thread, before the LMDB commit */
    FP_WRITER_AFTER_COMMIT_BEFORE_ACK, /* "writerAfterCommitBeforeAck": after the commit, before the loop hears */
    FP_WRITER_SKIP_FSYNC,             /* "writerSkipFsync": commits are not fsync'd; a snapshot keeps the last synced state */
    FP_HANG_BEFORE_PERSIST_VOTE,      /* "hangBeforePersistVote": writer thread, before term + LastVote are written */
    FP_STOP_REPL_PRODUCER,            /* "stopReplProducer": the oplog fetcher stops fetching */
    FP_RS_SYNC_APPLY_STOP,            /* "rsSyncApplyStop": the applier applies nothing */
    FP_DROP_HEARTBEATS,               /* "dropHeartbeats": incoming heartbeats (from data.host) are refused */
    FP_FAIL_COMMAND,                  /* "failCommand": mongod's, applied by the dispatcher */
    FP_CLOCK_OFFSET,                  /* "clockOffset": data.ms is added to the protocol wall clock (core/wallclock.h) */
    FP_COUNT
};

enum failpoint_mode {
    FAILPOINT_OFF,
    FAILPOINT_ALWAYS_ON,
    FAILPOINT_TIMES,       /* fires for the next n hits, then off */
    FAILPOINT_SKIP,        /* lets n hits pass, then fires every time */
    FAILPOINT_PROBABILITY, /* fires with probability p */
};

/* One armed flag per point; read through failpoint_is_armed only. */
extern atomic_bool failpoint_armed[FP_COUNT];

/* True when the point is set to anything but off. One relaxed load: call
 * failpoint_enter only when this says so. */
static inline bool failpoint_is_armed(enum failpoint_id id)
{
    return atomic_load_explicit(&failpoint_armed[id], memory_order_relaxed);
}

/* Decides whether this hit fires. When it does, counts it, and (if data_out is
 * not NULL) initialises *data_out with a copy of the point's data (an empty
 * document when none was given), owned by the caller. When it does not,
 * data_out is left untouched. */
bool failpoint_enter(enum failpoint_id id, bson_t *data_out);

/* Like failpoint_enter, but a hit counts (and consumes times/skip) only when
 * pred(data, arg) is true for the point's current data (mongod's executeIf:
 * failCommand counts only the commands it names). */
typedef bool (*failpoint_pred_cb)(const bson_t *data, void *arg);
bool failpoint_enter_if(enum failpoint_id id, failpoint_pred_cb pred, void *arg, bson_t *data_out);

/* For sites on threads that may block (writer, thread pool): when the point
 * fires, sleeps data.delayMs milliseconds if the data has that field,
 * otherwise blocks while the point stays armed (mongod's pauseWhileSet).
 * Never call it on the loop thread. Returns true when it fired. */
bool failpoint_pause(enum failpoint_id id);

/* The point's id by name (case-sensitive), or -1. */
int failpoint_find(const char *name);
const char *failpoint_name(enum failpoint_id id);

/* Parses configureFailPoint's mode (a string "off" | "alwaysOn" or a document
 * {times: N} | {skip: N} | {activationProbability: p}; BadValue otherwise)
 * and optional data (a document; TypeMismatch otherwise), then sets the point.
 * *n_entered_out gets the number of times it fired before this call. */
int failpoint_configure(enum failpoint_id id, const bson_value_t *mode, const bson_value_t *data_or_null,
                        int64_t *n_entered_out, struct err *e);
/* How many times the point has fired since the process started. */
int64_t failpoint_n_entered(enum failpoint_id id);
/* Appends {mode: <int>, data: {...}, timesEntered} for getParameter-like views. */
void failpoint_append_state(enum failpoint_id id, bson_t *out);
/* Turns every point off and clears their data (unit tests). */
void failpoint_reset_all(void);

/* Small readers for data documents: the field as an int64 (any number type),
 * or dflt when absent or not a number; the field as a string or NULL. */
int64_t failpoint_data_int64(const bson_t *data, const char *key, int64_t dflt);
const char *failpoint_data_utf8(const bson_t *data, const char *key);

#endif
