/* write_concern.h - write concern: parse, default, satisfiability, evaluation.
 *
 * Pure (no I/O, no clock): the waiter queue calls write_concern_evaluate each
 * time a member's reported optimes or the commit point move, and builds the
 * writeConcernError document when wtimeout expires. Rules: replication digest
 * 3.7; counts come from repl/config.h. */
#ifndef TALLY_REPL_WRITE_CONCERN_H
#define TALLY_REPL_WRITE_CONCERN_H

#include "core/err.h"
#include "repl/config.h"
#include "core/optime.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

#define WRITE_CONCERN_MAX_W 50 /* w:N above this is a parse error, as in mongod */
#define WRITE_CONCERN_MODE_MAX 128

enum write_concern_w_kind {
    WRITE_CONCERN_W_NUMBER,   /* w: N (0 = unacknowledged) */
    WRITE_CONCERN_W_MAJORITY, /* w: "majority" */
    WRITE_CONCERN_W_MODE,     /* w: "<settings.getLastErrorModes key>" */
};

/* Where the write concern came from; echoed as errInfo.writeConcern.provenance. */
enum write_concern_provenance {
    WRITE_CONCERN_PROVENANCE_NONE,            /* not printed */
    WRITE_CONCERN_PROVENANCE_CLIENT_SUPPLIED, /* "clientSupplied" */
    WRITE_CONCERN_PROVENANCE_IMPLICIT_DEFAULT, /* "implicitDefault" */
    WRITE_CONCERN_PROVENANCE_CUSTOM_DEFAULT,  /* "customDefault" (setDefaultRWConcern) */
    WRITE_CONCERN_PROVENANCE_GET_LAST_ERROR_DEFAULTS, /* "getLastErrorDefaults" */
};

struct write_concern {
    bool has_w;                       /* false: w comes from the default (write_concern_apply_default) */
    enum write_concern_w_kind w_kind;
    int w;                            /* WRITE_CONCERN_W_NUMBER: 0..50 */
    char mode[WRITE_CONCERN_MODE_MAX]; /* WRITE_CONCERN_W_MODE */
    bool has_j;
    bool j;
    bool fsync;                       /* treated like j:true on a replica set */
    bool has_wtimeout;
    int64_t wtimeout_ms;              /* 0 = wait forever */
    enum write_concern_provenance provenance;
};

/* Progress of one member as the primary recorded it (replSetUpdatePosition,
 * heartbeats). Members are named by config _id; an id not in the config is
 * ignored and a member without an entry has reached nothing. */
struct write_concern_member_progress {
    int member_id;
    struct optime applied; /* lastApplied */
    struct optime durable; /* lastDurable (arbiters: null) */
};

/* Everything write_concern_evaluate looks at; all pointers borrowed. */
struct write_concern_view {
    const struct repl_config *cfg;
    int self_index;                /* the primary's index in cfg->members */
    struct optime self_applied;    /* the primary's own optimes (its entry in members, if any, is ignored) */
    struct optime self_durable;
    const struct write_concern_member_progress *members;
    int n_members;
    struct optime commit_point;    /* lastCommittedOpTime */
};

/* {w: 1}, provenance none, no timeout. */
void write_concern_init(struct write_concern *wc);
/* Parses a writeConcern document (borrowed): w (number 0..50, "majority" or a
 * mode name), j, fsync (bool or number), wtimeout (number >= 0; wtimeoutMS is
 * accepted as an alias), provenance (string). Unknown fields are ignored, as
 * mongod does. Errors: FailedToParse (9) naming the field, e.g. "w has to be
 * a non-negative number and not greater than 50; found: 51". An empty
 * document gives has_w false (use the default). Provenance becomes
 * clientSupplied unless the document names one. */
int write_concern_parse(const bson_t *doc, struct write_concern *wc, struct err *e);
/* Appends {w, [j], [fsync], wtimeout, [provenance]} (mongod's shape) to out. */
void write_concern_to_bson(const struct write_concern *wc, bson_t *out);

/* Implicit default write concern (digest 3.7): {w:1} when the set has an
 * arbiter and data-bearing voters <= majority vote count, else "majority". */
bool write_concern_implicit_default_is_majority(const struct repl_config *cfg);
/* Fills w (and provenance implicitDefault) when the client gave none; keeps
 * the client's j and wtimeout. No-op when has_w. */
void write_concern_apply_default(struct write_concern *wc, const struct repl_config *cfg);

/* Can this write concern ever be satisfied by cfg? 0, or
 * UnknownReplWriteConcern (79) "No write concern mode named 'x' found in
 * replica set configuration", or UnsatisfiableWriteConcern (100) "Not enough
 * data-bearing nodes" / "Not enough nodes match write concern mode \"x\"". */
int write_concern_check_satisfiable(const struct write_concern *wc, const struct repl_config *cfg, struct err *e);

/* Decides whether the write at target satisfies wc given view. Sets
 * *is_satisfied; returns 0, or the errors of write_concern_check_satisfiable.
 * w:N counts data-bearing members whose applied optime (durable when j or
 * fsync) has target's term and a timestamp >= target's; the primary must be one
 * of them. "majority" needs write_majority voting data-bearing members (durable
 * unless j:false or writeConcernMajorityJournalDefault is false) and commit
 * point >= target. A mode needs, per tag, that many distinct values among the
 * members that reached target. w:0 is always satisfied. */
int write_concern_evaluate(const struct write_concern *wc, const struct write_concern_view *view, struct optime target,
                           bool *is_satisfied, struct err *e);

/* Appends writeConcernError: {code: 64, codeName: "WriteConcernFailed",
 * errmsg: "waiting for replication timed out", errInfo: {wtimeout: true,
 * writeConcern: {...}}} to reply (the command reply, which keeps ok: 1). */
void write_concern_append_timeout_error(const struct write_concern *wc, bson_t *reply);

#endif
