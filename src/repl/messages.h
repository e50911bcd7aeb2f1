/* messages.h - replication messages between members, as plain structs, and their
 * BSON form with MongoDB's field names (digest 1.1, 1.3, 3.4).
 *
 * Decoders validate every field's type and return 0 or a negative err_code with
 * e filled (ERR_TYPE_MISMATCH, ERR_NO_SUCH_KEY, ERR_BAD_VALUE); they never keep
 * pointers into the document except hb_response.config (see below). */
#ifndef TALLY_REPL_MESSAGES_H
#define TALLY_REPL_MESSAGES_H

#include "core/err.h"
#include "repl/config.h"
#include "core/optime.h"

#include <bson/bson.h>
#include <stdbool.h>
#include <stdint.h>

/* replSetHeartbeat request: {replSetHeartbeat: <set>, configVersion, configTerm,
 * hbv: 1, from, fromId, term, primaryId}. */
struct repl_hb_request {
    char set_name[REPL_SET_NAME_MAX];
    int config_version;
    int64_t config_term;
    char from[REPL_HOST_MAX];
    int from_id;
    int64_t term;
    int primary_id;             /* sender's known primary _id, -1 */
};

/* replSetHeartbeat response: {ok, set, state, term, primaryId, electionTime,
 * opTime, wallTime, durableOpTime, durableWallTime, syncingTo, electable, v,
 * configTerm, [config], $replData: {term, lastOpCommitted}}. */
struct repl_hb_response {
    bool ok;
    int code;                   /* when !ok: positive MongoDB code */
    char errmsg[256];
    char set_name[REPL_SET_NAME_MAX];
    int state;                  /* enum repl_member_state */
    int64_t term;
    int primary_id;
    uint64_t election_time;     /* Timestamp; 0 = absent */
    struct optime applied, durable;
    int64_t applied_wall_ms, durable_wall_ms;
    char syncing_to[REPL_HOST_MAX];
    int sync_source_id;
    bool electable;
    int config_version;
    int64_t config_term;
    struct optime commit_point; /* $replData.lastOpCommitted */
    bool has_config;            /* the response carried `config` (decode: see config_doc) */
};

/* replSetRequestVotes: {replSetRequestVotes: 1, setName, dryRun, term,
 * candidateIndex, configVersion, configTerm, lastAppliedOpTime}. */
struct repl_vote_request {
    char set_name[REPL_SET_NAME_MAX];
    bool dry_run;
    int64_t term;
    int candidate_index;
    int config_version;
    int64_t config_term;
    struct optime last_applied;
};

/* {ok: 1, term, voteGranted, reason}. */
struct repl_vote_response {
    int64_t term;
    bool vote_granted;
    char reason[256];
};

/* One element of replSetUpdatePosition.optimes: {appliedOpTime, appliedWallTime,
 * durableOpTime, durableWallTime, memberId, cfgver}. */
struct repl_position_entry {
    int member_id;
    int cfgver;
    struct optime applied, durable;
    int64_t applied_wall_ms, durable_wall_ms;
};

void repl_hb_request_to_bson(const struct repl_hb_request *m, bson_t *out);
int repl_hb_request_from_bson(const bson_t *doc, struct repl_hb_request *m, struct err *e);
/* config: our config when the caller is behind (appended as `config`), or NULL. */
void repl_hb_response_to_bson(const struct repl_hb_response *m, const struct repl_config *config, bson_t *out);
/* On success *config_doc (may be NULL) is a new copy of the `config` field; the
 * caller parses it with repl_config_parse(STORED) and frees it. */
int repl_hb_response_from_bson(const bson_t *doc, struct repl_hb_response *m, bson_t **config_doc, struct err *e);
void repl_vote_request_to_bson(const struct repl_vote_request *m, bson_t *out);
int repl_vote_request_from_bson(const bson_t *doc, struct repl_vote_request *m, struct err *e);
void repl_vote_response_to_bson(const struct repl_vote_response *m, bson_t *out);
int repl_vote_response_from_bson(const bson_t *doc, struct repl_vote_response *m, struct err *e);
/* {replSetUpdatePosition: 1, optimes: [...]} */
void repl_update_position_to_bson(const struct repl_position_entry *v, int n, bson_t *out);
/* Fills up to cap entries; *n receives the count. More than cap is an error. */
int repl_update_position_from_bson(const bson_t *doc, struct repl_position_entry *v, int cap, int *n, struct err *e);

#endif
